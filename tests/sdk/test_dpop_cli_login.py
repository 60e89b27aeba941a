"""`proofkey login|token|logout` with DPoP, against node-oidc-provider (which advertises it):
DPoP by default, the key in a 0600 file beside the token file, reused by `proofkey token` to
refresh, forgotten by `logout`; `--no-dpop` gets Bearer tokens; `proofkey token` says the type.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proofkey.sdk.dpop import read_key
from proofkey.sdk.tokencache import TokenCache
from tests.interop.conftest import (
    NodeOidcProvider,
    ensure_node_packages,
    running_node_oidc_provider,
    sign_in_at_node_oidc_provider,
)
from tests.process.conftest import PROOFKEY

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def node_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    node = ensure_node_packages()
    with running_node_oidc_provider(node, tmp_path_factory.mktemp("node-cli")) as provider:
        yield provider


def env(config_home: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
    values["XDG_CONFIG_HOME"] = str(config_home)
    return values


def cli(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROOFKEY, *args], env=env(config_home), capture_output=True,
                          text=True, timeout=60, check=False)


def login(provider: NodeOidcProvider, config_home: Path, *extra: str) -> str:
    """Run `proofkey login`, play the person at node-oidc-provider; return its stderr."""
    process = subprocess.Popen(
        [PROOFKEY, "login", "--issuer", provider.issuer, "--client-id", provider.client_id,
         "--no-browser", *extra],
        env=env(config_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http"), url
        callback = sign_in_at_node_oidc_provider(url)
        assert callback.startswith("http://127.0.0.1:"), callback
        with httpx.Client(timeout=10) as browser:
            assert browser.get(callback).status_code == 200
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    return err


def entry(config_home: Path, provider: NodeOidcProvider) -> dict[str, Any]:
    data = json.loads((config_home / "proofkey" / "tokens.json").read_text())
    found: dict[str, Any] = data[f"{provider.issuer} {provider.client_id}"]
    return found


def key_files(config_home: Path) -> list[Path]:
    return sorted((config_home / "proofkey").glob("dpop-*.jwk"))


def introspect(provider: NodeOidcProvider, token: str) -> dict[str, Any]:
    response = httpx.post(f"{provider.issuer}/token/introspection",
                          data={"token": token, "client_id": provider.client_id}, timeout=10)
    body: dict[str, Any] = response.json()
    return body


def test_login_binds_the_tokens_to_a_key_kept_beside_the_token_file(
        node_provider: NodeOidcProvider, tmp_path: Path) -> None:
    err = login(node_provider, tmp_path)
    assert "DPoP-bound" in err
    [key_path] = key_files(tmp_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = read_key(key_path)
    assert key is not None
    stored = entry(tmp_path, node_provider)
    assert stored["token_type"] == "DPoP"
    assert stored["dpop_jkt"] == key.thumbprint
    assert introspect(node_provider, stored["access_token"])["cnf"] == {"jkt": key.thumbprint}

    printed = cli(tmp_path, "token")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == stored["access_token"]
    assert "DPoP" in printed.stderr
    assert str(key_path) in printed.stderr
    shown = json.loads(cli(tmp_path, "token", "--json").stdout)
    assert shown["token_type"] == "DPoP"
    assert shown["dpop_jkt"] == key.thumbprint
    assert shown["dpop_key_file"] == str(key_path)

    # The token works with a proof from the stored key, not as Bearer.
    userinfo = f"{node_provider.issuer}/me"
    token = stored["access_token"]
    with httpx.Client(timeout=10) as http:
        assert http.get(userinfo, headers={"Authorization": f"Bearer {token}"}
                        ).status_code in (400, 401)
        proof = key.proof("GET", userinfo, access_token=token)
        answer = http.get(userinfo, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert answer.status_code == 200, answer.headers
    assert answer.json()["sub"] == node_provider.sub

    # An expired access token is refreshed with the same key by `proofkey token`.
    tokens_file = tmp_path / "proofkey" / "tokens.json"
    data = json.loads(tokens_file.read_text())
    data[f"{node_provider.issuer} {node_provider.client_id}"]["expires_at"] = 1
    tokens_file.write_text(json.dumps(data))
    refreshed = cli(tmp_path, "token")
    assert refreshed.returncode == 0, refreshed.stderr
    new_token = refreshed.stdout.strip()
    assert new_token != token
    assert introspect(node_provider, new_token)["cnf"] == {"jkt": key.thumbprint}
    assert entry(tmp_path, node_provider)["dpop_jkt"] == key.thumbprint

    # A second login reuses the key file.
    login(node_provider, tmp_path)
    assert key_files(tmp_path) == [key_path]
    assert entry(tmp_path, node_provider)["dpop_jkt"] == key.thumbprint

    out = cli(tmp_path, "logout")
    assert out.returncode == 0, out.stderr
    assert key_files(tmp_path) == []


def test_no_dpop_gets_bearer_tokens_and_no_key(node_provider: NodeOidcProvider,
                                               tmp_path: Path) -> None:
    err = login(node_provider, tmp_path, "--no-dpop")
    assert "DPoP" not in err
    assert key_files(tmp_path) == []
    stored = entry(tmp_path, node_provider)
    assert stored["token_type"] == "Bearer"
    assert stored["dpop_jkt"] is None
    assert "cnf" not in introspect(node_provider, stored["access_token"])
    printed = cli(tmp_path, "token")
    assert printed.returncode == 0, printed.stderr
    assert "DPoP" not in printed.stderr
    assert json.loads(cli(tmp_path, "token", "--json").stdout)["token_type"] == "Bearer"
    # Refreshing a Bearer login stays Bearer (the opt-out holds for later runs).
    tokens_file = tmp_path / "proofkey" / "tokens.json"
    data = json.loads(tokens_file.read_text())
    data[f"{node_provider.issuer} {node_provider.client_id}"]["expires_at"] = 1
    tokens_file.write_text(json.dumps(data))
    assert cli(tmp_path, "token").returncode == 0
    assert entry(tmp_path, node_provider)["token_type"] == "Bearer"
    assert key_files(tmp_path) == []


def test_a_key_file_that_cannot_be_written_stops_the_login_with_a_hint(
        node_provider: NodeOidcProvider, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "proofkey" / "tokens.json")
    cache.dpop_key_path(node_provider.issuer, node_provider.client_id).mkdir(parents=True)
    failed = cli(tmp_path, "login", "--issuer", node_provider.issuer, "--client-id",
                 node_provider.client_id, "--no-browser", "--timeout", "5")
    assert failed.returncode == 1
    assert "cannot keep the DPoP key" in failed.stderr
    assert "--no-dpop" in failed.stderr
    assert failed.stdout == ""  # no sign-in was started
    assert not cache.path.exists()
