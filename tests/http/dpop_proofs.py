"""DPoP proofs (RFC 9449 §4.2) for the token endpoint tests: a client key that signs them, and
the token requests that carry them, over HTTP against the real app."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from typing import Any, cast

import httpx
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey

from proofkey.protocol.dpop import jwk_thumbprint
from tests.helpers import ISSUER, PUBLIC_ID, Flow
from tests.http.test_token_code_grant import app_services

TOKEN_URL = f"{ISSUER}/token"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_now(http: httpx.AsyncClient) -> int:
    """The running app's time (its TestClock may have been moved forward)."""
    return int(app_services(http).ctx.clock())


class Prover:
    """A client's DPoP key; ``proof()`` signs a fresh proof for the token endpoint."""

    def __init__(self, key: Any = None, alg: str = "ES256") -> None:
        self.key = key if key is not None else ECKey.generate_key("P-256")
        self.alg = alg

    @property
    def jkt(self) -> str:
        return jwk_thumbprint(self.key.as_dict(private=False))

    def proof(self, *, iat: int, htm: str = "POST", htu: str = TOKEN_URL,
              jti: str | None = None, header: dict[str, Any] | None = None,
              **claims: Any) -> str:
        body = {"jti": jti or uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": iat, **claims}
        protected = {"typ": "dpop+jwt", "alg": self.alg,
                     "jwk": self.key.as_dict(private=False), **(header or {})}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            return jws.serialize_compact(protected, json.dumps(body), self.key,
                                         algorithms=[self.alg])


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with any header and signature bytes (never produced by a real signer)."""
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(signature)))


def code_data(flow: Flow, code: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "client_id": flow.client_id, "code_verifier": flow.verifier}


def refresh_data(refresh_token: str, client_id: str = PUBLIC_ID) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": client_id}


async def post_token(http: httpx.AsyncClient, data: dict[str, str], *proofs: str,
                     auth: tuple[str, str] | None = None,
                     headers: dict[str, str] | None = None) -> httpx.Response:
    """POST /token with one ``DPoP`` header per proof (none, one, or several)."""
    sent = [("DPoP", p) for p in proofs] + list((headers or {}).items())
    return await http.post("/token", data=data, headers=sent,
                           auth=auth or httpx.USE_CLIENT_DEFAULT)


def claims_of(access_token: str) -> dict[str, Any]:
    """The access token's claims, unverified (the tests only read ``cnf``)."""
    payload = access_token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(padded)))


