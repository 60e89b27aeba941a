"""The checker's client side: discover the provider (RFC 8414 §3, OIDC Discovery §4), run
authorization requests through a navigator, call the token endpoint, and remember every secret
seen so that evidence never shows one.

The probe is a plain OAuth client with a few knobs a well-behaved client would not turn (drop
the challenge, send a wrong verifier, replay a code). Every token response is recorded with the
secrets its request carried, for the echo check at the end of the battery.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from proofkey.protocol import pkce
from proofkey.sdk.core import ProviderMetadata

from .login_driver import AuthzOutcome, Navigator

__all__ = ["Attempt", "CheckConfig", "Exchange", "NoCode", "Probe", "TokenReply", "lands_on",
           "origin_of"]

MASK = "«masked»"
_SECRET_PARAMS = frozenset({"code", "code_verifier", "client_secret", "refresh_token"})
# A state made of every VSCHAR class that needs care in a URL (RFC 6749 Appendix A.5).
_STATE_TAIL = " +/?&=%#~!$'()*,;:@[]"


Waiter = Callable[[str, float], Awaitable[None]]


async def plain_wait(label: str, seconds: float) -> None:
    """Wait ``seconds`` for the check ``label``, silently (tools show progress instead)."""
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """What the battery is pointed at. ``code_lifetime`` is the longest code lifetime the slow
    check accepts (RFC 6749 §4.1.2 recommends at most 10 min); ``timeout`` bounds each request
    and ``budget`` the whole battery (the slow check's wait comes on top); ``waiter`` does a
    check's long waits (the CLI's shows a progress bar with the time left)."""

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    scope: str = "openid"
    slow: bool = False
    code_lifetime: int = 600
    timeout: float = 10.0
    concurrency: int = 10
    budget: float = 300.0
    waiter: Waiter = field(default=plain_wait, repr=False, compare=False)


class NoCode(Exception):
    """An ordinary authorization request did not produce a code; the check is inconclusive."""


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def lands_on(url: str, target: str) -> bool:
    """Same scheme, host, port and exact path: the user agent would open ``target``."""
    return (origin_of(url) == origin_of(target)
            and urlsplit(url).path == urlsplit(target).path)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One authorization request: the client's secrets and where the user agent ended."""

    label: str
    verifier: str = field(repr=False)
    challenge: str
    state: str
    redirect_uri: str
    outcome: AuthzOutcome

    @property
    def landed(self) -> bool:
        """The provider sent the user agent to the redirect URI this request asked for."""
        redirect = self.outcome.redirect
        return redirect is not None and lands_on(redirect, self.redirect_uri)

    @property
    def query(self) -> dict[str, str]:
        return self.outcome.query if self.landed else {}

    @property
    def code(self) -> str | None:
        return self.query.get("code")


@dataclass(frozen=True, slots=True)
class TokenReply:
    status: int
    body: Mapping[str, Any] | None = field(repr=False)
    headers: httpx.Headers = field(repr=False)
    text: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance((self.body or {}).get("access_token"), str)

    @property
    def error(self) -> str | None:
        value = (self.body or {}).get("error")
        return str(value) if value is not None else None

    def get(self, name: str) -> str | None:
        value = (self.body or {}).get(name)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Exchange:
    """A token-endpoint call kept for the echo check: what was sent, what came back."""

    label: str
    sent: tuple[tuple[str, str], ...] = field(repr=False)
    reply: TokenReply


