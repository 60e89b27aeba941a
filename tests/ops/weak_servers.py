"""A small OAuth 2.1 provider for the checker's tests: correct by default, with flaws to switch
on one by one, served by uvicorn on loopback in a thread.

Its pages are shaped like node-oidc-provider's ``devInteractions`` rather than proofkey's: the
login form's fields are ``login`` and ``password`` next to a hidden ``_csrf``, and consent is
a separate form with a hidden ``prompt`` input and a single "Continue" button; the interaction
cookie is scoped to the interaction's path. So the checker's login driver is exercised on a
second, different provider.

Flaws (each emulates one real-world mistake):
  plain            accepts code_challenge_method=plain, and a missing method means plain
  no_challenge     issues codes without a code_challenge
  verifier_absent  skips the verifier check when the token request has no code_verifier
  replay           redeems a code any number of times
  prefix_redirect  accepts any redirect URI that starts with a registered one
  no_iss           leaves iss out of authorization responses
  mangled_state    returns state with its last character dropped
  cacheable        sends token responses without Cache-Control: no-store
  echo_secrets     repeats the code and verifier in token error descriptions
  refresh_other_sub  on refresh, returns an id_token for another user (OIDC Core §12.2)

With ``openid`` in the scope it issues ES256 id_tokens (keys at ``/jwks``).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from proofkey.protocol import pkce

FLAWS = frozenset({"plain", "no_challenge", "verifier_absent", "replay", "prefix_redirect",
                   "no_iss", "mangled_state", "cacheable", "echo_secrets", "refresh_other_sub"})
PUBLIC_CLIENT = "weak-native"
CONFIDENTIAL_CLIENT = "weak-web"
CONFIDENTIAL_SECRET = "weak-web-secret-0123456789abcdef"
REDIRECT = "http://127.0.0.1/callback"
USER, PASSWORD = "alice", "wonderland-password-123"


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: float
    used: bool = False
    tokens: list[str] = field(default_factory=list)
    nonce: str | None = None
    openid: bool = False


@dataclass
class Provider:
    """The provider's state; ``issued`` keeps every code and token it handed out."""

    issuer: str
    flaws: frozenset[str] = frozenset()
    code_ttl: float = 60.0
    codes: dict[str, Code] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    consents: set[tuple[str, str]] = field(default_factory=set)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", {"kid": "weak-1"}))
    openid_refresh: set[str] = field(default_factory=set)  # refresh tokens of openid grants

    def id_token(self, client_id: str, *, nonce: str | None, sub: str = USER) -> str:
        now = int(time.time())
        claims: dict[str, object] = {"iss": self.issuer, "sub": sub, "aud": client_id,
                                     "iat": now, "exp": now + 300}
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "ES256", "kid": "weak-1"}, claims, self.key)

    def __post_init__(self) -> None:
        unknown = self.flaws - FLAWS
        assert not unknown, unknown

    def redirect_ok(self, client_id: str, uri: str) -> bool:
        registered = REDIRECT
        if uri == registered or ("prefix_redirect" in self.flaws and uri.startswith(registered)):
            return True
        parts = urlsplit(uri)  # RFC 8252 §7.3: loopback IP, any port, for the public client
        return (client_id == PUBLIC_CLIENT and parts.scheme == "http"
                and parts.hostname == "127.0.0.1" and parts.path == "/callback"
                and not parts.query)

    def back(self, params: dict[str, str], **values: str) -> RedirectResponse:
        state = params.get("state")
        if state is not None and "mangled_state" in self.flaws:
            state = state[:-1]
        if state is not None:
            values["state"] = state
        if "no_iss" not in self.flaws:
            values["iss"] = self.issuer
        uri = params["redirect_uri"]
        return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{urlencode(values)}", 303)

    def issue_code(self, params: dict[str, str]) -> RedirectResponse:
        code = secrets.token_urlsafe(32)
        self.issued.append(code)
        self.codes[code] = Code(params["client_id"], params["redirect_uri"],
                                params.get("code_challenge"), params.get("method", "S256"),
                                time.monotonic() + self.code_ttl, nonce=params.get("nonce"),
                                openid="openid" in params.get("scope", "").split())
        return self.back(params, code=code)

    def pkce_problem(self, params: dict[str, str]) -> str | None:
        challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
        if challenge is None:
            return None if "no_challenge" in self.flaws else "code_challenge is required"
        if method is None and "plain" in self.flaws:
            method = "plain"  # RFC 7636 §4.3
        if method == "plain" and "plain" in self.flaws:
            params["method"] = "plain"
            return None if pkce.is_valid_verifier(challenge) else "bad plain challenge"
        if method != "S256":
            return "code_challenge_method must be S256"
        return None if pkce.is_valid_challenge(challenge) else "malformed code_challenge"


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>{title}</title><h1>{title}</h1>{body}", status,
                        headers={"Cache-Control": "no-store"})


