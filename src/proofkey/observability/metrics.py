"""Prometheus metrics fed by domain events: the six PKCE SLIs M1–M6 (see docs/metrics.md).

The only module that imports ``prometheus_client``. Every label value comes from a closed set,
so a hostile client cannot grow the number of series: ``client_id`` is one of the first
``max_clients`` registered client ids seen (events carry a client id only once the client is
known to the store), else ``other``, or ``unknown`` when no client was identified; clients
identified by a metadata document (an https URL anyone can mint) all count as
``metadata_document``, so they never take a registered client's place; outcomes,
error codes, grant types and parameter problems are fixed lists, anything else is ``other``.
Child metrics are cached per label tuple, so the hot path is a dict lookup, an ``inc`` and an
``observe``. Each app owns its registry (several apps can live in one process, as in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, get_args

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from proofkey.outcomes import (
    GRANT_TYPES,
    METADATA_OUTCOMES,
    PARAM_PROBLEMS,
    PARAMETERS,
    TOKEN_OUTCOMES,
    UPSTREAM_OUTCOMES,
    DpopRefusal,
    Parameter,
    ParamProblem,
)
from proofkey.protocol.client_id_document import is_metadata_document_id

from .events import (
    AuthorizationFailed,
    AuthorizationStarted,
    ChallengeReused,
    ClientMetadataFetched,
    CodeIssued,
    DpopRefused,
    Event,
    LoginFailed,
    LoginSucceeded,
    LoginThrottled,
    TokenExchanged,
    TokenExchangeFailed,
    TokenRevoked,
    UpstreamExchanged,
)
from .redact import KINDS

__all__ = [
    "AUTH_ERRORS",
    "GRANT_TYPES",
    "OUTCOMES",
    "Metrics",
]

MAX_CLIENT_LABELS = 100
MAX_CONNECTOR_LABELS = 50
OTHER = "other"
UNKNOWN = "unknown"
METADATA_DOCUMENT = "metadata_document"

# M1 outcomes: the closed ``TokenOutcome`` set the token flow emits (proofkey.outcomes).
OUTCOMES = TOKEN_OUTCOMES
DPOP_REFUSALS: frozenset[str] = frozenset(get_args(DpopRefusal))
AUTH_ERRORS = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "invalid_scope", "unauthorized_client",
    "unsupported_grant_type", "unsupported_response_type", "access_denied", "server_error",
    "temporarily_unavailable", "login_required", "consent_required", "interaction_required",
    "request_not_supported", "request_uri_not_supported", "invalid_token", "slow_down",
    "invalid_credentials", "invalid_request_uri", "expired_token", "authorization_pending",
    "invalid_dpop_proof", "use_dpop_nonce",
})
# Authorization request → code: milliseconds when silent, a human's seconds when interactive.
AUTH_START_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
                      30.0, 60.0, 120.0, 300.0, 600.0)
TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _ReadCounter:
    """A counter kept elsewhere (``source()``), read at each scrape."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.source: Callable[[], int] = lambda: 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.source())


def _closed(value: str | None, allowed: frozenset[str]) -> str:
    if value is None:
        return UNKNOWN
    return value if value in allowed else OTHER


