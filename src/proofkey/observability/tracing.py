"""OpenTelemetry traces: off by default, switched on by the standard ``OTEL_*`` variables.

The only module that imports OpenTelemetry. Tracing is on when ``OTEL_SDK_DISABLED`` is not
true and either ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` — OTLP over HTTP/protobuf,
``console``; ``none`` turns it off) or an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). The SDK itself reads the rest: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER(_ARG)``, ``OTEL_BSP_*``, the exporter's
headers and timeouts. When tracing is off nothing is subscribed, wrapped or installed, so a
request pays nothing; the log formatter's ``current_trace_ids()`` is a context-variable read.

Spans: one server span per HTTP request, named for its route (``authorize``, ``login``,
``consent``, ``token`` …; the route template, never the raw path, which can hold an
interaction handle); ``code_issuance`` from ``CodeIssued``; one client span per store call
(``store.<method>``). Events add attributes — client id, grant type, outcome, error code,
fingerprints — and nothing else: no parameter, header, code, token, verifier or secret.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .events import (
    AuthorizationFailed,
    AuthorizationStarted,
    CodeIssued,
    CodeReplayed,
    Event,
    LoginFailed,
    LoginSucceeded,
    RefreshReuseDetected,
    RefreshRotated,
    TokenExchanged,
    TokenExchangeFailed,
    TokenRevoked,
    UpstreamExchanged,
)

__all__ = ["RequestSpan", "Tracing", "current_trace_ids", "exporters_from_env"]

T = TypeVar("T")
_log = logging.getLogger("proofkey.tracing")
_PROPAGATOR = TraceContextTextMapPropagator()


def current_trace_ids() -> tuple[str, str] | None:
    """The (trace id, span id) of the active span in hex, or None outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def exporters_from_env(environ: Mapping[str, str]) -> list[str]:
    """The exporter names the ``OTEL_*`` variables ask for; empty means tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
             if n.strip()]
    if not names and (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                      or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        names = ["otlp"]
    return [] if names == ["none"] else [n for n in names if n != "none"]


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                               environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
        if protocol != "http/protobuf":
            _log.warning("OTLP protocol %s is not available; exporting over http/protobuf",
                         protocol[:20])
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    _log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (use otlp, console or none)",
                 name[:20])
    return None


class RequestSpan:
    """The server span of one HTTP request, as the web layer sees it."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def set_status_code(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR))