def build_app(provider: Provider) -> Starlette:
    p = provider

    async def metadata(request: Request) -> Response:
        return JSONResponse({
            "issuer": p.issuer, "authorization_endpoint": f"{p.issuer}/auth",
            "token_endpoint": f"{p.issuer}/token", "userinfo_endpoint": f"{p.issuer}/me",
            "jwks_uri": f"{p.issuer}/jwks", "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"], "response_types_supported": ["code"],
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"]})

    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        client_id, uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id not in {PUBLIC_CLIENT, CONFIDENTIAL_CLIENT} or not p.redirect_ok(
                client_id, uri):
            return _page("Invalid request", "<p>unknown client or redirect_uri</p>", 400)
        if params.get("response_type") != "code":
            return p.back(params, error="unsupported_response_type")
        problem = p.pkce_problem(params)
        if problem is not None:
            return p.back(params, error="invalid_request", error_description=problem)
        sid = request.cookies.get("sid")
        if sid in p.sessions and (sid, client_id) in p.consents:
            return p.issue_code(params)
        uid = secrets.token_urlsafe(12)
        p.pending[uid] = {**params, "csrf": secrets.token_urlsafe(16)}
        response = RedirectResponse(f"/interaction/{uid}", 303)
        response.set_cookie("_interaction", uid, path=f"/interaction/{uid}", httponly=True)
        return response

    def pending_of(request: Request) -> dict[str, str] | None:
        uid = request.path_params["uid"]
        if request.cookies.get("_interaction") != uid:
            return None
        return p.pending.get(uid)

    async def interaction(request: Request) -> Response:
        pending, uid = pending_of(request), request.path_params["uid"]
        if pending is None:
            return _page("Session not found", "", 400)
        csrf = f'<input type="hidden" name="_csrf" value="{pending["csrf"]}"/>'
        if "sid" not in pending:
            return _page("Sign-in", f'<form autocomplete="off" action="/interaction/{uid}/login"'
                         f' method="post">{csrf}<input required type="text" name="login" '
                         'placeholder="Enter any login" autofocus="on"/><input required '
                         'type="password" name="password" placeholder="and password"/>'
                         '<button type="submit" class="login login-submit">Sign-in</button>'
                         f'</form><a href="/interaction/{uid}/abort">[ Cancel ]</a>')
        client = escape(pending["client_id"])
        return _page("Authorize", f"<p>{client} asks for access</p><form autocomplete=off "
                     f'action="/interaction/{uid}/confirm" method="post">{csrf}'
                     '<input type="hidden" name="prompt" value="consent"/><button autofocus '
                     'type="submit" class="login login-submit">Continue</button></form>'
                     f'<a href="/interaction/{uid}/abort">[ Cancel ]</a>')

    async def login(request: Request) -> Response:
        pending, form = pending_of(request), await _form(request)
        if pending is None or form.get("_csrf") != pending["csrf"]:
            return _page("Forbidden", "", 403)
        if form.get("login") != USER or form.get("password") != PASSWORD:
            return await interaction(request)
        sid = secrets.token_urlsafe(16)
        p.sessions.add(sid)
        pending["sid"] = sid
        response = RedirectResponse(f"/interaction/{request.path_params['uid']}", 303)
        response.set_cookie("sid", sid, path="/", httponly=True, samesite="lax")
        return response

    async def confirm(request: Request) -> Response:
        pending, form = pending_of(request), await _form(request)
        if pending is None or "sid" not in pending or form.get("_csrf") != pending["csrf"]:
            return _page("Forbidden", "", 403)
        p.consents.add((pending["sid"], pending["client_id"]))
        del p.pending[request.path_params["uid"]]
        return p.issue_code(pending)

    async def token(request: Request) -> Response:
        form = await _form(request)
        p.received.extend(v for k, v in form.items() if k in {"code", "code_verifier"})
        client_id = form.get("client_id")
        auth = request.headers.get("authorization")
        if auth is not None:  # client_secret_basic, for the confidential client
            expected = "Basic " + base64.b64encode(
                f"{CONFIDENTIAL_CLIENT}:{CONFIDENTIAL_SECRET}".encode()).decode()
            if not hmac.compare_digest(auth, expected):
                return _error("invalid_client", "bad client credentials", 401)
            client_id = CONFIDENTIAL_CLIENT
        elif client_id != PUBLIC_CLIENT:
            return _error("invalid_client", "unknown client", 401)
        if form.get("grant_type") == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in p.active:
                return _error("invalid_grant", "refresh token is not active")
            p.active.discard(refresh)  # rotation
            if refresh not in p.openid_refresh:
                return _tokens(p, [])
            sub = "mallory" if "refresh_other_sub" in p.flaws else USER
            return _tokens(p, [], id_token=p.id_token(client_id or "", nonce=None, sub=sub))
        code_value = form.get("code", "")
        code = p.codes.get(code_value)
        if code is None or code.expires_at < time.monotonic() or code.client_id != client_id:
            return _error("invalid_grant", "invalid or expired code")
        if code.used and "replay" not in p.flaws:
            p.active.difference_update(code.tokens)  # RFC 6749 §4.1.2: revoke what it issued
            return _error("invalid_grant", "code already used")
        code.used = True  # no await between the check and this line: single use holds
        if form.get("redirect_uri") != code.redirect_uri:
            return _error("invalid_grant", "redirect_uri mismatch")
        problem = _verifier_problem(p, code, form.get("code_verifier"))
        if problem is not None:
            if "echo_secrets" in p.flaws:
                problem += f" (code {code_value}, verifier {form.get('code_verifier')})"
            error, description = problem.split(":", 1)
            return _error(error, description)
        if code.openid:
            return _tokens(p, code.tokens, id_token=p.id_token(code.client_id, nonce=code.nonce))
        return _tokens(p, code.tokens)

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [p.key.as_dict(private=False)]})

    async def userinfo(request: Request) -> Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in p.active:
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse({"sub": USER})

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", metadata),
        Route("/auth", authorize),
        Route("/interaction/{uid}", interaction),
        Route("/interaction/{uid}/login", login, methods=["POST"]),
        Route("/interaction/{uid}/confirm", confirm, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/me", userinfo),
        Route("/jwks", jwks),
    ])