class Metrics:
    """Event subscriber that keeps the SLI counters and histograms; ``render()`` scrapes."""

    def __init__(self, *, max_clients: int = MAX_CLIENT_LABELS, version: str = "",
                 process_collectors: bool = True) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self._max_clients = max_clients
        self._clients: set[str] = set()
        self._redaction_listeners: list[Callable[[str], None]] = []
        r = self.registry
        self.token_exchanges = Counter(
            "proofkey_token_exchanges", "M1: token requests by client, grant type and outcome.",
            ["client_id", "grant_type", "outcome"], registry=r)
        self.verifier_mismatches = Counter(
            "proofkey_pkce_verifier_mismatches",
            "M2: code exchanges refused because the PKCE verifier did not match.",
            ["client_id"], registry=r)
        self.auth_start = Histogram(
            "proofkey_auth_start_duration_seconds",
            "M3: time from the authorization request to code issuance, per client.",
            ["client_id"], buckets=AUTH_START_BUCKETS, registry=r)
        self.token_latency = Histogram(
            "proofkey_token_request_duration_seconds",
            "M3: token endpoint processing time by grant type and result.",
            ["grant_type", "result"], buckets=TOKEN_BUCKETS, registry=r)
        self.authorization_requests = Counter(
            "proofkey_authorization_requests",
            "M4 denominator: authorization requests by client and result (started, error).",
            ["client_id", "result"], registry=r)
        self.param_problems = Counter(
            "proofkey_authorization_param_problems",
            "M4: authorization requests with a missing, truncated or mangled PKCE, state or "
            "redirect_uri parameter.", ["client_id", "parameter", "problem"], registry=r)
        self.challenge_reuse = Counter(
            "proofkey_pkce_challenge_reuse",
            "Authorization requests whose code_challenge the client sent before within the "
            "reuse window (a reused PKCE verifier), refused or not.", ["client_id"],
            registry=r)
        self.auth_errors = Counter(
            "proofkey_auth_errors", "M5: errors returned by endpoint and error code.",
            ["endpoint", "error"], registry=r)
        self.redactions = Counter(
            "proofkey_log_redactions",
            "M6: secret-shaped values masked on their way to a log, by kind.", ["kind"],
            registry=r)
        self.logins = Counter("proofkey_logins", "Password logins by result.", ["result"],
                              registry=r)
        self.revocations = Counter("proofkey_revocations",
                                   "Tokens revoked by their client (RFC 7009), by kind.",
                                   ["client_id", "kind"], registry=r)
        self.metadata_fetches = Counter(
            "proofkey_client_metadata_fetches",
            "Client ID metadata documents fetched, by outcome (fetched, refused, or why the "
            "fetch failed).", ["outcome"], registry=r)
        self.upstream_exchanges = Counter(
            "proofkey_upstream_exchanges",
            "M1/M2 for connectors: upstream code exchanges by connector and outcome "
            "(verifier_mismatch: the upstream refused our code and verifier).",
            ["connector", "outcome"], registry=r)
        self._connectors: set[str] = set()
        self.dpop_failures = Counter(
            "proofkey_dpop_failures",
            "Token requests refused for their DPoP proof (RFC 9449), by reason (the closed "
            "DpopRefusal set: malformed, signature, htu, iat, nonce, replay, key_mismatch ...).",
            ["reason"], registry=r)
        self.ratelimit_evictions = _ReadCounter(
            "proofkey_ratelimit_evictions",
            "Rate-limit keys with events still in their window dropped to bound the in-process "
            "limiter's memory (a flood of new keys; see docs/security.md).")
        r.register(self.ratelimit_evictions)
        self.log_lines_dropped = _ReadCounter(
            "proofkey_log_lines_dropped",
            "Log lines a server process dropped instead of waiting: its log queue was full (a "
            "slow reader of stderr or of the audit file) or the write failed (see "
            "docs/operations.md).")
        r.register(self.log_lines_dropped)
        Gauge("proofkey_build_info", "Always 1; the version label names the build.",
              ["version"], registry=r).labels(version or UNKNOWN).set(1)
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}
        for kind in KINDS:  # M6 series exist from the start, so increase() sees the first one
            self.redactions.labels(kind)
        for result in ("success", "failure", "throttled"):
            self.logins.labels(result)
        for reason in sorted(DPOP_REFUSALS):  # a spike alert's increase() sees the first one
            self.dpop_failures.labels(reason)
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            TokenExchanged: self._exchanged,
            TokenExchangeFailed: self._exchange_failed,
            CodeIssued: self._code_issued,
            AuthorizationStarted: self._authorization_started,
            AuthorizationFailed: self._authorization_failed,
            LoginSucceeded: lambda e: self._child(self.logins, "success").inc(),
            LoginFailed: self._login_failed,
            LoginThrottled: self._login_throttled,
            TokenRevoked: self._revoked,
            ChallengeReused: lambda e: self._child(self.challenge_reuse,
                                                   self.client_label(e.client_id)).inc(),
            ClientMetadataFetched: lambda e: self._child(
                self.metadata_fetches, _closed(e.outcome, METADATA_OUTCOMES)).inc(),
            UpstreamExchanged: self._upstream,
            DpopRefused: lambda e: self._child(self.dpop_failures,
                                               _closed(e.reason, DPOP_REFUSALS)).inc(),
        }

    # -- subscriber ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _upstream(self, event: UpstreamExchanged) -> None:
        """Connector names come from the configuration and the database, never from a
        request (the flow emits only for a connector it found); capped all the same."""
        name = event.connector
        if name not in self._connectors and len(self._connectors) < MAX_CONNECTOR_LABELS:
            self._connectors.add(name)
        label = name if name in self._connectors else OTHER
        outcome = event.outcome if event.outcome in UPSTREAM_OUTCOMES else OTHER
        self._child(self.upstream_exchanges, label, outcome).inc()

    def count_redaction(self, kind: str) -> None:
        """M6: called by the redaction layer for every secret-shaped value it masks."""
        self._child(self.redactions, kind if kind in KINDS else OTHER).inc()
        for listener in self._redaction_listeners:
            listener(kind)

    def watch_rate_limiter(self, evictions: Callable[[], int]) -> None:
        """Read the rate limiter's eviction count (``RateLimiter.evictions``) at each scrape."""
        self.ratelimit_evictions.source = evictions

    def watch_log_drops(self, dropped: Callable[[], int]) -> None:
        """Read the process's dropped log line count (``log_writer.lines_dropped``) at each
        scrape."""
        self.log_lines_dropped.source = dropped

    def add_redaction_listener(self, listener: Callable[[str], None]) -> None:
        self._redaction_listeners.append(listener)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

    def client_label(self, client_id: str | None) -> str:
        """A registered client id while fewer than ``max_clients`` were seen, else ``other``."""
        if client_id is None:
            return UNKNOWN
        if is_metadata_document_id(client_id):
            return METADATA_DOCUMENT
        if client_id in self._clients:
            return client_id
        if len(self._clients) < self._max_clients and len(client_id) <= 128:
            self._clients.add(client_id)
            return client_id
        return OTHER

    # -- handlers ------------------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _exchanged(self, event: TokenExchanged) -> None:
        grant = _closed(event.grant_type, GRANT_TYPES)
        self._child(self.token_exchanges, self.client_label(event.client_id), grant,
                    "success").inc()
        self._child(self.token_latency, grant, "success").observe(event.latency_seconds)

    def _exchange_failed(self, event: TokenExchangeFailed) -> None:
        grant = _closed(event.grant_type, GRANT_TYPES)
        client = self.client_label(event.client_id)
        outcome = _closed(event.outcome, OUTCOMES)
        self._child(self.token_exchanges, client, grant, outcome).inc()
        self._child(self.token_latency, grant, "error").observe(event.latency_seconds)
        self._child(self.auth_errors, "token", _closed(event.error, AUTH_ERRORS)).inc()
        if outcome == "verifier_mismatch":
            self._child(self.verifier_mismatches, client).inc()

    def _code_issued(self, event: CodeIssued) -> None:
        self._child(self.auth_start, self.client_label(event.client_id)).observe(
            event.latency_seconds)

    def _authorization_started(self, event: AuthorizationStarted) -> None:
        client = self.client_label(event.client_id)
        self._child(self.authorization_requests, client, "started").inc()
        if event.state_problem is not None:
            self._problem(client, "state", event.state_problem)

    def _authorization_failed(self, event: AuthorizationFailed) -> None:
        client = self.client_label(event.client_id)
        self._child(self.authorization_requests, client, "error").inc()
        self._child(self.auth_errors, "authorize", _closed(event.error, AUTH_ERRORS)).inc()
        if event.challenge_problem is not None:
            self._problem(client, "code_challenge", event.challenge_problem)
        elif event.missing_challenge:
            self._problem(client, "code_challenge", "missing")
        if event.state_problem is not None:
            self._problem(client, "state", event.state_problem)
        if not event.redirected and event.client_id is not None:
            # Shown on a page although the client is known: redirect_uri missing or unregistered.
            self._problem(client, "redirect_uri", "rejected")

    def _problem(self, client: str, parameter: Parameter, problem: ParamProblem) -> None:
        self._child(self.param_problems, client, _closed(parameter, PARAMETERS),
                    _closed(problem, PARAM_PROBLEMS)).inc()

    def _login_failed(self, event: LoginFailed) -> None:
        self._child(self.logins, "failure").inc()
        self._child(self.auth_errors, "login", "invalid_credentials").inc()

    def _login_throttled(self, event: LoginThrottled) -> None:
        self._child(self.logins, "throttled").inc()
        self._child(self.auth_errors, "login", "slow_down").inc()

    def _revoked(self, event: TokenRevoked) -> None:
        kind = event.kind if event.kind in {"access_token", "refresh_token"} else OTHER
        self._child(self.revocations, self.client_label(event.client_id), kind).inc()
