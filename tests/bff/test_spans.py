"""Spans like the server's: login, callback, refresh and each proxied call, with the upstream
prefix and status as attributes and no token in any attribute."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proofkey.bff import create_bff_app
from tests.bff.conftest import World
from tests.bff.kit import Clock, bff_settings, browser, running, session_tokens, sign_in


async def test_login_refresh_and_proxied_calls_leave_spans_without_tokens(
    world: World, tmp_path: Path,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = Clock()
    settings = bff_settings(tmp_path, world.bff_secret)
    app = create_bff_app(settings, provider_transport=world.router,
                         upstream_transport=world.router, clock=clock, tracer_provider=provider)
    world.router.add("app.example", app)
    async with running(app), browser(world.router) as client:
        await sign_in(client)
        tokens = await session_tokens(settings, client)
        clock.offset = 590
        assert (await client.get("/api/teapot")).status_code == 418
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert names[:2] == ["bff.login", "bff.callback"]
    assert "bff.refresh" in names
    proxy = next(span for span in spans if span.name == "bff.proxy")
    assert dict(proxy.attributes or {}) == {"bff.upstream": "/api",
                                            "http.response.status_code": 418}
    text = str([(span.name, dict(span.attributes or {})) for span in spans])
    for secret in (tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert secret is None or secret not in text