class Probe:
    """The battery's shared client state; checks call its methods and read its records."""

    def __init__(self, config: CheckConfig, navigator: Navigator, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.transport = transport
        self.http = self.new_http()
        self.navigator = navigator
        self.raw_metadata: Mapping[str, Any] = {}
        self._metadata: ProviderMetadata | None = None
        self.redirects: list[Attempt] = []
        self.exchanges: list[Exchange] = []
        self.baseline: tuple[Attempt, TokenReply] | None = None
        self._secrets: set[str] = set()
        self.remember(config.client_secret)

    def new_http(self, connections: int = 10) -> httpx.AsyncClient:
        """A client of its own (the client application's, not the user agent's)."""
        return httpx.AsyncClient(
            transport=self.transport, timeout=httpx.Timeout(self.config.timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections))

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            raise NoCode("the provider's metadata is not known")
        return self._metadata

    def use_metadata(self, data: Mapping[str, Any]) -> None:
        self.raw_metadata = data
        self._metadata = ProviderMetadata.from_json({**data, "issuer": self.config.issuer},
                                                    self.config.issuer)

    # --- secrets -------------------------------------------------------------------------
    def remember(self, *values: str | None) -> None:
        self._secrets.update(v for v in values if v and len(v) >= 6)

    def redact(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    # --- authorization endpoint ----------------------------------------------------------
    def new_state(self) -> str:
        return f"pk.{secrets.token_urlsafe(9)}{_STATE_TAIL}"

    def provider_origins(self) -> set[tuple[str, str, int | None]]:
        urls = [self.config.issuer]
        if self._metadata is not None:
            urls.append(self._metadata.authorization_endpoint)
        return {origin_of(u) for u in urls}

    async def authorize(self, label: str, *, redirect_uri: str | None = None,
                        verifier: str | None = None, **overrides: str | None) -> Attempt:
        """Send the user agent to the authorization endpoint with a fresh S256 pair and
        state; ``overrides`` replace parameters (``None`` drops one)."""
        verifier = verifier or pkce.new_verifier()
        challenge = pkce.challenge_s256(verifier)
        self.remember(verifier)
        target = redirect_uri or self.config.redirect_uri
        state = self.new_state()
        params: dict[str, str | None] = {
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": target, "scope": self.config.scope, "state": state,
            "code_challenge": challenge, "code_challenge_method": pkce.S256}
        if "openid" in self.config.scope.split():
            params["nonce"] = secrets.token_urlsafe(16)
        params.update(overrides)
        endpoint = self.metadata.authorization_endpoint
        query = urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{endpoint}{'&' if urlsplit(endpoint).query else '?'}{query}"
        origins = self.provider_origins()
        registered = self.config.redirect_uri

        def stop(candidate: str) -> bool:
            if lands_on(candidate, target) or lands_on(candidate, registered):
                return True
            return origin_of(candidate) not in origins

        outcome = await self.navigator.authorize(url, stop)
        attempt = Attempt(label, verifier, challenge, state, target, outcome)
        if attempt.landed:
            self.remember(attempt.code)
            self.redirects.append(attempt)
        return attempt

    async def code(self, label: str, **kwargs: Any) -> Attempt:
        """An ordinary authorization that must yield a code (else ``NoCode``)."""
        attempt = await self.authorize(label, **kwargs)
        if attempt.code is None:
            raise NoCode(f"no code came back: {self.redact(describe(attempt))}")
        return attempt

    # --- token endpoint ------------------------------------------------------------------
    async def token(self, label: str, form: Mapping[str, str], *,
                    http: httpx.AsyncClient | None = None) -> TokenReply:
        data = dict(form)
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if self.config.client_secret is None:
            data["client_id"] = self.config.client_id
        elif self._auth_method() == "client_secret_post":
            data.update(client_id=self.config.client_id, client_secret=self.config.client_secret)
        else:
            auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret)
        response = await (http or self.http).post(
            self.metadata.token_endpoint, data=data, headers=headers,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        try:
            body = response.json()
        except ValueError:
            body = None
        reply = TokenReply(response.status_code, body if isinstance(body, dict) else None,
                           response.headers, response.text)
        if reply.ok:
            self.remember(*(reply.get(k) for k in ("access_token", "refresh_token", "id_token")))
        sent = [(k, v) for k, v in data.items() if k in _SECRET_PARAMS]
        if self.config.client_secret is not None:
            sent.append(("client_secret", self.config.client_secret))
        self.exchanges.append(Exchange(label, tuple(sent), reply))
        return reply

    def _auth_method(self) -> str:
        methods = self.raw_metadata.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "client_secret_basic" not in methods \
                and "client_secret_post" in methods:
            return "client_secret_post"
        return "client_secret_basic"

    async def redeem(self, label: str, attempt: Attempt, *, verifier: str | None = "",
                     http: httpx.AsyncClient | None = None) -> TokenReply:
        """Exchange the attempt's code; ``verifier=""`` sends its own, ``None`` sends none."""
        form = {"grant_type": "authorization_code", "code": attempt.code or "",
                "redirect_uri": attempt.redirect_uri}
        chosen = attempt.verifier if verifier == "" else verifier
        if chosen is not None:
            form["code_verifier"] = chosen
        return await self.token(label, form, http=http)

    # --- token state: is a token still honoured? -----------------------------------------
    async def still_valid(self, reply: TokenReply) -> dict[str, str]:
        """Ask every endpoint that can tell whether the tokens in ``reply`` still work:
        userinfo (OIDC Core §5.3), introspection (RFC 7662), the refresh grant (RFC 6749 §6)."""
        seen: dict[str, str] = {}
        access, refresh = reply.get("access_token"), reply.get("refresh_token")
        endpoint = self.metadata.userinfo_endpoint
        if access and endpoint and "openid" in self.config.scope.split():
            answer = await self.http.get(endpoint, headers={"Authorization": f"Bearer {access}"})
            seen["userinfo"] = _valid_or_revoked(answer.status_code == 200, answer.status_code)
        introspection = self.raw_metadata.get("introspection_endpoint")
        if access and isinstance(introspection, str) and self.config.client_secret:
            answer = await self.http.post(introspection, data={"token": access}, auth=(
                self.config.client_id, self.config.client_secret))
            try:
                active = answer.status_code == 200 and answer.json().get("active") is True
            except (ValueError, AttributeError):
                active = False
            seen["introspection"] = _valid_or_revoked(active, answer.status_code)
        if refresh:
            renewed = await self.token("refresh after replay", {
                "grant_type": "refresh_token", "refresh_token": refresh})
            seen["refresh"] = _valid_or_revoked(renewed.ok, renewed.status)
        return seen


def _valid_or_revoked(valid: bool, status: int) -> str:
    return f"valid ({status})" if valid else f"revoked ({status})"


def describe(attempt: Attempt) -> str:
    """Where an attempt ended, without values: status, redirect target and query keys."""
    outcome = attempt.outcome
    if outcome.redirect is None:
        shown = outcome.note and (outcome.status is None or outcome.status < 400)
        return f"page {outcome.status}" + (f": {outcome.note}" if shown else "")
    where = "redirect_uri" if attempt.landed else "elsewhere"
    if not attempt.landed:
        parts = urlsplit(outcome.redirect)
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    keys = ",".join(sorted(outcome.query)) or "-"
    error = outcome.query.get("error")
    return f"redirect to {where} [{keys}]" + (f" error={error}" if error else "")
