"""A scripted issuer for the kit's unit tests: metadata and JWKS over an httpx mock transport,
real keys (EC P-256, RSA 2048, Ed25519) made with joserfc, tokens signed with them.

The issuer counts its JWKS requests, can rotate to a new key, fail, answer slowly or with an
oversize body; ``Clock`` is the verifier's wall clock and monotonic clock, moved by tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from proofkey.protocol.dpop import access_token_hash, jwk_thumbprint
from proofkey.resource import TokenVerifier

ISSUER = "https://issuer.example"
AUDIENCE = "https://api.example/mcp"
JWKS_URI = "https://issuer.example/keys"

Key = ECKey | RSAKey | OKPKey
ALG_KEYS: dict[str, str] = {"ES256": "ec", "RS256": "rsa", "PS256": "rsa", "EdDSA": "ed",
                            "Ed25519": "ed"}


def new_key(kind: str, kid: str) -> Key:
    params = {"kid": kid}
    if kind == "ec":
        return ECKey.generate_key("P-256", parameters=params)
    if kind == "rsa":
        return RSAKey.generate_key(2048, parameters=params)
    return OKPKey.generate_key("Ed25519", parameters=params)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {"iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": now + 300,
                            "iat": now, "jti": "jti-1", "client_id": "app", "scope": "mcp:tools"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sign(key: Key, alg: str = "ES256", *, typ: str | None = "at+jwt",
         kid: str | None = "default", **overrides: Any) -> str:
    header: dict[str, Any] = {"alg": alg}
    if typ is not None:
        header["typ"] = typ
    if kid is not None:
        header["kid"] = kid
    payload = json.dumps(claims(**overrides)).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA is deprecated via RFC 9864"
        return jws.serialize_compact(header, payload, key, algorithms=[alg])


def unsigned(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(body).encode()),
                     b64(signature)])


_CHALLENGE_PART = re.compile(r'\s*(?:(\w+)="([^"]*)"|([A-Za-z]+))\s*,?')


def challenges(header: str) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` as {scheme: {param: value}}; a scheme name inside a quoted value
    (an error description) is never taken for a new challenge."""
    parsed: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    pos = 0
    while pos < len(header):
        match = _CHALLENGE_PART.match(header, pos)
        assert match is not None, header[pos:]
        assert match.end() > pos, header[pos:]
        if match.group(3):
            current = parsed.setdefault(match.group(3), {})
        else:
            assert current is not None
            current[match.group(1)] = match.group(2)
        pos = match.end()
    return parsed


def dpop_proof(key: Key, *, method: str = "GET", url: str = f"{AUDIENCE}",
               token: str | None = None, alg: str = "ES256",
               header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A DPoP proof (RFC 9449 §4.2) signed by ``key``; ``token`` sets ``ath``; ``claims``
    override or (with None) drop the defaults."""
    body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url,
                            "iat": int(time.time())}
    if token is not None:
        body["ath"] = access_token_hash(token)
    body.update(claims)
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False),
                 **(header or {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact(protected, json.dumps(
            {k: v for k, v in body.items() if v is not None}), key, algorithms=[alg])


def thumbprint(key: Key) -> str:
    return jwk_thumbprint(key.as_dict(private=False))


class Clock:
    """Wall time and monotonic time with one offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Issuer:
    """The scripted authorization server behind the mock transport."""

    keys: list[Key]
    metadata_path: str = "/.well-known/oauth-authorization-server"
    jwks_requests: int = 0
    metadata_requests: int = 0
    fail: bool = False
    delay: float = 0.0
    jwks_override: bytes | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("the issuer is down", request=request)
        if request.url.path == self.metadata_path:
            self.metadata_requests += 1
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URI,
                                             **self.extra_metadata})
        if request.url.path == "/keys":
            self.jwks_requests += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.jwks_override is not None:
                return httpx.Response(200, content=self.jwks_override)
            return httpx.Response(200, json=self.jwks())
        return httpx.Response(404)


@pytest.fixture(scope="session")
def ec_key() -> Key:
    return new_key("ec", "default")


@pytest.fixture
def issuer(ec_key: Key) -> Issuer:
    return Issuer([ec_key])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def verifier(issuer: Issuer, clock: Clock) -> AsyncIterator[TokenVerifier]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
    async with http:
        yield TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http, clock=clock.wall,
                            monotonic=clock.monotonic)
