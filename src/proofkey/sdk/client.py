"""Sync and async OAuth clients over httpx; the steps live once, as generators of requests.

Each operation is a generator that yields ``httpx.Request`` objects and receives the
responses; ``OAuthClient`` drives it with a sync transport, ``AsyncOAuthClient`` with an async
one. Tests and tools inject any httpx transport (ASGI app, mock, real network). The device
grant's waits between polls are the drivers' (``sleep`` is injectable), never the steps'.

DPoP (RFC 9449) rides on the same steps: the token requests and resource requests below add
proofs; what a client keeps for it (key, nonces, policy) is ``dpop_session.DpopSession``.
Over the ~400-line guideline because the two drivers repeat every operation, each with the
docstring an editor shows; the protocol logic is only in ``Operations``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_plus, urlsplit

import httpx
from joserfc.jwk import KeySet

from proofkey.protocol.device import DEVICE_GRANT_TYPE

from .core import (
    AuthorizationRequest,
    DeviceAuthorizationResponse,
    DevicePolling,
    OAuthClientError,
    ProviderMetadata,
    TokenSet,
    build_authorization_request,
    check_callback,
    check_same_subject,
    parse_device_authorization_response,
    parse_token_response,
    validate_id_token,
)
from .dpop import DpopKey
from .dpop_session import DpopMode, DpopSession

__all__ = ["AsyncOAuthClient", "OAuthClient", "Operations"]

T = TypeVar("T")
Op = Generator[httpx.Request, httpx.Response, T]
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
KeyOption = DpopKey | str | os.PathLike[str] | None
_USE_DPOP_NONCE = re.compile(r'\berror\s*=\s*"?use_dpop_nonce\b')


def _rfc8414_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _asks_for_nonce(response: httpx.Response, *, resource: bool) -> bool:
    """RFC 9449 §8 (token endpoint: 400 ``use_dpop_nonce``) and §9 (resource: 401 with
    ``WWW-Authenticate: DPoP error="use_dpop_nonce"``)."""
    if resource:
        challenge = response.headers.get("WWW-Authenticate", "")
        return (response.status_code == 401 and "dpop" in challenge.lower()
                and _USE_DPOP_NONCE.search(challenge) is not None)
    body = _json(response)
    return (response.status_code == 400 and isinstance(body, dict)
            and body.get("error") == "use_dpop_nonce")


def _key_option(key: KeyOption) -> DpopKey | Path | None:
    return key if key is None or isinstance(key, DpopKey) else Path(key)


class Operations:
    """The client's protocol steps; holds configuration and caches, performs no I/O.

    ``dpop`` (``auto``, ``off`` or ``required``) and ``dpop_key`` (a ``DpopKey``, a file to
    keep it in, or None for a key in memory) set up DPoP; see ``proofkey.sdk.dpop_session``."""

    def __init__(self, issuer: str, client_id: str, redirect_uri: str | None = None, *,
                 client_secret: str | None = None, scope: str = "openid",
                 verifier_length: int = 64, use_par: bool = True, dpop: DpopMode = "auto",
                 dpop_key: KeyOption = None) -> None:
        self.issuer = issuer  # compared exactly with metadata, iss and id_tokens (RFC 8414 §3.3)
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.client_secret = client_secret
        self.scope = scope
        self.verifier_length = verifier_length
        self.use_par = use_par
        self.metadata: ProviderMetadata | None = None
        self.keys: KeySet | None = None
        self.dpop = DpopSession(dpop, _key_option(dpop_key))

    def _authenticated(self, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        headers = dict(_FORM)
        if self.client_secret is None:
            data["client_id"] = self.client_id
        else:  # RFC 6749 §2.3.1: form-encode both parts before Basic encoding
            raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        return data, headers

    def _post(self, url: str, data: dict[str, str]) -> httpx.Request:
        body, headers = self._authenticated(data)
        return httpx.Request("POST", url, data=body, headers=headers)

    def _token_request(self, data: dict[str, str], key: DpopKey | None) -> Op[httpx.Response]:
        """POST to the token endpoint, with a fresh DPoP proof from ``key`` if given; when the
        server asks for a nonce (RFC 9449 §8), once more with it, and never more than that."""
        metadata = yield from self.discover()
        url = metadata.token_endpoint
        request = self._post(url, dict(data))
        if key is None:
            return (yield request)
        request.headers["DPoP"] = self.dpop.proof(key, "POST", url)
        response = yield request
        if self.dpop.remember_nonce(url, response) and _asks_for_nonce(response, resource=False):
            request = self._post(url, dict(data))
            request.headers["DPoP"] = self.dpop.proof(key, "POST", url)
            response = yield request
            self.dpop.remember_nonce(url, response)
        return response

    def request(self, method: str, url: str, token: str | TokenSet, *,
                headers: Mapping[str, str] | None = None, content: bytes | str | None = None,
                data: Mapping[str, Any] | None = None, json: Any = None,
                params: Mapping[str, str] | None = None) -> Op[httpx.Response]:
        """A request to a resource server with the access token: ``Authorization: DPoP`` and
        a proof with ``ath`` for a DPoP-bound token (RFC 9449 §7), else ``Bearer``; retried
        once with the resource server's nonce when it answers ``use_dpop_nonce`` (§9)."""
        binding = self.dpop.binding_of(token)
        key = self.dpop.key_of(binding[1]) if binding is not None else None
        access_token = token.access_token if isinstance(token, TokenSet) else token

        def build() -> httpx.Request:
            request = httpx.Request(method, url, headers=dict(headers or {}), content=content,
                                    data=data, json=json, params=params)
            if key is None:
                request.headers["Authorization"] = f"Bearer {access_token}"
            else:
                request.headers["Authorization"] = f"DPoP {access_token}"
                request.headers["DPoP"] = self.dpop.proof(key, request.method, str(request.url),
                                                          access_token)
            return request

        response = yield build()
        if key is not None and self.dpop.remember_nonce(url, response) \
                and _asks_for_nonce(response, resource=True):
            response = yield build()
            self.dpop.remember_nonce(url, response)
        return response

    def discover(self) -> Op[ProviderMetadata]:
        """The provider's metadata (OIDC Discovery, else RFC 8414), fetched once and kept; its
        ``issuer`` must equal the one this client was made for (RFC 8414 §3.3)."""
        if self.metadata is None:
            response = yield httpx.Request(
                "GET", f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
            if response.status_code == 404:
                response = yield httpx.Request("GET", _rfc8414_url(self.issuer))
            data = _json(response)
            if response.status_code != 200 or not isinstance(data, dict):
                raise OAuthClientError("discovery_failed",
                                       f"metadata answered {response.status_code}")
            self.metadata = ProviderMetadata.from_json(data, self.issuer)
        return self.metadata

    def authorization_request(self, scope: str | None = None, redirect_uri: str | None = None,
                              **extra: str) -> Op[AuthorizationRequest]:
        """A fresh attempt: a new verifier and S256 challenge, ``state`` and, for ``openid``,
        ``nonce``; pushed first (RFC 9126) when the provider advertises PAR and ``use_par``.
        Open its ``url`` in a browser and keep the request (it holds the verifier) until the
        callback. ``extra`` adds parameters such as ``prompt`` or ``login_hint``."""
        metadata = yield from self.discover()
        target = redirect_uri or self.redirect_uri
        if target is None:
            raise ValueError("a redirect_uri is required")
        key = self.dpop.key_for(metadata)
        if key is not None:  # RFC 9449 §10: bind the code to the key
            extra = {"dpop_jkt": key.thumbprint, **extra}
        request, params = build_authorization_request(
            metadata, self.client_id, target, scope or self.scope,
            verifier_length=self.verifier_length, extra=extra)
        if key is not None:
            request = dataclasses.replace(request, dpop_jkt=key.thumbprint)
        endpoint = metadata.pushed_authorization_request_endpoint
        if not (self.use_par and endpoint):
            return request
        # RFC 9126 §2: push the parameters, then send only client_id and request_uri.
        response = yield self._post(endpoint, dict(params))
        data = _json(response)
        if response.status_code not in (200, 201) or not isinstance(data, dict):
            raise OAuthClientError(str((data or {}).get("error", "par_failed")),
                                   str((data or {}).get("error_description", "")),
                                   response.status_code)
        url = (f"{metadata.authorization_endpoint}?client_id={quote_plus(self.client_id)}"
               f"&request_uri={quote_plus(str(data['request_uri']))}")
        return dataclasses.replace(request, url=url)

    def exchange_code(self, code: str, request: AuthorizationRequest) -> Op[TokenSet]:
        """Redeem a code obtained some other way (after your own callback checks) with the
        attempt's verifier; the id_token is validated as in ``complete``."""
        metadata = yield from self.discover()
        key = self.dpop.key_for(metadata)
        if request.dpop_jkt is not None and (key is None or key.thumbprint != request.dpop_jkt):
            raise OAuthClientError("dpop_key_mismatch", "the code is bound to another DPoP key "
                                   "than this client's; use the same dpop_key for both steps")
        response = yield from self._token_request({
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": request.redirect_uri, "code_verifier": request.code_verifier}, key)
        tokens = self.dpop.bind(parse_token_response(response.status_code, _json(response)), key)
        return (yield from self._with_id_claims(tokens, request.scope, request.nonce))

    def _with_id_claims(self, tokens: TokenSet, scope: str, nonce: str | None) -> Op[TokenSet]:
        """The first tokens of a login: the id_token, required for openid, is validated."""
        if tokens.id_token is None:
            if "openid" in scope.split():
                raise OAuthClientError("invalid_response", "openid was asked, no id_token came")
            return tokens
        claims = yield from self.validate_id_token(tokens.id_token, nonce)
        return dataclasses.replace(tokens, id_claims=claims)

    def device_authorization(self, scope: str | None = None) -> Op[DeviceAuthorizationResponse]:
        """RFC 8628 §3.1: ask for a device code and a user code."""
        metadata = yield from self.discover()
        if not metadata.device_authorization_endpoint:
            raise OAuthClientError("unsupported",
                                   "the provider has no device authorization endpoint")
        wanted = scope or self.scope
        response = yield self._post(metadata.device_authorization_endpoint, {"scope": wanted})
        return parse_device_authorization_response(response.status_code, _json(response), wanted)

    def device_poll(self, device: DeviceAuthorizationResponse,
                    polling: DevicePolling) -> Op[TokenSet | None]:
        """RFC 8628 §3.4: one token request; None while the user has not yet decided."""
        metadata = yield from self.discover()
        key = self.dpop.key_for(metadata)
        response = yield from self._token_request({
            "grant_type": DEVICE_GRANT_TYPE, "device_code": device.device_code}, key)
        tokens = polling.answer(response.status_code, _json(response))
        if tokens is None:
            return None
        tokens = self.dpop.bind(tokens, key)
        return (yield from self._with_id_claims(tokens, device.scope, None))

    def complete(self, callback_url: str, request: AuthorizationRequest) -> Op[TokenSet]:
        """Finish an attempt from the full callback URL: check ``state`` and ``iss`` (RFC 9207),
        raise ``CallbackError`` for an ``error`` response, then redeem the code with the
        verifier and validate the id_token (signature, ``iss``, ``aud``, ``exp``, ``nonce``)."""
        metadata = yield from self.discover()
        code = check_callback(callback_url, request, metadata)
        return (yield from self.exchange_code(code, request))

    def validate_id_token(self, id_token: str, nonce: str | None) -> Op[dict[str, Any]]:
        """Start a device grant (RFC 8628 §3.1): show ``verification_uri`` and ``user_code``
        to the person, then ``poll_device``."""
        keys = yield from self.jwks()
        try:
            return validate_id_token(id_token, keys, issuer=self.issuer,
                                     client_id=self.client_id, nonce=nonce)
        except OAuthClientError:
            keys = yield from self.jwks(refresh=True)  # keys may have rotated
            return validate_id_token(id_token, keys, issuer=self.issuer,
                                     client_id=self.client_id, nonce=nonce)

    def jwks(self, refresh: bool = False) -> Op[KeySet]:
        metadata = yield from self.discover()
        if self.keys is None or refresh:
            if not metadata.jwks_uri:
                raise OAuthClientError("invalid_metadata", "the provider publishes no jwks_uri")
            response = yield httpx.Request("GET", metadata.jwks_uri)
            data = _json(response)
            if response.status_code != 200 or not isinstance(data, dict):
                raise OAuthClientError("jwks_failed", f"jwks answered {response.status_code}")
            self.keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        return self.keys

    def refresh(self, refresh_token: str | TokenSet, scope: str | None = None) -> Op[TokenSet]:
        """Given the current TokenSet (not just its refresh token), a new id_token must name the
        same ``iss`` and ``sub`` as the original one (OIDC Core §12.2)."""
        original = refresh_token if isinstance(refresh_token, TokenSet) else None
        token = original.refresh_token if original is not None else refresh_token
        if not isinstance(token, str) or not token:
            raise ValueError("these tokens have no refresh token")
        metadata = yield from self.discover()
        # RFC 9449 §5: a public client's refresh token is bound to the key; refresh with it.
        key = (self.dpop.key_of(original.dpop_jkt) if original is not None and original.dpop_bound
               else self.dpop.key_for(metadata))
        data = {"grant_type": "refresh_token", "refresh_token": token}
        if scope:
            data["scope"] = scope
        response = yield from self._token_request(data, key)
        tokens = self.dpop.bind(parse_token_response(response.status_code, _json(response)), key)
        claims = None
        if tokens.id_token is not None:  # OIDC Core §12.2: validate it like the first one
            claims = yield from self.validate_id_token(tokens.id_token, None)
            if original is not None:
                check_same_subject(original, claims)
        # A provider that does not rotate leaves the old refresh token valid: keep it.
        return dataclasses.replace(tokens, refresh_token=tokens.refresh_token or token,
                                   id_claims=claims)

    def revoke(self, token: str, hint: str | None = None) -> Op[None]:
        """Revoke a token at the provider (RFC 7009); ``hint`` is ``refresh_token`` or
        ``access_token``. Revoking a refresh token ends its whole grant at proofkey."""
        metadata = yield from self.discover()
        if not metadata.revocation_endpoint:
            raise OAuthClientError("unsupported", "the provider has no revocation endpoint")
        data = {"token": token}
        if hint:
            data["token_type_hint"] = hint
        response = yield self._post(metadata.revocation_endpoint, data)
        if response.status_code != 200:
            body = _json(response) or {}
            raise OAuthClientError(str(body.get("error", "revocation_failed")),
                                   str(body.get("error_description", "")), response.status_code)

    def userinfo(self, access_token: str | TokenSet,
                 expected_subject: str | None = None) -> Op[dict[str, Any]]:
        """The claims; with ``expected_subject`` (the id_token's sub) a mismatch is refused
        (OIDC Core §5.3.2: the sub "MUST" be verified to match)."""
        metadata = yield from self.discover()
        if not metadata.userinfo_endpoint:
            raise OAuthClientError("unsupported", "the provider has no userinfo endpoint")
        response = yield from self.request("GET", metadata.userinfo_endpoint, access_token,
                                           headers={"Accept": "application/json"})
        data = _json(response)
        if response.status_code != 200 or not isinstance(data, dict):
            raise OAuthClientError("userinfo_failed", f"userinfo answered {response.status_code}",
                                   response.status_code)
        if expected_subject is not None and data.get("sub") != expected_subject:
            raise OAuthClientError("invalid_userinfo", "userinfo is about another subject")
        return data


class OAuthClient:
    """A blocking OAuth 2.1 / OpenID Connect client for one provider and one client id.

    ``with OAuthClient(issuer, client_id, redirect_uri) as client:`` then
    ``request = client.authorization_request()``, send the person to ``request.url``, and
    ``tokens = client.complete(callback_url, request)``. ``client_secret`` makes it a
    confidential client (HTTP Basic); ``transport`` is any httpx transport (tests).

    DPoP (RFC 9449) is on by default when the provider advertises it: ``dpop="off"`` opts
    out, ``dpop="required"`` refuses Bearer tokens. ``dpop_key`` is a ``DpopKey`` or a file
    to keep the key in between runs (mode 0600); by default the key lives in memory, so use
    one client (or one key) from the authorization request to the last refresh.
    """

    def __init__(self, issuer: str, client_id: str, redirect_uri: str | None = None, *,
                 client_secret: str | None = None, scope: str = "openid",
                 verifier_length: int = 64, use_par: bool = True,
                 transport: httpx.BaseTransport | None = None, timeout: float = 10.0,
                 dpop: DpopMode = "auto", dpop_key: KeyOption = None) -> None:
        self.ops = Operations(issuer, client_id, redirect_uri, client_secret=client_secret,
                              scope=scope, verifier_length=verifier_length, use_par=use_par,
                              dpop=dpop, dpop_key=dpop_key)
        self.http = httpx.Client(transport=transport, timeout=timeout)

    def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                request = op.send(self.http.send(request))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def discover(self) -> ProviderMetadata:
        """The provider's metadata (OIDC Discovery, else RFC 8414), fetched once and kept; its
        ``issuer`` must equal the one this client was made for (RFC 8414 §3.3)."""
        return self._run(self.ops.discover())

    def authorization_request(self, scope: str | None = None, redirect_uri: str | None = None,
                              **extra: str) -> AuthorizationRequest:
        """A fresh attempt: a new verifier and S256 challenge, ``state`` and, for ``openid``,
        ``nonce``; pushed first (RFC 9126) when the provider advertises PAR and ``use_par``.
        Open its ``url`` in a browser and keep the request (it holds the verifier) until the
        callback. ``extra`` adds parameters such as ``prompt`` or ``login_hint``."""
        return self._run(self.ops.authorization_request(scope, redirect_uri, **extra))

    def complete(self, callback_url: str, request: AuthorizationRequest) -> TokenSet:
        """Finish an attempt from the full callback URL: check ``state`` and ``iss`` (RFC 9207),
        raise ``CallbackError`` for an ``error`` response, then redeem the code with the
        verifier and validate the id_token (signature, ``iss``, ``aud``, ``exp``, ``nonce``)."""
        return self._run(self.ops.complete(callback_url, request))

    def exchange_code(self, code: str, request: AuthorizationRequest) -> TokenSet:
        """Redeem a code obtained some other way (after your own callback checks) with the
        attempt's verifier; the id_token is validated as in ``complete``."""
        return self._run(self.ops.exchange_code(code, request))

    def device_authorization(self, scope: str | None = None) -> DeviceAuthorizationResponse:
        """Start a device grant (RFC 8628 §3.1): show ``verification_uri`` and ``user_code``
        to the person, then ``poll_device``."""
        return self._run(self.ops.device_authorization(scope))

    def poll_device(self, device: DeviceAuthorizationResponse, *,
                    sleep: Callable[[float], None] = time.sleep) -> TokenSet:
        """Poll at the interval until the user approves (RFC 8628 §3.5); OAuthClientError on
        ``access_denied``, ``expired_token`` or once ``expires_in`` is spent."""
        polling = DevicePolling(device)
        while True:
            sleep(polling.next_wait())
            tokens = self._run(self.ops.device_poll(device, polling))
            if tokens is not None:
                return tokens

    def refresh(self, refresh_token: str | TokenSet, scope: str | None = None) -> TokenSet:
        """Refresh; pass the TokenSet to have a new id_token checked against the original
        (same ``iss`` and ``sub``, OIDC Core §12.2): OAuthClientError if it differs."""
        return self._run(self.ops.refresh(refresh_token, scope))

    def revoke(self, token: str, hint: str | None = None) -> None:
        """Revoke a token at the provider (RFC 7009); ``hint`` is ``refresh_token`` or
        ``access_token``. Revoking a refresh token ends its whole grant at proofkey."""
        self._run(self.ops.revoke(token, hint))

    def userinfo(self, access_token: str | TokenSet,
                 expected_subject: str | None = None) -> dict[str, Any]:
        """The userinfo claims for ``access_token``; with ``expected_subject``, an
        ``OAuthClientError`` if they are about someone else (OIDC Core §5.3.2)."""
        return self._run(self.ops.userinfo(access_token, expected_subject))

    def request(self, method: str, url: str, token: str | TokenSet, *,
                headers: Mapping[str, str] | None = None, content: bytes | str | None = None,
                data: Mapping[str, Any] | None = None, json: Any = None,
                params: Mapping[str, str] | None = None) -> httpx.Response:
        """Call an API with the access token: ``Authorization: DPoP`` plus a proof for a
        DPoP-bound token (retried once with the API's nonce if it asks), else ``Bearer``."""
        return self._run(self.ops.request(method, url, token, headers=headers, content=content,
                                          data=data, json=json, params=params))

    @property
    def dpop_key(self) -> DpopKey | None:
        """The DPoP key in use (None until DPoP was first used, or when it is off)."""
        return self.ops.dpop.key

    def close(self) -> None:
        """Close the HTTP connections (also done by leaving a ``with`` block)."""
        self.http.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOAuthClient:
    """The asynchronous twin of ``OAuthClient``, for asyncio applications: the same
    operations with the same checks, each awaited; ``async with`` closes it."""

    def __init__(self, issuer: str, client_id: str, redirect_uri: str | None = None, *,
                 client_secret: str | None = None, scope: str = "openid",
                 verifier_length: int = 64, use_par: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 10.0, dpop: DpopMode = "auto",
                 dpop_key: KeyOption = None) -> None:
        self.ops = Operations(issuer, client_id, redirect_uri, client_secret=client_secret,
                              scope=scope, verifier_length=verifier_length, use_par=use_par,
                              dpop=dpop, dpop_key=dpop_key)
        self.http = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                request = op.send(await self.http.send(request))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def discover(self) -> ProviderMetadata:
        """The provider's metadata (OIDC Discovery, else RFC 8414), fetched once and kept; its
        ``issuer`` must equal the one this client was made for (RFC 8414 §3.3)."""
        return await self._run(self.ops.discover())

    async def authorization_request(self, scope: str | None = None,
                                    redirect_uri: str | None = None,
                                    **extra: str) -> AuthorizationRequest:
        """A fresh attempt: a new verifier and S256 challenge, ``state`` and, for ``openid``,
        ``nonce``; pushed first (RFC 9126) when the provider advertises PAR and ``use_par``.
        Open its ``url`` in a browser and keep the request (it holds the verifier) until the
        callback. ``extra`` adds parameters such as ``prompt`` or ``login_hint``."""
        return await self._run(self.ops.authorization_request(scope, redirect_uri, **extra))

    async def complete(self, callback_url: str, request: AuthorizationRequest) -> TokenSet:
        """Finish an attempt from the full callback URL: check ``state`` and ``iss`` (RFC 9207),
        raise ``CallbackError`` for an ``error`` response, then redeem the code with the
        verifier and validate the id_token (signature, ``iss``, ``aud``, ``exp``, ``nonce``)."""
        return await self._run(self.ops.complete(callback_url, request))

    async def exchange_code(self, code: str, request: AuthorizationRequest) -> TokenSet:
        """Redeem a code obtained some other way (after your own callback checks) with the
        attempt's verifier; the id_token is validated as in ``complete``."""
        return await self._run(self.ops.exchange_code(code, request))

    async def device_authorization(self,
                                   scope: str | None = None) -> DeviceAuthorizationResponse:
        """Start a device grant (RFC 8628 §3.1): show ``verification_uri`` and ``user_code``
        to the person, then ``poll_device``."""
        return await self._run(self.ops.device_authorization(scope))

    async def poll_device(self, device: DeviceAuthorizationResponse, *,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> TokenSet:
        """Poll at the interval until the user approves (RFC 8628 §3.5); OAuthClientError on
        ``access_denied``, ``expired_token`` or once ``expires_in`` is spent."""
        polling = DevicePolling(device)
        while True:
            await sleep(polling.next_wait())
            tokens = await self._run(self.ops.device_poll(device, polling))
            if tokens is not None:
                return tokens

    async def refresh(self, refresh_token: str | TokenSet,
                      scope: str | None = None) -> TokenSet:
        """Refresh; pass the TokenSet to have a new id_token checked against the original
        (same ``iss`` and ``sub``, OIDC Core §12.2): OAuthClientError if it differs."""
        return await self._run(self.ops.refresh(refresh_token, scope))

    async def revoke(self, token: str, hint: str | None = None) -> None:
        """Revoke a token at the provider (RFC 7009); ``hint`` is ``refresh_token`` or
        ``access_token``. Revoking a refresh token ends its whole grant at proofkey."""
        await self._run(self.ops.revoke(token, hint))

    async def userinfo(self, access_token: str | TokenSet,
                       expected_subject: str | None = None) -> dict[str, Any]:
        """The userinfo claims for ``access_token``; with ``expected_subject``, an
        ``OAuthClientError`` if they are about someone else (OIDC Core §5.3.2)."""
        return await self._run(self.ops.userinfo(access_token, expected_subject))

    async def request(self, method: str, url: str, token: str | TokenSet, *,
                      headers: Mapping[str, str] | None = None,
                      content: bytes | str | None = None, data: Mapping[str, Any] | None = None,
                      json: Any = None, params: Mapping[str, str] | None = None
                      ) -> httpx.Response:
        """Call an API with the access token: ``Authorization: DPoP`` plus a proof for a
        DPoP-bound token (retried once with the API's nonce if it asks), else ``Bearer``."""
        return await self._run(self.ops.request(method, url, token, headers=headers,
                                                content=content, data=data, json=json,
                                                params=params))

    @property
    def dpop_key(self) -> DpopKey | None:
        """The DPoP key in use (None until DPoP was first used, or when it is off)."""
        return self.ops.dpop.key

    async def aclose(self) -> None:
        """Close the HTTP connections (also done by leaving an ``async with`` block)."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncOAuthClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
