"""FAPI 2.0 (no mTLS) end to end with openid-client v6: PAR + PKCE S256 + DPoP + private_key_jwt,
and ``proofkey check --profile fapi2``, against node-oidc-provider configured for FAPI 2.0 (the
known-good peer, so the relying party script is proven) and against ``proofkey serve`` with a
fapi2 client.

The proofkey tests (``*_proofkey``) need the DPoP (token endpoint, userinfo) and private_key_jwt
work merged: until then the client cannot authenticate at /par and they fail there.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from proofkey.flows.admin import register_user
from proofkey.store.base import Store
from tests.interop.conftest import (
    PASSWORD,
    USERNAME,
    NodeOidcProvider,
    run_node_script,
    sign_in_at_node_oidc_provider,
    sign_in_at_proofkey,
    start_node_oidc_provider,
)
from tests.process.conftest import (
    PROOFKEY,
    ServerProcess,
    clean_env,
    run_cli,
    running_server,
    with_store,
)

pytestmark = pytest.mark.interop

DRIVER = "fapi2_openid_client_driver.mjs"
CLIENT_ID = "fapi2-client"
REDIRECT = "https://rp.example.com/cb"
SCOPE = "openid profile offline_access"


@dataclass(frozen=True)
class ClientKey:
    private: dict[str, Any]
    public_jwks: dict[str, Any]


def new_client_key() -> ClientKey:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi2-rp-1", "alg": "ES256",
                                                  "use": "sig"})
    return ClientKey(dict(key.as_dict(private=True)),
                     {"keys": [dict(key.as_dict(private=False))]})


@pytest.fixture(scope="module")
def client_key() -> ClientKey:
    return new_client_key()


@pytest.fixture(scope="module")
def fapi2_node(node_runtime: str, client_key: ClientKey,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    provider = start_node_oidc_provider(
        node_runtime, tmp_path_factory.mktemp("fapi2-node"),
        extra_args=["--fapi2", "--fapi2-client-id", CLIENT_ID, "--fapi2-client-jwks",
                    json.dumps(client_key.public_jwks), "--fapi2-redirect-uri", REDIRECT])
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def plain_node(node_runtime: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    provider = start_node_oidc_provider(node_runtime, tmp_path_factory.mktemp("plain-node"))
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def fapi2_proofkey(client_key: ClientKey,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``proofkey serve`` with a fapi2 client registered the way an operator does it:
    ``proofkey client add --confidential --profile fapi2 --jwks FILE`` (``--jwks`` comes with
    the private_key_jwt work)."""
    root = tmp_path_factory.mktemp("fapi2-proofkey")
    data_dir = root / "data"
    data_dir.mkdir()
    jwks = root / "client-jwks.json"
    jwks.write_text(json.dumps(client_key.public_jwks))
    added = run_cli(["client", "add", CLIENT_ID, "--confidential", "--redirect-uri", REDIRECT,
                     "--scope", SCOPE, "--profile", "fapi2", "--jwks", str(jwks)],
                    clean_env(data_dir))
    assert added.returncode == 0, added.stderr

    async def work(store: Store) -> None:
        await register_user(store, USERNAME, PASSWORD, now=int(time.time()))

    with_store(data_dir, work)
    with running_server(data_dir) as server:
        yield server


def _client_input(issuer: str, key: ClientKey, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": SCOPE,
            "client_jwk": key.private, **extra}


def _login_with_openid_client(node: str, issuer: str, key: ClientKey,
                              sign_in: Any) -> dict[str, Any]:
    started = run_node_script(node, DRIVER, ["start"], _client_input(issuer, key))
    assert "error" not in started, started
    query = dict(p.split("=", 1) for p in started["url"].split("?", 1)[1].split("&"))
    assert set(query) == {"client_id", "request_uri"}, query  # FAPI 2.0 SP §5.3.3.2
    callback = sign_in(started["url"])
    assert callback.startswith(REDIRECT), callback
    session = {k: started[k] for k in ("state", "nonce", "code_verifier", "dpop_jwk")}
    return run_node_script(node, DRIVER, ["finish"],
                           _client_input(issuer, key, callback=callback, **session))


