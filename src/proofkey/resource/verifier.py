"""Verify a JWT access token (RFC 9068 §4) the way a resource server must, in one ordered list.

1. Parse the compact JWS once, bounded (``protocol.compact``: size, segments, JSON depth,
   duplicate members, ``crit``). An oversize or malformed token is ``invalid_token``.
2. ``typ`` is ``at+jwt`` (RFC 9068 §4: the resource server "MUST verify that the typ header
   value is at+jwt or application/at+jwt"; media types compare case-insensitively, RFC 7515
   §4.1.9), so an ID token or any other JWT of the issuer is refused.
3. ``alg`` is on the allow-list of asymmetric algorithms (RFC 8725 §3.1): never ``none``,
   never HMAC.
4. The key: the issuer's key named by ``kid`` whose type fits ``alg`` (``jwks.KeyCache``).
5. The signature, by joserfc with that one key and that one algorithm.
6. The claims (``claims.check_claims``): ``iss``, ``aud``, ``exp``, ``nbf``, ``iat``, types.
7. How it was presented (``binding.DpopPolicy``): a DPoP-bound token only with the ``DPoP``
   scheme and a valid proof of its key (RFC 9449 §7); a bearer token only as ``Bearer``.
8. The scopes the caller requires.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Protocol

import httpx
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning

from proofkey.errors import InvalidToken
from proofkey.protocol.compact import parse_compact

from .binding import BEARER, DpopPolicy, Presentation
from .claims import AccessTokenClaims, check_claims, check_scopes
from .errors import InvalidTokenError
from .fetch import DEFAULT_TIMEOUT, MAX_DOCUMENT_BYTES, configured_url
from .jwks import KeyCache
from .keys import DEFAULT_ALGORITHMS, allowed_algorithms

__all__ = ["ACCESS_TOKEN_TYPES", "DEFAULT_LEEWAY", "TokenVerifier", "Verifier"]

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
DEFAULT_LEEWAY = 30  # seconds of clock skew tolerated on exp, nbf and iat


class Verifier(Protocol):
    """What the middleware and the MCP adapter need: ``TokenVerifier`` or
    ``IntrospectionVerifier``."""

    issuer: str
    audience: str
    dpop: DpopPolicy

    async def verify(self, token: str, *, required_scopes: Collection[str] = (),
                     presentation: Presentation = BEARER) -> AccessTokenClaims: ...


class TokenVerifier:
    """Verifies the JWT access tokens ``issuer`` issues for ``audience`` (this resource's
    identifier, e.g. ``https://api.example.com/mcp``)."""

    def __init__(self, *, issuer: str, audience: str,
                 algorithms: Iterable[str] = DEFAULT_ALGORITHMS, leeway: int = DEFAULT_LEEWAY,
                 jwks_uri: str | None = None, refresh_interval: float = 30.0,
                 max_age: float = 3600.0, max_bytes: int = MAX_DOCUMENT_BYTES,
                 http: httpx.AsyncClient | None = None, dpop: DpopPolicy | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not audience:
            raise ValueError("audience (this resource's identifier) is required")
        self.issuer = configured_url(issuer)
        self.audience = audience
        self.algorithms = allowed_algorithms(algorithms)
        self.leeway = leeway
        self.dpop = dpop if dpop is not None else DpopPolicy()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._clock = clock
        self.keys = KeyCache(issuer, self._http, jwks_uri=jwks_uri,
                             refresh_interval=refresh_interval, max_age=max_age,
                             max_bytes=max_bytes, clock=monotonic)

    async def verify(self, token: str, *, required_scopes: Collection[str] = (),
                     presentation: Presentation = BEARER) -> AccessTokenClaims:
        """The token's checked claims; a ``BearerTokenError`` subclass says why not.
        ``presentation`` says how it arrived (``Bearer`` unless told otherwise)."""
        try:
            parsed = parse_compact(token)
        except InvalidToken:
            raise InvalidTokenError("the access token is malformed") from None
        header = parsed.header
        if header.typ is None or header.typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidTokenError("the token is not a JWT access token (typ)")
        if header.alg not in self.algorithms:
            raise InvalidTokenError("the access token's algorithm is not accepted")
        key = await self.keys.key_for(header.kid, header.alg)
        try:
            with warnings.catch_warnings():
                # joserfc warns that RFC 9864 deprecates "EdDSA"; it is still on the list.
                warnings.simplefilter("ignore", SecurityWarning)
                jws.deserialize_compact(token, key.key, algorithms=[header.alg])
        except (JoseError, ValueError, TypeError):
            raise InvalidTokenError("the access token's signature is invalid") from None
        now = self._clock()
        claims = check_claims(parsed.claims, issuer=self.issuer, audience=self.audience,
                              now=now, leeway=self.leeway, jwt=True)
        await self.dpop.check(claims, token, presentation, now=now)
        check_scopes(claims, required_scopes)
        return claims

    async def aclose(self) -> None:
        """Close the HTTP client if the verifier made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> TokenVerifier:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()
