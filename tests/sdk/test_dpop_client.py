"""The SDK's DPoP behaviour (RFC 9449) against a scripted provider that checks every proof with
proofkey's own verifier: proofs at the token endpoint (code, refresh, device), ``dpop_jkt`` at
PAR and authorize, one retry on ``use_dpop_nonce`` (never a loop), the nonce kept per server,
``token_type`` handling, the same key for refreshes, ``Authorization: DPoP`` with ``ath`` at
resources, a DPoP-bound token never sent as Bearer, and the opt-out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from proofkey.protocol.dpop import DpopError
from proofkey.resource.dpop import verify_proof
from proofkey.sdk import AsyncOAuthClient, OAuthClient, OAuthClientError, TokenSet
from proofkey.sdk.core import DeviceAuthorizationResponse
from proofkey.sdk.dpop import DpopKey

AS = "https://as.example"
RS = "https://api.example"
CLIENT = "cli"
REDIRECT = "http://127.0.0.1:5000/callback"
METADATA = {"issuer": AS, "authorization_endpoint": f"{AS}/authorize",
            "token_endpoint": f"{AS}/token", "userinfo_endpoint": f"{AS}/userinfo",
            "pushed_authorization_request_endpoint": f"{AS}/par",
            "device_authorization_endpoint": f"{AS}/device",
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"]}


@dataclass
class Provider:
    """A scripted AS and RS. ``token_type`` is what the token endpoint answers to a request
    with a proof; ``as_nonce`` / ``rs_nonce``, when set, are required in proofs; with
    ``rotate`` every proof is refused with ``use_dpop_nonce`` and a new nonce (a broken or
    hostile server the client must not loop with)."""

    advertise: bool = True
    token_type: str = "DPoP"
    as_nonce: str | None = None
    rs_nonce: str | None = None
    rotate: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    proofs: list[Any] = field(default_factory=list)
    issued: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith("/.well-known/"):
            meta = dict(METADATA)
            if not self.advertise:
                del meta["dpop_signing_alg_values_supported"]
            return httpx.Response(200, json=meta)
        if path == "/par":
            return httpx.Response(201, json={"request_uri": "urn:ietf:params:oauth:request_uri:x",
                                             "expires_in": 60})
        if path == "/device":
            return httpx.Response(200, json={"device_code": "dc", "user_code": "U",
                                             "verification_uri": f"{AS}/d", "expires_in": 60})
        if path == "/token":
            return self.token(request)
        return self.resource(request)

    def _nonce_refusal(self, expected: str | None, proof: Any) -> str | None:
        if expected is None or (proof.nonce == expected and not self.rotate):
            return None
        return expected + "+" if self.rotate else expected  # rotate: refuse every nonce

    def token(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("DPoP")
        jkt = None
        if header is not None:
            proof = verify_proof(header, method="POST", url=f"{AS}/token", now=int(time.time()))
            self.proofs.append(proof)
            fresh = self._nonce_refusal(self.as_nonce, proof)
            if fresh is not None:
                self.as_nonce = fresh
                return httpx.Response(400, headers={"DPoP-Nonce": fresh}, json={
                    "error": "use_dpop_nonce", "error_description": "a nonce is required"})
            jkt = proof.jkt
        self.issued += 1
        kind = self.token_type if jkt else "Bearer"
        bound = jkt if kind == "DPoP" else "bearer"
        return httpx.Response(200, json={
            "access_token": f"at{self.issued}.{bound}", "token_type": kind,
            "expires_in": 60, "refresh_token": f"rt-{self.issued}"})

    def resource(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bound = token.partition(".")[2] or "bearer"
        if bound == "bearer":
            ok = scheme == "Bearer"
        else:
            if scheme != "DPoP":
                return httpx.Response(401, headers={
                    "WWW-Authenticate": 'DPoP error="invalid_token"'})
            try:
                proof = verify_proof(request.headers.get("DPoP", ""), method=request.method,
                                     url=str(request.url), now=int(time.time()),
                                     access_token=token)
            except DpopError:
                return httpx.Response(401, headers={
                    "WWW-Authenticate": 'DPoP error="invalid_dpop_proof"'})
            self.proofs.append(proof)
            fresh = self._nonce_refusal(self.rs_nonce, proof)
            if fresh is not None:
                self.rs_nonce = fresh
                return httpx.Response(401, headers={
                    "DPoP-Nonce": fresh,
                    "WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"'})
            ok = proof.jkt == bound
        if not ok:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={"sub": "ada"})

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def client(provider: Provider, **options: Any) -> OAuthClient:
    return OAuthClient(AS, CLIENT, REDIRECT, scope="profile", transport=provider.transport(),
                       **options)


def sign_in(sdk: OAuthClient) -> TokenSet:
    request = sdk.authorization_request()
    return sdk.complete(f"{REDIRECT}?code=c&state={request.state}&iss={AS}", request)


def pushed(provider: Provider) -> dict[str, str]:
    return dict(parse_qsl(provider.sent("/par")[-1].content.decode()))


def test_the_code_is_bound_at_par_and_the_token_to_the_same_key() -> None:
    provider = Provider()
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        key = sdk.dpop_key
    assert key is not None
    assert key.alg == "ES256"
    assert pushed(provider)["dpop_jkt"] == key.thumbprint
    assert [p.jkt for p in provider.proofs] == [key.thumbprint]
    assert tokens.token_type == "DPoP"
    assert tokens.dpop_bound
    assert tokens.dpop_jkt == key.thumbprint


def test_without_par_dpop_jkt_travels_in_the_authorization_url() -> None:
    provider = Provider()
    with client(provider, use_par=False) as sdk:
        request = sdk.authorization_request()
        key = sdk.dpop_key
    assert key is not None
    assert parse_qs(urlsplit(request.url).query)["dpop_jkt"] == [key.thumbprint]
    assert request.dpop_jkt == key.thumbprint


def test_a_nonce_demand_is_answered_once_and_the_nonce_is_kept_for_the_next_request() -> None:
    provider = Provider(as_nonce="n1")
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        assert len(provider.sent("/token")) == 2  # refused, then once more with the nonce
        assert [p.nonce for p in provider.proofs] == [None, "n1"]
        sdk.refresh(tokens)
    assert len(provider.sent("/token")) == 3  # the refresh used the kept nonce at once
    assert provider.proofs[-1].nonce == "n1"


def test_a_server_that_keeps_asking_for_a_new_nonce_gets_one_retry_not_a_loop() -> None:
    provider = Provider(as_nonce="n1", rotate=True)
    with client(provider) as sdk, pytest.raises(OAuthClientError) as refused:
        sign_in(sdk)
    assert refused.value.error == "use_dpop_nonce"
    assert [p.nonce for p in provider.proofs] == [None, "n1+"]
    assert len(provider.sent("/token")) == 2


def test_a_refresh_uses_the_same_key_and_keeps_the_binding() -> None:
    provider = Provider()
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        refreshed = sdk.refresh(tokens)
    assert refreshed.dpop_jkt == tokens.dpop_jkt
    assert {p.jkt for p in provider.proofs} == {tokens.dpop_jkt}
    assert len({p.jti for p in provider.proofs}) == 2


def test_tokens_bound_to_another_key_are_not_refreshed_with_this_one() -> None:
    provider = Provider()
    with client(provider) as first:
        tokens = sign_in(first)
    with client(provider) as second, pytest.raises(OAuthClientError) as refused:
        second.refresh(tokens)  # a new client holds a new key
    assert refused.value.error == "dpop_key_mismatch"
    assert len(provider.sent("/token")) == 1  # nothing was sent


def test_a_code_bound_to_another_key_is_not_redeemed_with_this_one() -> None:
    provider = Provider()
    with client(provider) as first:
        request = first.authorization_request()
    with client(provider) as second, pytest.raises(OAuthClientError) as refused:
        second.complete(f"{REDIRECT}?code=c&state={request.state}&iss={AS}", request)
    assert refused.value.error == "dpop_key_mismatch"
    assert provider.sent("/token") == []


def test_a_device_poll_carries_a_proof() -> None:
    provider = Provider()
    with client(provider) as sdk:
        device = DeviceAuthorizationResponse("dc", "U", f"{AS}/d", None, 60, 1)
        tokens = sdk.poll_device(device, sleep=lambda _: None)
        key = sdk.dpop_key
    assert key is not None
    assert tokens.dpop_jkt == key.thumbprint
    assert provider.sent("/token")[0].headers["DPoP"]


def test_userinfo_and_api_requests_send_dpop_with_ath() -> None:
    provider = Provider()
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        assert sdk.userinfo(tokens)["sub"] == "ada"
        assert sdk.userinfo(tokens.access_token)["sub"] == "ada"  # it knows the token is bound
        answer = sdk.request("POST", f"{RS}/things?x=1#top", tokens, json={"a": 1})
    assert answer.status_code == 200
    api = provider.sent("/things")[0]
    assert api.headers["Authorization"] == f"DPoP {tokens.access_token}"
    assert provider.proofs[-1].htu == f"{RS}/things"
    assert provider.proofs[-1].ath is not None


def test_a_resource_nonce_demand_is_answered_once() -> None:
    provider = Provider(rs_nonce="r1")
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        assert sdk.request("GET", f"{RS}/a", tokens).status_code == 200
        assert sdk.request("GET", f"{RS}/b", tokens).status_code == 200
    assert [r.url.path for r in provider.requests if r.url.host == "api.example"] == [
        "/a", "/a", "/b"]  # the nonce of api.example was kept for /b
    assert provider.proofs[-1].nonce == "r1"
    assert provider.as_nonce is None  # and never sent to the AS: nonces are per server

    rotating = Provider(rs_nonce="r1", rotate=True)
    with client(rotating) as sdk:
        tokens = sign_in(sdk)
        answer = sdk.request("GET", f"{RS}/a", tokens)
        assert answer.status_code == 401
        assert "use_dpop_nonce" in answer.headers["WWW-Authenticate"]
    assert len([r for r in rotating.requests if r.url.host == "api.example"]) == 2


def test_a_cached_dpop_token_is_never_sent_as_bearer() -> None:
    provider = Provider()
    cached = TokenSet.from_json({"access_token": "at1.jkt", "token_type": "DPoP",
                                 "expires_at": None, "dpop_jkt": "jkt"})
    for options in ({}, {"dpop": "off"}):
        with client(provider, **options) as sdk:
            with pytest.raises(OAuthClientError) as refused:
                sdk.request("GET", f"{RS}/a", cached)
            assert refused.value.error == "dpop_key_mismatch"
            with pytest.raises(OAuthClientError):
                sdk.userinfo(cached)
    assert [r for r in provider.requests if "Authorization" in r.headers] == []


def test_a_cached_dpop_token_works_with_its_key() -> None:
    provider = Provider()
    key = DpopKey.generate()
    with client(provider, dpop_key=key) as sdk:
        tokens = sign_in(sdk)
    cached = TokenSet.from_json(tokens.to_json())
    with client(provider, dpop="off", dpop_key=key) as later:  # off for new tokens only
        assert later.userinfo(cached)["sub"] == "ada"
        assert later.refresh(cached).dpop_jkt == key.thumbprint


def test_opting_out_sends_no_proof_and_no_dpop_jkt() -> None:
    provider = Provider()
    with client(provider, dpop="off") as sdk:
        tokens = sign_in(sdk)
        sdk.userinfo(tokens)
        sdk.refresh(tokens)
        assert sdk.dpop_key is None
    assert "dpop_jkt" not in pushed(provider)
    assert all("DPoP" not in r.headers for r in provider.requests)
    assert tokens.token_type == "Bearer"
    assert provider.sent("/userinfo")[0].headers["Authorization"].startswith("Bearer ")


def test_a_provider_without_dpop_gets_bearer_requests() -> None:
    provider = Provider(advertise=False)
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        assert sdk.dpop_key is None
    assert all("DPoP" not in r.headers for r in provider.requests)
    assert tokens.token_type == "Bearer"
    with client(Provider(advertise=False), dpop="required") as strict, \
            pytest.raises(OAuthClientError) as refused:
        sign_in(strict)
    assert refused.value.error == "unsupported_provider"


def test_a_bearer_answer_to_a_dpop_request_is_kept_as_bearer_unless_dpop_is_required() -> None:
    # RFC 9449 §5: the token_type tells the client whether the server bound the token.
    provider = Provider(token_type="Bearer")
    with client(provider) as sdk:
        tokens = sign_in(sdk)
        assert tokens.token_type == "Bearer"
        assert tokens.dpop_jkt is None
        sdk.userinfo(tokens)
    assert provider.sent("/userinfo")[0].headers["Authorization"].startswith("Bearer ")
    with client(Provider(token_type="Bearer"), dpop="required") as strict, \
            pytest.raises(OAuthClientError) as refused:
        sign_in(strict)
    assert refused.value.error == "invalid_response"


def test_a_dpop_answer_without_a_proof_is_refused() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "x", "token_type": "DPoP"})
        meta = {k: v for k, v in METADATA.items() if not k.startswith("dpop")}
        return httpx.Response(200, json=meta) if request.method == "GET" else \
            httpx.Response(201, json={"request_uri": "urn:x"})

    with OAuthClient(AS, CLIENT, REDIRECT, scope="profile",
                     transport=httpx.MockTransport(handle)) as sdk, \
            pytest.raises(OAuthClientError) as refused:
        sign_in(sdk)
    assert refused.value.error == "invalid_response"


def test_dpop_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="dpop must be"):
        OAuthClient(AS, CLIENT, dpop="sometimes")  # type: ignore[arg-type]


async def test_the_async_client_does_the_same() -> None:
    provider = Provider(as_nonce="n1", rs_nonce="r1")
    async with AsyncOAuthClient(AS, CLIENT, REDIRECT, scope="profile",
                                transport=provider.transport()) as sdk:
        request = await sdk.authorization_request()
        tokens = await sdk.complete(f"{REDIRECT}?code=c&state={request.state}&iss={AS}",
                                    request)
        assert (await sdk.userinfo(tokens))["sub"] == "ada"
        refreshed = await sdk.refresh(tokens)
        assert (await sdk.request("GET", f"{RS}/x", refreshed)).status_code == 200
        key = sdk.dpop_key
    assert key is not None
    assert refreshed.dpop_jkt == key.thumbprint
