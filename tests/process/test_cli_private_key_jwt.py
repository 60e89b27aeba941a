"""``proofkey client add ID --confidential --jwks FILE`` (or ``--jwks-uri URL``) registers a
private_key_jwt client under the key policy (PKL060-PKL066), ``client set --jwks`` rotates its
keys, and a running ``proofkey serve`` authenticates it by its signed assertions."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.pkjwt import assertion, auth_form, es_key, jwks_of
from tests.process.conftest import clean_env, run_cli, running_server
from tests.process.test_cli import get_client, ok

KEY, NEXT = es_key("cli-1"), es_key("cli-2")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def key_file(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def add(env: dict[str, str], client_id: str, *options: str) -> list[str]:
    return ["client", "add", client_id, "--confidential", "--grant-type", "client_credentials",
            *options]


def test_a_client_with_a_jwks_file_gets_private_key_jwt_and_no_secret(
        env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    added = json.loads(ok(run_cli(add(env, "robot", "--jwks", key_file(
        tmp_path, "jwks.json", jwks_of(KEY)), "--json"), env)).stdout)
    assert added["token_endpoint_auth_method"] == "private_key_jwt"
    assert added["jwks"] == jwks_of(KEY)
    assert "client_secret" not in added
    stored = get_client(data_dir, "robot")
    assert stored is not None
    assert stored.secret_digest is None
    assert json.loads(stored.jwks) == jwks_of(KEY)


def test_a_single_jwk_file_is_taken_as_a_set_of_one(env: dict[str, str], data_dir: Path,
                                                    tmp_path: Path) -> None:
    ok(run_cli(add(env, "robot", "--jwks", key_file(
        tmp_path, "key.json", KEY.as_dict(private=False))), env))
    stored = get_client(data_dir, "robot")
    assert stored is not None
    assert json.loads(stored.jwks) == jwks_of(KEY)


@pytest.mark.parametrize(("options", "rule"), [
    (["--jwks-uri", "http://robot.example.com/jwks"], "PKL063"),
    (["--jwks-uri", "https://robot.example.com/jwks", "--jwks", "KEYS"], "PKL060"),
    (["--jwks", "PRIVATE"], "PKL061"),
    (["--auth-method", "private_key_jwt"], "PKL064"),
    (["--jwks", "KEYS", "--auth-signing-alg", "HS256"], "PKL065"),
])
def test_the_key_policy_refuses_and_names_its_rule(env: dict[str, str], data_dir: Path,
                                                   tmp_path: Path, options: list[str],
                                                   rule: str) -> None:
    files = {"KEYS": key_file(tmp_path, "jwks.json", jwks_of(KEY)),
             "PRIVATE": key_file(tmp_path, "private.json", {"keys": [KEY.as_dict(private=True)]})}
    result = run_cli(add(env, "robot", *[files.get(o, o) for o in options]), env)
    assert result.returncode != 0
    assert f"[{rule}]" in result.stderr + result.stdout
    assert KEY.as_dict(private=True)["d"] not in result.stderr + result.stdout
    assert get_client(data_dir, "robot") is None


def test_client_set_rotates_the_keys_under_the_same_policy(
        env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    ok(run_cli(add(env, "robot", "--jwks", key_file(tmp_path, "a.json", jwks_of(KEY))), env))
    refused = run_cli(["client", "set", "robot", "--jwks-uri", "http://robot.example/jwks"], env)
    assert refused.returncode != 0
    assert "[PKL063]" in refused.stderr + refused.stdout
    ok(run_cli(["client", "set", "robot", "--jwks",
                key_file(tmp_path, "b.json", jwks_of(KEY, NEXT))], env))
    stored = get_client(data_dir, "robot")
    assert stored is not None
    assert json.loads(stored.jwks) == jwks_of(KEY, NEXT)
    uri = "https://robot.example.com/jwks"
    ok(run_cli(["client", "set", "robot", "--jwks-uri", uri], env))
    stored = get_client(data_dir, "robot")
    assert stored is not None
    assert (stored.jwks, stored.jwks_uri) == ("", uri)


def test_a_running_server_authenticates_the_client_by_its_assertions(
        env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    ok(run_cli(add(env, "robot", "--jwks", key_file(tmp_path, "jwks.json", jwks_of(KEY))),
               env))
    with running_server(data_dir) as server:
        issuer = server.base_url
        signed = assertion(KEY, "robot", aud=issuer)
        form = {"grant_type": "client_credentials", **auth_form(signed)}
        first = httpx.post(f"{issuer}/token", data=form, timeout=10)
        assert first.status_code == 200, first.text
        replayed = httpx.post(f"{issuer}/token", data=form, timeout=10)
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "invalid_client"
