"""The SDK's DPoP (RFC 9449) against node-oidc-provider 9, whose ``features.dPoP`` is on:
authorization code + PKCE (+ PAR with ``dpop_jkt``) → a DPoP-bound access token whose
``cnf.jkt`` (read back through introspection) is the SDK key's thumbprint → a refresh with
the same key → userinfo with ``Authorization: DPoP``; the same token sent as Bearer is
refused, so the binding is real. Then with node's nonce requirement on
(``features.dPoP.requireNonce``): every proof must carry a server nonce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from proofkey.sdk import OAuthClient, OAuthClientError, TokenSet
from proofkey.sdk.dpop import DpopKey, read_key
from tests.interop.conftest import (
    NodeOidcProvider,
    ensure_node_packages,
    sign_in_at_node_oidc_provider,
    start_node_oidc_provider,
)

pytestmark = pytest.mark.interop

SCOPE = "openid profile email offline_access"
REDIRECT = "http://127.0.0.1:49330/callback"


@pytest.fixture(scope="module", params=["no-nonce", "nonce-required"])
def node_provider(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    node = ensure_node_packages()
    extra = ["--dpop-require-nonce"] if request.param == "nonce-required" else []
    provider = start_node_oidc_provider(node, tmp_path_factory.mktemp("node-dpop"),
                                        extra_args=extra)
    try:
        yield provider
    finally:
        provider.stop()


class Recording(httpx.HTTPTransport):
    """A real transport that notes each exchange: (method, path, status, had a proof)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int, bool]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((request.method, request.url.path, response.status_code,
                          "DPoP" in request.headers))
        return response

    def token_calls(self) -> list[int]:
        return [status for _, path, status, _ in self.seen if path == "/token"]


