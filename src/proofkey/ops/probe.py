"""Synthetic login probe: one full PKCE sign-in against a live provider, timed step by step.

A run is ``discovery → authorize → login → consent (if shown) → token → refresh → revoke``.
The OAuth steps go through ``proofkey.sdk`` (PKCE S256, state, iss and nonce checked, the ID
token validated); the login and consent pages through a cookie-keeping httpx client that reads
the HTML forms as a browser would (hidden fields such as the CSRF token copied, the redirect
URI never fetched). The authorization request is pushed (RFC 9126) when the provider
advertises PAR, unless ``use_par`` is off; an error redirect straight back from the
authorization endpoint fails ``authorize``. ``revoke`` revokes the rotated refresh token and
then checks that it no longer refreshes. Each run ends at its first failed step, which is named.

Results go to a Prometheus ``CollectorRegistry`` of the probe's own, never the process-global
one (the server's metrics live there): served on ``/metrics`` or pushed to a Pushgateway. This
is the one module outside ``observability/metrics.py`` that imports ``prometheus_client``: it
is a separate client-side process with its own metric names (``proofkey_probe_*``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TypeVar
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit
from wsgiref.simple_server import WSGIServer

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    push_to_gateway,
    start_http_server,
)

from proofkey import __version__
from proofkey.ops.login_driver import LoginSettings, Step, parse_forms, plan_step
from proofkey.sdk import AuthorizationRequest, OAuthClient, OAuthClientError, TokenSet

__all__ = ["STEPS", "ProbeConfig", "ProbeMetrics", "RunResult", "StepResult", "run_once"]

STEPS: tuple[str, ...] = ("discovery", "authorize", "login", "consent", "token", "refresh",
                          "revoke")
T = TypeVar("T")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 10


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    issuer: str
    client_id: str
    redirect_uri: str
    username: str
    password: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)
    scope: str = "openid offline_access"
    timeout: float = 10.0
    use_par: bool = True  # RFC 9126 when advertised; False keeps every parameter in the URL


@dataclass(frozen=True, slots=True)
class StepResult:
    step: str
    ok: bool
    seconds: float
    error: str = ""


@dataclass(slots=True)
class RunResult:
    started: float
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and self.steps[-1].step == (
            "revoke")

    @property
    def failure(self) -> StepResult | None:
        return next((s for s in self.steps if not s.ok), None)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


class StepFailed(Exception):
    """A step got an answer it cannot go on with; the message says what it saw."""


class _Abort(Exception):
    """The run stops here; the failed step is already recorded."""


class _Alert(HTMLParser):
    """The text of a page's ``role="alert"`` element (the provider's error message)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self._tag: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if ("role", "alert") in attrs and not self.text:
            self._tag = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._tag:
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            self.text = f"{self.text} {data.strip()}".strip()


def _alert(response: httpx.Response) -> str:
    return _Alert(response.text).text if "html" in response.headers.get(
        "content-type", "") else ""


@dataclass(frozen=True, slots=True)
class _Landing:
    """Where a chain of redirects ended: the client's callback URL, or a page."""

    callback: str | None
    response: httpx.Response | None = None