def _assert_fapi2_login(finished: dict[str, Any]) -> None:
    assert finished["ok"] is True, finished
    steps = finished["steps"]
    assert steps["code"]["token_type"].lower() == "dpop"
    assert steps["refresh"]["token_type"].lower() == "dpop"
    assert steps["userinfo"]["sub"] == steps["userinfo_after_refresh"]["sub"]
    assert steps["other_key"]["refused"] is True, steps["other_key"]


def _check(issuer: str, client_id: str, redirect_uri: str, tmp_path: Path) -> tuple[
        int, dict[str, str], str]:
    report = tmp_path / f"fapi2-{time.time_ns()}.json"
    run = subprocess.run([PROOFKEY, "check", "--profile", "fapi2", "--issuer", issuer,
                          "--client-id", client_id, "--redirect-uri", redirect_uri,
                          "--format", "json", "--output", str(report)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert report.exists(), run.stderr
    checks = json.loads(report.read_text())["checks"]
    return run.returncode, {c["id"]: c["result"] for c in checks}, run.stdout


# -- node-oidc-provider (known good) -----------------------------------------------------------


def test_openid_client_does_par_pkce_dpop_and_private_key_jwt_at_node_oidc_provider(
        node_runtime: str, fapi2_node: NodeOidcProvider, client_key: ClientKey) -> None:
    finished = _login_with_openid_client(node_runtime, fapi2_node.issuer, client_key,
                                         sign_in_at_node_oidc_provider)
    _assert_fapi2_login(finished)


def test_check_passes_node_oidc_provider_configured_for_fapi2(
        fapi2_node: NodeOidcProvider, tmp_path: Path, artifacts: Path) -> None:
    code, results, table = _check(fapi2_node.issuer, CLIENT_ID, REDIRECT, tmp_path)
    (artifacts / "check-fapi2-node-oidc-provider.txt").write_text(table)
    assert results == dict.fromkeys(results, "pass"), results
    assert code == 0


def test_check_fails_node_oidc_provider_without_fapi2(
        plain_node: NodeOidcProvider, tmp_path: Path) -> None:
    code, results, _ = _check(plain_node.issuer, plain_node.client_id,
                              "http://127.0.0.1/callback", tmp_path)
    assert code == 1
    # DPoP and client_secret_jwt are on, with RS256 and HS256: FAPI 2.0 allows neither (§5.4.1)
    assert results["fapi2.dpop_algs"] == "warn"
    assert results["fapi2.private_key_jwt"] == "warn"
    assert results["fapi2.authorize_without_par"] == "fail"  # a login page, not an error
    assert results["fapi2.par_without_client_auth"] == "fail"  # a public client pushes
    assert results["fapi2.par_required"] == "warn"


# -- proofkey (needs the DPoP and private_key_jwt work) -----------------------------------------


def test_openid_client_does_par_pkce_dpop_and_private_key_jwt_at_proofkey(
        node_runtime: str, fapi2_proofkey: ServerProcess, client_key: ClientKey) -> None:
    base = fapi2_proofkey.base_url
    finished = _login_with_openid_client(
        node_runtime, base, client_key, lambda url: sign_in_at_proofkey(base, url))
    _assert_fapi2_login(finished)


def test_check_passes_proofkey_with_a_fapi2_client(
        fapi2_proofkey: ServerProcess, tmp_path: Path, artifacts: Path) -> None:
    code, results, table = _check(fapi2_proofkey.base_url, CLIENT_ID, REDIRECT, tmp_path)
    (artifacts / "check-fapi2-proofkey.txt").write_text(table)
    assert results.pop("fapi2.par_required") == "warn"  # proofkey requires PAR per client
    # The server-wide algorithm lists also name RS256, ES384 ... for the other clients.
    for check_id in ("fapi2.dpop_algs", "fapi2.private_key_jwt"):
        assert results.pop(check_id) in ("pass", "warn"), check_id
    assert results == dict.fromkeys(results, "pass"), results
    assert code == 0