def introspect(provider: NodeOidcProvider, token: str) -> dict[str, object]:
    """node-oidc-provider lets a public client introspect its own tokens."""
    response = httpx.post(f"{provider.issuer}/token/introspection",
                          data={"token": token, "client_id": provider.client_id}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def sign_in(client: OAuthClient, **extra: str) -> TokenSet:
    request = client.authorization_request(prompt="consent", **extra)
    return client.complete(sign_in_at_node_oidc_provider(request.url), request)


@pytest.mark.parametrize("use_par", [True, False], ids=["par", "query"])
def test_code_pkce_dpop_bound_token_refresh_and_userinfo(
        node_provider: NodeOidcProvider, use_par: bool) -> None:
    nonce_required = "--dpop-require-nonce" in node_provider.process.args  # type: ignore[operator]
    wire = Recording()
    with OAuthClient(node_provider.issuer, node_provider.client_id, REDIRECT, scope=SCOPE,
                     use_par=use_par, transport=wire) as client:
        metadata = client.discover()
        assert "ES256" in metadata.dpop_signing_algs
        request = client.authorization_request(prompt="consent")
        key = client.dpop_key
        assert key is not None
        assert key.alg == "ES256"
        if not use_par:
            assert dict(parse_qsl(urlsplit(request.url).query))["dpop_jkt"] == key.thumbprint
        tokens = client.complete(sign_in_at_node_oidc_provider(request.url), request)

        assert tokens.token_type == "DPoP"
        assert tokens.dpop_jkt == key.thumbprint
        # With nonces required: refused once with use_dpop_nonce, then answered (RFC 9449 §8).
        assert wire.token_calls() == ([400, 200] if nonce_required else [200])
        assert all(proof for _, path, _, proof in wire.seen if path == "/token")
        details = introspect(node_provider, tokens.access_token)
        assert details["active"] is True
        assert details["token_type"] == "DPoP"
        assert details["cnf"] == {"jkt": key.thumbprint}

        client.ops.dpop.nonces.clear()  # as if the nonce were unknown at the resource
        info = client.userinfo(tokens)
        assert info["sub"] == node_provider.sub
        me = [status for _, path, status, _ in wire.seen if path == "/me"]
        # With nonces required: 401 WWW-Authenticate DPoP use_dpop_nonce, once (§9).
        assert me == ([401, 200] if nonce_required else [200])
        # The binding is real: the same token as Bearer, or with a proof from another key,
        # is refused by node-oidc-provider.
        bearer = httpx.get(f"{node_provider.issuer}/me", timeout=10,
                           headers={"Authorization": f"Bearer {tokens.access_token}"})
        assert bearer.status_code in (400, 401)
        stranger = DpopKey.generate()  # the SDK itself refuses to send it so (see below)
        userinfo = f"{node_provider.issuer}/me"
        proof = stranger.proof("GET", userinfo, access_token=tokens.access_token,
                               nonce=client.ops.dpop.nonces.get(node_provider.issuer.rstrip("/")))
        other = httpx.get(userinfo, timeout=10, headers={
            "Authorization": f"DPoP {tokens.access_token}", "DPoP": proof})
        assert other.status_code == 401
        assert "use_dpop_nonce" not in other.headers["WWW-Authenticate"], other.headers
        with OAuthClient(node_provider.issuer, node_provider.client_id,
                         dpop_key=stranger) as thief, pytest.raises(OAuthClientError) as refused:
            thief.userinfo(tokens)
        assert refused.value.error == "dpop_key_mismatch"

        rotated = client.refresh(tokens)
        assert wire.token_calls()[-1] == 200
        assert len(wire.token_calls()) == (3 if nonce_required else 2)  # the nonce was kept
        assert rotated.token_type == "DPoP"
        assert rotated.access_token != tokens.access_token
        assert rotated.refresh_token not in (None, tokens.refresh_token)
        assert introspect(node_provider, rotated.access_token)["cnf"] == {
            "jkt": key.thumbprint}
        assert client.userinfo(rotated.access_token)["sub"] == node_provider.sub


def test_a_refresh_token_bound_to_the_key_is_refused_without_it(
        node_provider: NodeOidcProvider) -> None:
    with OAuthClient(node_provider.issuer, node_provider.client_id, REDIRECT,
                     scope=SCOPE) as client:
        tokens = sign_in(client)
        assert tokens.refresh_token is not None
    # node-oidc-provider binds a public client's refresh token to the DPoP key (RFC 9449 §5):
    # another key (or none) cannot use it.
    attempts: list[dict[str, Any]] = [{"dpop_key": DpopKey.generate()}, {"dpop": "off"}]
    for options in attempts:
        with OAuthClient(node_provider.issuer, node_provider.client_id, **options) as thief:
            with pytest.raises(OAuthClientError) as refused:
                thief.refresh(tokens.refresh_token)
            assert refused.value.error == "invalid_grant"


def test_a_key_file_carries_the_binding_to_a_later_run(node_provider: NodeOidcProvider,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "dpop.jwk"
    with OAuthClient(node_provider.issuer, node_provider.client_id, REDIRECT, scope=SCOPE,
                     dpop_key=path) as first:
        tokens = sign_in(first)
    stored = read_key(path)
    assert stored is not None
    assert stored.thumbprint == tokens.dpop_jkt
    cached = TokenSet.from_json(tokens.to_json())
    with OAuthClient(node_provider.issuer, node_provider.client_id, dpop_key=path) as later:
        assert later.userinfo(cached)["sub"] == node_provider.sub
        refreshed = later.refresh(cached)
    assert refreshed.dpop_jkt == tokens.dpop_jkt


def test_opting_out_gets_a_bearer_token(node_provider: NodeOidcProvider) -> None:
    with OAuthClient(node_provider.issuer, node_provider.client_id, REDIRECT, scope=SCOPE,
                     dpop="off") as client:
        tokens = sign_in(client)
        assert tokens.token_type == "Bearer"
        assert "cnf" not in introspect(node_provider, tokens.access_token)
        assert client.userinfo(tokens)["sub"] == node_provider.sub
