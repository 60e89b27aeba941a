"""A scriptable upstream provider for the cases real ones will not produce on demand: an
id_token for another audience, metadata without PKCE S256, a GitHub-style OAuth 2.0 API.

It is a real ASGI app that the connector reaches through ``create_app(upstream_transport=…)``;
it checks PKCE S256 (with proofkey's own ``protocol.pkce``) and the client's Basic credentials
like a provider would, signs RS256 id_tokens with a key of its own and serves its JWKS.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from proofkey.protocol import pkce

ISSUER = "https://upstream.test"


@dataclass
class FakeUpstream:
    client_id: str
    client_secret: str
    audience: str | None = None  # the id_token's aud; None: the client id
    methods: tuple[str, ...] = ("S256",)  # code_challenge_methods_supported
    send_iss: bool = True  # RFC 9207 (GitHub does not send it)
    swap_challenge: bool = False  # remember another challenge: every verifier then fails
    claims: dict[str, Any] = field(default_factory=lambda: {
        "sub": "u-42", "name": "Ada", "email": "alice@example.com", "email_verified": True})
    github: dict[str, Any] = field(default_factory=lambda: {
        "id": 583231, "login": "octocat", "name": "The Octocat", "email": "octo@example.com"})
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={
        "kid": "k1", "alg": "RS256", "use": "sig"}))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)

    async def metadata(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
            "userinfo_endpoint": f"{ISSUER}/userinfo", "response_types_supported": ["code"],
            "code_challenge_methods_supported": list(self.methods),
            "authorization_response_iss_parameter_supported": True})

    async def authorize(self, request: Request) -> Response:
        """The person approves at once: a code for these parameters."""
        params = dict(request.query_params)
        self.seen.append(params)
        code = secrets.token_urlsafe(16)
        self.codes[code] = params if not self.swap_challenge else {
            **params, "code_challenge": pkce.challenge_s256(pkce.new_verifier())}
        back = {"code": code, "state": params["state"]}
        if self.send_iss:
            back["iss"] = ISSUER
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(back)}", status_code=303)

    def _client_ok(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        params = self.codes.pop(str(form.get("code")), None)
        if not self._client_ok(request):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if (params is None or form.get("redirect_uri") != params["redirect_uri"]
                or pkce.challenge_s256(str(form.get("code_verifier", "")))
                != params.get("code_challenge")):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        body: dict[str, Any] = {"access_token": secrets.token_urlsafe(16),
                                "token_type": "bearer", "expires_in": 600}
        if "openid" in params.get("scope", "").split():
            now = int(time.time())
            body["id_token"] = jwt.encode(
                {"alg": "RS256", "kid": "k1"},
                {"iss": ISSUER, "sub": self.claims["sub"], "aud": self.audience or self.client_id,
                 "iat": now, "exp": now + 300, "nonce": params.get("nonce"), **self.claims},
                self.key)
        return JSONResponse(body)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def userinfo(self, request: Request) -> Response:
        return JSONResponse(dict(self.claims))

    async def github_user(self, request: Request) -> Response:
        return JSONResponse(dict(self.github))

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.metadata),
            Route("/authorize", self.authorize), Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks), Route("/userinfo", self.userinfo),
            Route("/user", self.github_user)])