class Tracing:
    """Tracer provider, event subscriber and store wrapper; inert when ``enabled`` is false."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("proofkey") if provider is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 exporters: Sequence[SpanExporter] = (), service_version: str = "") -> Tracing:
        """Tracing as the ``OTEL_*`` variables say, plus ``exporters`` (tests pass an in-memory
        one, exported synchronously); off when neither asks for anything."""
        env = os.environ if environ is None else environ
        names = exporters_from_env(env)
        if not names and not exporters:
            return cls(None)
        attributes: dict[str, str] = {"service.name": env.get("OTEL_SERVICE_NAME", "proofkey")}
        if service_version:
            attributes["service.version"] = service_version
        provider = TracerProvider(resource=Resource.create(attributes))
        for name in names:
            exporter = _exporter(name, env)
            if exporter is not None:
                provider.add_span_processor(BatchSpanProcessor(exporter))
        for exporter in exporters:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def shutdown(self) -> None:
        """Flush and stop the exporters (the app's lifespan calls this on shutdown)."""
        if self._provider is not None:
            self._provider.shutdown()

    @contextlib.contextmanager
    def request_span(self, name: str, *, method: str, route: str,
                     traceparent: str | None = None) -> Iterator[RequestSpan]:
        """A server span around one request; ``traceparent`` continues a W3C trace."""
        if self._tracer is None:
            raise RuntimeError("tracing is off")
        parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
        with self._tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:
            yield RequestSpan(span)

    # -- events ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Add the event's non-secret facts to the active span."""
        if self._tracer is None:
            return
        span = trace.get_current_span()
        if isinstance(event, CodeIssued):
            with self._tracer.start_as_current_span("code_issuance", attributes={
                "proofkey.client_id": event.client_id,
                "proofkey.code_fp": event.code_fp,
                "proofkey.auth_start_seconds": event.latency_seconds,
            }):
                pass
            return
        if not span.is_recording():
            return
        span.add_event(type(event).__name__)
        for key, value in _attributes(event).items():
            span.set_attribute(key, value)
        if isinstance(event, TokenExchangeFailed | AuthorizationFailed):
            span.set_status(Status(StatusCode.ERROR, event.error))

    # -- store -----------------------------------------------------------------------

    def traced(self, target: T, system: str) -> T:
        """``target`` with a client span around each of its coroutine methods."""
        if self._tracer is None:
            return target
        return cast(T, _TracedProxy(target, self._tracer, "store.", {"db.system.name": system}))

    def traced_upstream(self, target: T, connector: str, server: str) -> T:
        """A connector's SDK client with a client span (``upstream.<operation>``) around each
        of its calls to the upstream provider, so both legs of a login show in one trace."""
        if self._tracer is None:
            return target
        return cast(T, _TracedProxy(target, self._tracer, "upstream.", {
            "proofkey.connector": connector, "server.address": server}))


def _attributes(event: Event) -> dict[str, str | bool | float]:
    values: dict[str, str | bool | float] = {}
    if isinstance(event, AuthorizationStarted):
        values = {"proofkey.client_id": event.client_id, "proofkey.prompt": event.prompt}
    elif isinstance(event, AuthorizationFailed):
        values = {"proofkey.client_id": event.client_id or "", "proofkey.error": event.error,
                  "proofkey.redirected": event.redirected,
                  "proofkey.challenge_problem": event.challenge_problem or ""}
    elif isinstance(event, LoginSucceeded):
        values = {"enduser.id": event.user_id, "proofkey.login": "success"}
    elif isinstance(event, LoginFailed):
        values = {"proofkey.username_fp": event.username_fp, "proofkey.login": "failure"}
    elif isinstance(event, TokenExchanged):
        values = {"proofkey.client_id": event.client_id, "proofkey.grant_type": event.grant_type,
                  "proofkey.outcome": "success"}
    elif isinstance(event, TokenExchangeFailed):
        values = {"proofkey.client_id": event.client_id or "",
                  "proofkey.grant_type": event.grant_type or "",
                  "proofkey.outcome": event.outcome[:40], "proofkey.error": event.error}
    elif isinstance(event, CodeReplayed):
        values = {"proofkey.code_fp": event.code_fp, "proofkey.replay_revoked": event.revoked}
    elif isinstance(event, UpstreamExchanged):
        values = {"proofkey.connector": event.connector,
                  "proofkey.upstream_outcome": event.outcome,
                  "proofkey.client_id": event.client_id or ""}
    elif isinstance(event, RefreshRotated | RefreshReuseDetected | TokenRevoked):
        values = {"proofkey.client_id": event.client_id}
    return {k: v for k, v in values.items() if v != ""}


class _TracedProxy:
    """Forwards every attribute; coroutine methods run inside a ``<prefix><name>`` span."""

    def __init__(self, target: Any, tracer: trace.Tracer, prefix: str,
                 attributes: Mapping[str, str]) -> None:
        self._target = target
        self._tracer = tracer
        self._prefix = prefix
        self._attributes = dict(attributes)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        wrapped = self._wrap(name, value)
        setattr(self, name, wrapped)  # cached: later lookups skip __getattr__
        return wrapped

    def _wrap(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        tracer, span_name = self._tracer, f"{self._prefix}{name}"
        attributes = {**self._attributes, "db.operation.name": name} if self._prefix == \
            "store." else self._attributes

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT,
                                              attributes=attributes):
                return await method(*args, **kwargs)

        return call