def _verifier_problem(p: Provider, code: Code, verifier: str | None) -> str | None:
    if verifier is None:
        if code.challenge is None or "verifier_absent" in p.flaws:
            return None
        return "invalid_request:code_verifier is required"
    if code.challenge is None:
        return "invalid_grant:code_verifier without code_challenge"
    expected = verifier if code.method == "plain" else pkce.challenge_s256(verifier)
    if not hmac.compare_digest(expected.encode(), code.challenge.encode()):
        return "invalid_grant:PKCE verification failed"
    return None


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status,
                        headers={"Cache-Control": "no-store"})


def _tokens(p: Provider, issued_with: list[str], id_token: str | None = None) -> JSONResponse:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    p.active.update((access, refresh))
    p.issued += [access, refresh]
    issued_with += [access, refresh]
    headers = {} if "cacheable" in p.flaws else {"Cache-Control": "no-store"}
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer",
                               "expires_in": 300, "refresh_token": refresh}
    if id_token is not None:
        body["id_token"] = id_token
        p.openid_refresh.add(refresh)
    return JSONResponse(body, headers=headers)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_provider(flaws: frozenset[str] | set[str] = frozenset(),
                   code_ttl: float = 60.0) -> Iterator[Provider]:
    """Run a provider with ``flaws`` on a loopback port for the length of a ``with`` block."""
    port = _free_port()
    provider = Provider(f"http://127.0.0.1:{port}", frozenset(flaws), code_ttl)
    config = uvicorn.Config(build_app(provider), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"weak-provider-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the provider's server thread died"
        assert time.monotonic() < deadline, "the provider did not start within 10 s"
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = ["CONFIDENTIAL_CLIENT", "CONFIDENTIAL_SECRET", "FLAWS", "PASSWORD", "PUBLIC_CLIENT",
           "REDIRECT", "USER", "Provider", "build_app", "serve_provider"]
