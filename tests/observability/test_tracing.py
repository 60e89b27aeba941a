"""Tracing: off unless the OTEL_* variables ask; when on, spans reach a real OTLP/HTTP endpoint
with a span per step of the flow, no secret in any attribute, and the trace id in log lines."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proofkey.observability.redact import Redactor
from proofkey.observability.tracing import Tracing, exporters_from_env
from proofkey.settings import Settings
from proofkey.web.app import create_app
from proofkey.web.request_tracing import TracingMiddleware, route_of
from tests.helpers import PASSWORD, exchange, get_code, new_flow


class Collector:
    """An OTLP/HTTP trace receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                collector.spans.append(_span_dict(span))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, *names: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Every span in ``names`` exported, a name given twice at least twice (spans of one
        test can reach the collector in separate batches)."""
        wanted = Counter(names)
        deadline = time.monotonic() + timeout
        seen: Counter[str] = Counter()
        while time.monotonic() < deadline:
            with self.lock:
                seen = Counter(s["name"] for s in self.spans)
                if all(seen[name] >= n for name, n in wanted.items()):
                    return list(self.spans)
            time.sleep(0.05)
        raise AssertionError(f"spans {names} not all exported; got {seen}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _span_dict(span: Any) -> dict[str, Any]:
    attributes = {}
    for attribute in span.attributes:
        value = attribute.value
        attributes[attribute.key] = getattr(value, value.WhichOneof("value"))
    return {"name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
            "parent": span.parent_span_id.hex(), "attributes": attributes,
            "status": span.status.code}


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    receiver = Collector()
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "proofkey-test")
    yield receiver
    receiver.close()


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, []),
    ({"OTEL_TRACES_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
])
def test_tracing_is_switched_by_the_standard_otel_variables(
        environ: dict[str, str], expected: list[str]) -> None:
    assert exporters_from_env(environ) == expected
    assert Tracing.from_env(environ).enabled is bool(expected)


def test_tracing_off_installs_nothing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings)
    assert TracingMiddleware not in [m.cls for m in app.user_middleware]


@pytest.mark.parametrize(("path", "name", "route"), [
    ("/authorize", "authorize", "/authorize"),
    ("/token", "token", "/token"),
    ("/interaction/AbCdEf0123456789AbCdEf0123456789AbCdEf01234", "interaction",
     "/interaction/{handle}"),
    ("/interaction/AbCdEf0123456789AbCdEf0123456789AbCdEf01234/login", "login",
     "/interaction/{handle}/login"),
    ("/interaction/x/consent", "consent", "/interaction/{handle}/consent"),
    ("/interaction/x/y/z", "http", "other"),
    ("/secret-looking/AbCdEf0123456789AbCdEf0123456789AbCdEf01234", "http", "other"),
    ("/static/style.css", "static", "/static/{path}"),
])
def test_spans_are_named_by_route_template_never_by_raw_path(path: str, name: str,
                                                              route: str) -> None:
    assert route_of(path) == (name, route)


async def test_a_traced_login_exports_spans_per_step_without_secrets(
        collector: Collector, http: httpx.AsyncClient, web_secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code)
    assert response.status_code == 200
    tokens = response.json()
    bad = await exchange(http, flow, code)  # a replay: an error span
    assert bad.status_code == 400

    spans = collector.wait_for("authorize", "login", "consent", "code_issuance", "token",
                               "token")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    ok, replay = by_name["token"][:2]
    assert ok["attributes"]["proofkey.outcome"] == "success"
    assert ok["attributes"]["proofkey.client_id"] == flow.client_id
    assert ok["attributes"]["http.route"] == "/token"
    assert ok["attributes"]["http.response.status_code"] == 200
    assert replay["attributes"]["proofkey.outcome"] == "code_reused"
    assert replay["status"] == 2  # STATUS_CODE_ERROR
    consent = by_name["consent"][0]
    assert consent["attributes"]["http.route"] == "/interaction/{handle}/consent"
    issuance = by_name["code_issuance"][0]
    assert issuance["trace_id"] == consent["trace_id"]
    assert issuance["parent"] == consent["span_id"]
    # Store calls are client spans inside the request that made them (whatever their names).
    for request in (ok, consent):
        calls = [s for s in spans if s["name"].startswith("store.")
                 and s["trace_id"] == request["trace_id"]]
        assert calls, request["name"]
        assert all(s["parent"] for s in calls)
        assert all(s["attributes"]["db.system.name"] == "sqlite" for s in calls)

    # No secret in any span: no value we handled, nothing secret-shaped.
    secrets = [flow.verifier, code, tokens["access_token"], tokens["refresh_token"],
               tokens["id_token"], PASSWORD, web_secret, *http.cookies.values()]
    dumped = json.dumps(spans)
    assert not [s for s in secrets if s in dumped]
    caught: list[str] = []
    Redactor(caught.append).redact(dumped)
    assert caught == []

    # The trace id is on the log lines written inside a traced request.
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    exchanged = [r for r in lines if r.get("audit", {}).get("event") == "TokenExchanged"]
    assert exchanged
    assert exchanged[0]["trace_id"] == ok["trace_id"]
    assert exchanged[0]["span_id"] == ok["span_id"]


async def test_an_incoming_traceparent_is_continued(collector: Collector,
                                                    http: httpx.AsyncClient) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await http.get("/healthz",
                              headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert response.status_code == 200
    spans = collector.wait_for("healthz")
    assert [s["trace_id"] for s in spans if s["name"] == "healthz"] == [trace_id]


class TestTracedStoreKeepsTheClientCache:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"client_cache_ms": 60000}

    async def test_token_requests_read_clients_through_the_cache_with_tracing_on(
            self, collector: Collector, http: httpx.AsyncClient) -> None:
        for _ in range(2):
            flow = new_flow()
            response = await exchange(http, flow, await get_code(http, flow))
            assert response.status_code == 200
        deadline = time.monotonic() + 15
        while True:  # the exporter sends in batches: wait for both requests' spans
            spans = collector.wait_for("token", "store.redeem_code")
            tokens = [s for s in spans if s["name"] == "token"]
            if len(tokens) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert len(tokens) == 2
        lookups = [s for s in spans if s["name"] == "store.get_client"]
        # The first /authorize fills the cache; neither /token asks the database for the client.
        assert len(lookups) == 1
        assert not {s["trace_id"] for s in lookups} & {s["trace_id"] for s in tokens}
        # The database calls a /token makes are still traced (the cache sits in front).
        redeems = [s for s in spans if s["name"] == "store.redeem_code"]
        assert {s["trace_id"] for s in redeems} <= {s["trace_id"] for s in tokens}
