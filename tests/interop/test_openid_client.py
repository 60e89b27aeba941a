"""openid-client v6 (npm), the OpenID Foundation-certified relying party for Node, against
``proofkey serve``.

``node/openid_client_driver.mjs`` is the relying party: ``start`` does discovery, PKCE (S256),
state and nonce and builds the authorization URL; ``finish`` takes the callback URL and runs
``authorizationCodeGrant`` (state, RFC 9207 ``iss``, code exchange with the verifier, id_token
claims and signature), ``fetchUserInfo``, ``refreshTokenGrant`` and reuses the spent refresh
token. The PKCE verifier, state and nonce travel between the two commands the way a web app
keeps them in its session. A plain httpx client with cookies plays the browser in between.
The last test runs the same relying party against node-oidc-provider, as a control for the
SDK's tests against that peer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.interop.conftest import (
    OPENID_CLIENT_ID,
    OPENID_CLIENT_REDIRECT,
    USERNAME,
    ProofkeyProvider,
    run_node_script,
    running_node_oidc_provider,
    sign_in_at_node_oidc_provider,
    sign_in_at_proofkey,
)

pytestmark = pytest.mark.interop

DRIVER = "openid_client_driver.mjs"
SCOPE = "openid profile email"


def client_input(provider: ProofkeyProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": provider.issuer, "client_id": OPENID_CLIENT_ID,
            "redirect_uri": OPENID_CLIENT_REDIRECT, "scope": SCOPE, **extra}


def start(node: str, provider: ProofkeyProvider, **extra: str) -> dict[str, Any]:
    return run_node_script(node, DRIVER, ["start"], client_input(provider, extra=extra))


def finish(node: str, provider: ProofkeyProvider, started: dict[str, Any], callback: str,
           **override: str) -> dict[str, Any]:
    session = {k: started[k] for k in ("state", "nonce", "code_verifier")}
    session.update(override)
    return run_node_script(node, DRIVER, ["finish"],
                           client_input(provider, callback=callback, **session))


def with_params(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (``None`` removes one)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: v for k, v in changes.items() if v is not None})
    for name in [k for k, v in changes.items() if v is None]:
        query.pop(name, None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_openid_client_discovers_proofkey_and_builds_a_pkce_s256_request(
        node_runtime: str, proofkey_provider: ProofkeyProvider) -> None:
    started = start(node_runtime, proofkey_provider)
    metadata = started["metadata"]
    assert metadata["issuer"] == proofkey_provider.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    url = urlsplit(started["url"])
    query = dict(parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == metadata["authorization_endpoint"]
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == started["code_challenge"] != started["code_verifier"]
    assert query["state"] == started["state"]
    assert query["nonce"] == started["nonce"]
    assert query["client_id"] == OPENID_CLIENT_ID
    assert "code_verifier" not in query


def test_openid_client_runs_the_code_flow_with_pkce_refresh_and_userinfo(
        node_runtime: str, proofkey_provider: ProofkeyProvider) -> None:
    started = start(node_runtime, proofkey_provider)
    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, started["url"])
    assert callback.startswith(OPENID_CLIENT_REDIRECT + "?")

    result = finish(node_runtime, proofkey_provider, started, callback)

    assert result["ok"] is True, result
    steps = result["steps"]
    code, refreshed = steps["code"], steps["refresh"]
    claims = code["claims"]  # validated by openid-client, signature included
    assert claims["iss"] == proofkey_provider.issuer
    assert claims["aud"] == OPENID_CLIENT_ID
    assert claims["nonce"] == started["nonce"]
    assert code["token_type"].lower() == "bearer"
    assert code["expires_in"] > 0
    assert code["refresh_token"]
    assert steps["userinfo"]["sub"] == claims["sub"]
    assert steps["userinfo"]["preferred_username"] == USERNAME
    assert refreshed["access_token"] != code["access_token"]
    assert refreshed["refresh_token"] not in (None, code["refresh_token"]), "refresh rotates"
    assert steps["userinfo_after_refresh"]["sub"] == claims["sub"]
    reused = steps["reused_refresh_token"]
    assert reused["refused"] is True
    assert (reused["name"], reused["error"]) == ("ResponseBodyError", "invalid_grant")


def test_openid_client_with_a_tampered_verifier_gets_invalid_grant_and_the_code_is_spent(
        node_runtime: str, proofkey_provider: ProofkeyProvider) -> None:
    started = start(node_runtime, proofkey_provider)
    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, started["url"])
    verifier = started["code_verifier"]
    tampered = ("A" if verifier[0] != "A" else "B") + verifier[1:]

    result = finish(node_runtime, proofkey_provider, started, callback, code_verifier=tampered)

    assert result["ok"] is False
    assert result["error"]["name"] == "ResponseBodyError"
    assert (result["error"]["status"], result["error"]["error"]) == (400, "invalid_grant")
    # Consume-then-verify: the one attempt is gone, the right verifier comes too late.
    again = finish(node_runtime, proofkey_provider, started, callback)
    assert again["ok"] is False
    assert again["error"]["error"] == "invalid_grant"


@pytest.mark.parametrize(("change", "expected"), [
    ({"state": "not-the-state"}, 'unexpected "state"'),
    ({"iss": "https://attacker.example"}, 'unexpected "iss"'),  # RFC 9207 mix-up defence
    ({"iss": None}, '"iss" (issuer) missing'),
])
def test_openid_client_refuses_a_callback_whose_state_or_iss_is_wrong_before_redeeming(
        node_runtime: str, proofkey_provider: ProofkeyProvider,
        change: dict[str, str | None], expected: str) -> None:
    started = start(node_runtime, proofkey_provider)
    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, started["url"])

    refused = finish(node_runtime, proofkey_provider, started, with_params(callback, **change))

    assert refused["ok"] is False
    assert refused["error"]["code"] == "OAUTH_INVALID_RESPONSE"
    assert expected in refused["error"]["cause"]["message"], refused
    # The checks ran in the client: the code was never sent, so it still works.
    assert finish(node_runtime, proofkey_provider, started, callback)["ok"] is True


def test_a_denied_consent_reaches_openid_client_as_access_denied(
        node_runtime: str, proofkey_provider: ProofkeyProvider) -> None:
    # An earlier test's consent is remembered: ask for the consent page again.
    started = start(node_runtime, proofkey_provider, prompt="consent")
    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, started["url"],
                                   decision="deny")

    result = finish(node_runtime, proofkey_provider, started, callback)

    assert result["ok"] is False
    assert result["error"]["name"] == "AuthorizationResponseError"
    assert result["error"]["error"] == "access_denied"


@pytest.mark.parametrize("trailing_slash", [False, True], ids=["issuer", "issuer-ending-in-slash"])
def test_openid_client_completes_the_flow_at_node_oidc_provider_too(
        node_runtime: str, tmp_path: Path, trailing_slash: bool) -> None:
    """A control for tests/sdk/test_sdk_against_node_oidc_provider.py: a certified relying
    party accepts the peer exactly as configured there, so a failure of proofkey's SDK against
    it is the SDK's (an issuer ending in "/" included)."""
    with running_node_oidc_provider(node_runtime, tmp_path,
                                    trailing_slash=trailing_slash) as peer:
        config = {"issuer": peer.issuer, "client_id": peer.client_id,
                  "redirect_uri": "http://127.0.0.1:49400/callback", "scope": SCOPE}
        started = run_node_script(node_runtime, DRIVER, ["start"], config)
        callback = sign_in_at_node_oidc_provider(started["url"])
        session = {k: started[k] for k in ("state", "nonce", "code_verifier")}
        result = run_node_script(node_runtime, DRIVER, ["finish"],
                                 {**config, "callback": callback, **session})

    assert result["ok"] is True, result
    steps = result["steps"]
    assert steps["code"]["claims"]["iss"] == peer.issuer
    assert steps["userinfo"]["sub"] == peer.sub
    assert steps["refresh"]["refresh_token"] != steps["code"]["refresh_token"]
    assert steps["reused_refresh_token"]["error"] == "invalid_grant"