class _Run:
    def __init__(self, config: ProbeConfig, oauth: OAuthClient, browser: httpx.Client) -> None:
        self.config = config
        self.oauth = oauth
        self.browser = browser
        self.result = RunResult(time.time())
        self.login_settings = LoginSettings(username=config.username, password=config.password)

    def step(self, name: str, work: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            value = work()
        except (StepFailed, OAuthClientError) as exc:
            error = str(exc)
        except Exception as exc:  # transport errors, and anything unforeseen: a failed step
            error = f"{type(exc).__name__}: {exc}"
        else:
            self.result.steps.append(StepResult(name, True, time.perf_counter() - start))
            return value
        self.result.steps.append(StepResult(name, False, time.perf_counter() - start, error))
        raise _Abort

    def is_callback(self, url: str) -> bool:
        base = self.config.redirect_uri.split("#")[0]
        return url == base or url.startswith((f"{base}?", f"{base}#"))

    def follow(self, response: httpx.Response) -> _Landing:
        for _ in range(_MAX_HOPS):
            if response.status_code not in _REDIRECTS:
                return _Landing(None, response)
            target = urljoin(str(response.url), response.headers.get("location", ""))
            if self.is_callback(target):
                return _Landing(target)
            response = self.browser.get(target)
        raise StepFailed(f"more than {_MAX_HOPS} redirects")

    def authorize(self) -> tuple[AuthorizationRequest, _Landing]:
        request = self.oauth.authorization_request()
        landing = self.follow(self.browser.get(request.url))
        if landing.response is not None and landing.response.status_code >= 400:
            alert = _alert(landing.response) or "no sign-in page"
            raise StepFailed(f"HTTP {landing.response.status_code}: {alert}")
        if landing.callback is not None:  # refused before sign-in (RFC 6749 §4.1.2.1)
            refused = parse_qs(urlsplit(landing.callback).query)
            if "error" in refused:
                description = refused.get("error_description", [""])[0]
                raise StepFailed(f"redirected back with error={refused['error'][0]}"
                                 + (f": {description}" if description else ""))
        return request, landing

    def plan(self, landing: _Landing) -> Step | str | None:
        response = landing.response
        if response is None or "html" not in response.headers.get("content-type", ""):
            return None
        return plan_step(parse_forms(response.text, str(response.url)), self.login_settings)

    def submit(self, landing: _Landing, kind: str) -> _Landing:
        """Fill and send the page's ``kind`` form (hidden fields kept); follow the redirects."""
        plan = self.plan(landing)
        response = landing.response
        if not isinstance(plan, Step) or plan.kind != kind or response is None:
            raise StepFailed(_no_form(kind, plan, response))
        body = urlencode(plan.data)
        if plan.form.method == "GET":
            answer = self.browser.get(f"{plan.form.action.partition('?')[0]}?{body}")
        else:
            answer = self.browser.post(plan.form.action, content=body.encode(), headers={
                "Content-Type": "application/x-www-form-urlencoded"})
        if answer.status_code not in _REDIRECTS:
            raise StepFailed(f"{kind} refused (HTTP {answer.status_code}): "
                             f"{_alert(answer) or 'no redirect'}")
        return self.follow(answer)

    def run(self) -> RunResult:
        oauth = self.oauth
        try:
            self.step("discovery", oauth.discover)
            request, landing = self.step("authorize", self.authorize)
            if landing.callback is None and _kind(self.plan(landing)) != "consent":
                landing = self.step("login", lambda: self.submit(landing, "login"))
            if landing.callback is None:  # consent, if the provider asks for it
                landing = self.step("consent", lambda: self.submit(landing, "consent"))
            callback = landing.callback or ""
            tokens = self.step("token", lambda: oauth.complete(callback, request))
            # The TokenSet, not just its refresh token: a new id_token must name the same
            # iss and sub (OIDC Core §12.2).
            refreshed = self.step("refresh", lambda: oauth.refresh(_with_refresh_token(tokens)))
            self.step("revoke", lambda: self._revoke(_refresh_token_of(refreshed)))
        except _Abort:
            pass
        return self.result

    def _revoke(self, refresh_token: str) -> None:
        """Revoke (RFC 7009) and check the token is dead: a refresh must be invalid_grant."""
        self.oauth.revoke(refresh_token, "refresh_token")
        try:
            self.oauth.refresh(refresh_token)
        except OAuthClientError as exc:
            if exc.error == "invalid_grant":
                return
            raise StepFailed(f"after revocation, refresh failed with {exc.error!r}, "
                             "not invalid_grant") from None
        raise StepFailed("the refresh token still works after revocation")


def _no_form(kind: str, plan: Step | str | None, response: httpx.Response | None) -> str:
    reason = plan if isinstance(plan, str) else f"no {kind} form"
    if response is None:
        return reason
    alert = _alert(response)
    where = f"{reason} at {urlsplit(str(response.url)).path} (HTTP {response.status_code})"
    return f"{where}: {alert}" if alert else where


def _kind(plan: Step | str | None) -> str | None:
    return plan.kind if isinstance(plan, Step) else None


def _refresh_token_of(tokens: TokenSet) -> str:
    if not isinstance(tokens.refresh_token, str):
        raise StepFailed("the token response has no refresh_token (is offline_access granted?)")
    return tokens.refresh_token


def _with_refresh_token(tokens: TokenSet) -> TokenSet:
    _refresh_token_of(tokens)
    return tokens


def run_once(config: ProbeConfig, transport: httpx.BaseTransport | None = None) -> RunResult:
    """One probe run; never raises for a provider's failure (the result names the step)."""
    headers = {"User-Agent": f"proofkey-probe/{__version__}"}
    with OAuthClient(config.issuer, config.client_id, config.redirect_uri,
                     client_secret=config.client_secret, scope=config.scope,
                     use_par=config.use_par, transport=transport,
                     timeout=config.timeout) as oauth, httpx.Client(
            transport=transport, timeout=config.timeout, headers=headers,
            follow_redirects=False) as browser:
        return _Run(config, oauth, browser).run()


class ProbeMetrics:
    """The probe's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "proofkey_probe_step_duration_seconds", "Time one probe step took.", ["step"],
            registry=self.registry, buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.step_success = Gauge(
            "proofkey_probe_step_success",
            "1 if the step succeeded in the last run; 0 if it failed or was not reached.",
            ["step"], registry=self.registry)
        self.runs = Counter("proofkey_probe_runs", "Probe runs by outcome.", ["outcome"],
                            registry=self.registry)
        self.success = Gauge("proofkey_probe_success",
                             "1 if the last run completed every step.", registry=self.registry)
        self.last_run = Gauge("proofkey_probe_last_run_timestamp_seconds",
                              "When the last run started (Unix time).", registry=self.registry)
        self.run_duration = Gauge("proofkey_probe_run_duration_seconds",
                                  "Total time of the last run.", registry=self.registry)
        for outcome in ("success", "failure"):
            self.runs.labels(outcome)

    def record(self, result: RunResult) -> None:
        seen = {s.step for s in result.steps}
        for s in result.steps:
            self.duration.labels(s.step).observe(s.seconds)
            self.step_success.labels(s.step).set(1 if s.ok else 0)
        for step in STEPS:
            if step not in seen and not result.ok:
                self.step_success.labels(step).set(0)
        self.runs.labels("success" if result.ok else "failure").inc()
        self.success.set(1 if result.ok else 0)
        self.last_run.set(result.started)
        self.run_duration.set(result.seconds)

    def text(self) -> str:
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int, addr: str) -> tuple[WSGIServer, threading.Thread]:
        return start_http_server(port, addr=addr, registry=self.registry)

    def push(self, gateway: str, job: str, timeout: float = 10.0) -> None:
        push_to_gateway(gateway, job=job, registry=self.registry, timeout=timeout)
