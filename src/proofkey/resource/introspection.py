"""Ask the issuer whether a token is active (RFC 7662), for APIs that must see revocation.

A JWT verified locally stays valid until it expires, whatever happened to its grant since;
introspection asks the authorization server each time (the resource server authenticates with
its own client credentials, RFC 7662 §2.1, sent as HTTP Basic, RFC 6749 §2.3.1). An active
answer is kept for ``cache_seconds`` (never past the token's ``exp``), so a revoked token is
refused within that time; the cache is keyed by the token's SHA-256, never the token, and holds
at most ``cache_size`` entries. Inactive answers are not kept. The answer is checked like a
JWT's claims: ``iss`` (when given), ``aud`` naming this resource, ``exp``, ``nbf``, scopes;
a DPoP-bound token (the answer's ``cnf.jkt``, RFC 9449 §6.2) needs its proof, as with a JWT.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import quote

import httpx

from .binding import BEARER, DpopPolicy, Presentation
from .claims import AccessTokenClaims, check_claims, check_scopes
from .errors import InvalidTokenError, VerifierUnavailable
from .fetch import (
    DEFAULT_TIMEOUT,
    MAX_DOCUMENT_BYTES,
    FetchError,
    configured_url,
    discover,
    endpoint,
    read_json,
)
from .verifier import DEFAULT_LEEWAY

__all__ = ["IntrospectionVerifier"]

MAX_TOKEN_CHARS = 8192


class IntrospectionVerifier:
    """Verifies any token ``issuer`` issued for ``audience`` by asking its introspection
    endpoint, authenticated as the confidential client ``client_id``."""

    def __init__(self, *, issuer: str, audience: str, client_id: str, client_secret: str,
                 introspection_endpoint: str | None = None, cache_seconds: float = 10.0,
                 cache_size: int = 10_000, leeway: int = DEFAULT_LEEWAY,
                 max_bytes: int = MAX_DOCUMENT_BYTES, http: httpx.AsyncClient | None = None,
                 dpop: DpopPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not audience:
            raise ValueError("audience (this resource's identifier) is required")
        self.issuer = configured_url(issuer)
        self.audience = audience
        # RFC 6749 §2.3.1: each part form-encoded before the Basic encoding.
        basic = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(basic.encode()).decode("ascii")
        self._endpoint = (None if introspection_endpoint is None
                          else configured_url(introspection_endpoint))
        self.cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[float, AccessTokenClaims]] = OrderedDict()
        self.leeway = leeway
        self.dpop = dpop if dpop is not None else DpopPolicy()
        self._max_bytes = max_bytes
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._clock = clock
        self.requests = 0  # introspection requests made

    async def verify(self, token: str, *, required_scopes: Collection[str] = (),
                     presentation: Presentation = BEARER) -> AccessTokenClaims:
        """The token's checked claims, from the cache or the issuer; a ``BearerTokenError``
        subclass says why not. ``presentation`` says how it arrived (``Bearer`` by default)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("the access token is malformed")
        now = self._clock()
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            claims = cached[1]
        else:
            self._cache.pop(key, None)
            claims = await self._introspect(token, now)
            self._remember(key, claims, now)
        await self.dpop.check(claims, token, presentation, now=now)
        check_scopes(claims, required_scopes)
        return claims

    async def _introspect(self, token: str, now: float) -> AccessTokenClaims:
        try:
            if self._endpoint is None:
                metadata = await discover(self._http, self.issuer, max_bytes=self._max_bytes)
                self._endpoint = endpoint(metadata, "introspection_endpoint")
            self.requests += 1
            status, body = await read_json(self._http, httpx.Request(
                "POST", self._endpoint, data={"token": token, "token_type_hint": "access_token"},
                headers={"Accept": "application/json", "Authorization": self._authorization}),
                max_bytes=self._max_bytes)
        except FetchError:
            raise VerifierUnavailable("the introspection endpoint is unreachable") from None
        if status != 200 or not isinstance(body, dict):
            # 401 here means the resource server's own credentials were refused.
            raise VerifierUnavailable(f"the introspection endpoint answered {status}")
        if body.get("active") is not True:
            raise InvalidTokenError("the access token is not active")
        raw: dict[str, Any] = {"iss": self.issuer, **body}  # RFC 7662 §2.2: iss is optional
        return check_claims(raw, issuer=self.issuer, audience=self.audience, now=now,
                            leeway=self.leeway, jwt=False)

    def _remember(self, key: bytes, claims: AccessTokenClaims, now: float) -> None:
        until = now + self.cache_seconds
        if claims.exp is not None:
            until = min(until, claims.exp)
        if until <= now:
            return
        self._cache[key] = (until, claims)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def aclose(self) -> None:
        """Close the HTTP client if the verifier made it."""
        if self._owns_http:
            await self._http.aclose()
