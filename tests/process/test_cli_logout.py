"""``proofkey client add|set --post-logout-redirect-uri URI --revoke-on-logout``: the logout
fields of a client from the CLI, under the same redirect rules as redirect URIs (PKL01x)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.process.conftest import clean_env, run_cli
from tests.process.test_cli import get_client, ok

REDIRECT, BYE = "https://rp.example/cb", "https://rp.example/bye"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_add_registers_post_logout_uris_and_the_revocation_choice(
        env: dict[str, str], data_dir: Path) -> None:
    added = json.loads(ok(run_cli([
        "client", "add", "rp", "--redirect-uri", REDIRECT, "--post-logout-redirect-uri", BYE,
        "--post-logout-redirect-uri", "http://127.0.0.1/bye", "--revoke-on-logout", "--json"],
        env)).stdout)
    assert added["post_logout_redirect_uris"] == [BYE, "http://127.0.0.1/bye"]
    assert added["revoke_on_logout"] is True
    stored = get_client(data_dir, "rp")
    assert stored is not None
    assert (stored.post_logout_redirect_uris, stored.revoke_on_logout) == (
        (BYE, "http://127.0.0.1/bye"), True)
    refused = run_cli(["client", "add", "bad", "--redirect-uri", REDIRECT,
                       "--post-logout-redirect-uri", "http://rp.example/bye"], env)
    assert refused.returncode == 1
    assert "PKL012" in refused.stderr
    assert "post-logout" in refused.stderr
    assert get_client(data_dir, "bad") is None


def test_set_changes_the_logout_fields_and_nothing_else(env: dict[str, str],
                                                        data_dir: Path) -> None:
    ok(run_cli(["client", "add", "rp", "--confidential", "--redirect-uri", REDIRECT], env))
    before = get_client(data_dir, "rp")
    assert before is not None
    out = ok(run_cli(["client", "set", "rp", "--post-logout-redirect-uri", BYE,
                      "--revoke-on-logout"], env)).stdout
    assert "revoke_on_logout=true" in out
    assert get_client(data_dir, "rp") == replace(before, post_logout_redirect_uris=(BYE,),
                                                 revoke_on_logout=True, version=1)
    bad = run_cli(["client", "set", "rp", "--post-logout-redirect-uri", "https://*.x/y"], env)
    assert bad.returncode == 1
    assert "PKL010" in bad.stderr
    ok(run_cli(["client", "set", "rp", "--post-logout-redirect-uri", "", "--keep-on-logout"],
               env))
    assert get_client(data_dir, "rp") == replace(before, version=2)  # a refusal writes nothing
