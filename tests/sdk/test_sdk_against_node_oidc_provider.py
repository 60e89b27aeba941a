"""The SDK against another provider: node-oidc-provider 9 (npm), started on loopback.

The SDK must work with any standards-compliant provider, not only proofkey. node-oidc-provider
is configured the way a deployment would be (``tests/interop/node/oidc_provider_server.mjs``):
a public native client whose registered ``http://127.0.0.1/callback`` matches any port
(RFC 8252 §7.3), PKCE required, PAR advertised, ``iss`` in every authorization response
(RFC 9207), rotating refresh tokens, revocation. Its login and consent pages are driven over
HTTP; the SDK's own ``LoopbackReceiver`` receives the redirect on an ephemeral port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from proofkey.sdk import (
    AsyncOAuthClient,
    AuthorizationRequest,
    CallbackError,
    OAuthClient,
    OAuthClientError,
)
from proofkey.sdk.loopback import LoopbackReceiver
from tests.interop.conftest import (
    NodeOidcProvider,
    ensure_node_packages,
    running_node_oidc_provider,
    sign_in_at_node_oidc_provider,
)

pytestmark = pytest.mark.interop

SCOPE = "openid profile email offline_access"


@pytest.fixture(scope="module")
def node_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    node = ensure_node_packages()
    with running_node_oidc_provider(node, tmp_path_factory.mktemp("node-oidc")) as provider:
        yield provider


def sdk_client(provider: NodeOidcProvider, redirect_uri: str, *,
               use_par: bool = True) -> OAuthClient:
    return OAuthClient(provider.issuer, provider.client_id, redirect_uri, scope=SCOPE,
                       use_par=use_par)


def browse_to_callback(authorization_url: str, *, decision: str = "allow") -> str:
    """Sign in at node-oidc-provider and stop at the redirect back to the client."""
    return sign_in_at_node_oidc_provider(authorization_url, decision=decision)


def deliver(callback: str, receiver: LoopbackReceiver) -> str:
    """Let the browser follow the redirect to the loopback receiver; return what it got."""
    assert callback.startswith(receiver.redirect_uri + "?"), callback
    with httpx.Client(timeout=10) as browser:
        assert browser.get(callback).status_code == 200
    return receiver.wait(10)


def with_params(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: v for k, v in changes.items() if v is not None})
    for name in [k for k, v in changes.items() if v is None]:
        query.pop(name, None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_discovery_reads_node_oidc_provider_metadata(node_provider: NodeOidcProvider) -> None:
    with sdk_client(node_provider, "http://127.0.0.1:1/callback") as client:
        metadata = client.discover()
    assert metadata.issuer == node_provider.issuer
    assert metadata.code_challenge_methods == ("S256",)
    assert metadata.iss_parameter_supported is True
    assert metadata.pushed_authorization_request_endpoint == f"{node_provider.issuer}/request"
    assert metadata.revocation_endpoint == f"{node_provider.issuer}/token/revocation"
    assert metadata.userinfo_endpoint == f"{node_provider.issuer}/me"
    assert metadata.jwks_uri == f"{node_provider.issuer}/jwks"


@pytest.mark.parametrize("use_par", [True, False], ids=["par", "query"])
def test_the_sdk_signs_in_refreshes_reads_userinfo_and_revokes_at_node_oidc_provider(
        node_provider: NodeOidcProvider, use_par: bool) -> None:
    with LoopbackReceiver() as receiver, \
            sdk_client(node_provider, receiver.redirect_uri, use_par=use_par) as client:
        # prompt=consent makes node-oidc-provider grant offline_access; with PAR it has to
        # travel in the pushed request like every other parameter.
        request = client.authorization_request(prompt="consent")
        query = dict(parse_qsl(urlsplit(request.url).query))
        if use_par:
            assert set(query) == {"client_id", "request_uri"}
            assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        else:
            assert query["code_challenge_method"] == "S256"
            assert query["redirect_uri"] == receiver.redirect_uri
        callback = deliver(browse_to_callback(request.url), receiver)
        assert dict(parse_qsl(urlsplit(callback).query))["iss"] == node_provider.issuer

        tokens = client.complete(callback, request)  # state, iss, PKCE, id_token + JWKS

        assert tokens.id_claims is not None
        assert tokens.id_claims["sub"] == node_provider.sub
        assert tokens.id_claims["iss"] == node_provider.issuer
        assert tokens.id_claims["aud"] == node_provider.client_id
        assert tokens.id_claims["nonce"] == request.nonce
        assert set((tokens.scope or "").split()) == set(SCOPE.split())
        assert tokens.refresh_token is not None
        info = client.userinfo(tokens.access_token)
        assert info["sub"] == node_provider.sub
        assert info["preferred_username"] == node_provider.username
        assert info["email"] == f"{node_provider.username}@example.com"

        rotated = client.refresh(tokens.refresh_token)
        assert rotated.access_token != tokens.access_token
        assert rotated.refresh_token not in (None, tokens.refresh_token), "rotation"
        assert client.userinfo(rotated.access_token)["sub"] == node_provider.sub

        client.revoke(rotated.access_token, "access_token")
        with pytest.raises(OAuthClientError) as refused:
            client.userinfo(rotated.access_token)
        assert refused.value.status == 401
        client.revoke(rotated.refresh_token or "", "refresh_token")
        with pytest.raises(OAuthClientError) as refused:
            client.refresh(rotated.refresh_token or "")
        assert refused.value.error == "invalid_grant"


def test_a_refresh_can_narrow_the_scope(node_provider: NodeOidcProvider) -> None:
    with sdk_client(node_provider, "http://127.0.0.1:49320/callback") as client:
        request = client.authorization_request(prompt="consent")
        tokens = client.complete(browse_to_callback(request.url), request)
        narrowed = client.refresh(tokens.refresh_token or "", scope="openid email")
        assert narrowed.scope == "openid email"
        info = client.userinfo(narrowed.access_token)
    assert info["email"] == f"{node_provider.username}@example.com"
    assert "preferred_username" not in info  # profile was left out


async def test_the_async_client_completes_the_same_flow_at_node_oidc_provider(
        node_provider: NodeOidcProvider) -> None:
    async with AsyncOAuthClient(node_provider.issuer, node_provider.client_id,
                                "http://127.0.0.1:49321/callback", scope=SCOPE) as client:
        request = await client.authorization_request(prompt="consent")
        callback = await asyncio.to_thread(browse_to_callback, request.url)
        tokens = await client.complete(callback, request)
        assert (await client.userinfo(tokens.access_token))["sub"] == node_provider.sub
        rotated = await client.refresh(tokens.refresh_token or "")
        assert rotated.refresh_token not in (None, tokens.refresh_token)


def test_a_denied_consent_at_node_oidc_provider_surfaces_as_access_denied(
        node_provider: NodeOidcProvider) -> None:
    with sdk_client(node_provider, "http://127.0.0.1:49322/callback") as client:
        request = client.authorization_request(prompt="consent")
        callback = browse_to_callback(request.url, decision="deny")
        with pytest.raises(CallbackError) as refused:
            client.complete(callback, request)
    assert refused.value.error == "access_denied"


@pytest.mark.parametrize(("change", "error"), [
    ({"state": "another-state"}, "state_mismatch"),
    ({"iss": "https://attacker.example"}, "iss_mismatch"),
    ({"iss": None}, "iss_missing"),
])
def test_a_forged_callback_is_refused_before_the_code_is_sent(
        node_provider: NodeOidcProvider, change: dict[str, str | None], error: str) -> None:
    with sdk_client(node_provider, "http://127.0.0.1:49323/callback") as client:
        request = client.authorization_request()
        callback = browse_to_callback(request.url)
        with pytest.raises(CallbackError) as refused:
            client.complete(with_params(callback, **change), request)
        assert refused.value.error == error
        assert client.complete(callback, request).access_token  # the code was not spent


def test_a_wrong_verifier_is_refused_and_a_replayed_code_too(
        node_provider: NodeOidcProvider) -> None:
    with sdk_client(node_provider, "http://127.0.0.1:49324/callback") as client:
        request = client.authorization_request()
        callback = browse_to_callback(request.url)
        wrong = AuthorizationRequest(request.url, request.state, request.nonce,
                                     "W" * 64, request.redirect_uri, request.scope)
        with pytest.raises(OAuthClientError) as refused:
            client.complete(callback, wrong)
        assert refused.value.error == "invalid_grant"

        request = client.authorization_request()
        callback = browse_to_callback(request.url)
        assert client.complete(callback, request).access_token
        with pytest.raises(OAuthClientError) as replayed:
            client.complete(callback, request)
        assert replayed.value.error == "invalid_grant"


def test_the_sdk_accepts_an_issuer_that_ends_in_a_slash(tmp_path: Path) -> None:
    node = ensure_node_packages()
    with running_node_oidc_provider(node, tmp_path, trailing_slash=True) as provider:
        assert provider.issuer.endswith("/")
        with sdk_client(provider, "http://127.0.0.1:49325/callback") as client:
            request = client.authorization_request()
            tokens = client.complete(browse_to_callback(request.url), request)
            assert tokens.id_claims is not None
            assert tokens.id_claims["iss"] == provider.issuer
