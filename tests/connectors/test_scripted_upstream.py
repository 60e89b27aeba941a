"""Cases a real upstream will not produce on demand, against a scripted one (``fake_upstream``):
an id_token for another audience, metadata without PKCE S256 (refused unless ``legacy``), a
GitHub-style OAuth 2.0 connector with its claim mapping, and linking by verified e-mail only
when the operator enabled it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proofkey.connectors.login import STARTS_PER_REQUEST
from proofkey.observability.events import EventBus, UpstreamExchanged, UpstreamLinked
from proofkey.observability.tracing import Tracing
from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.conftest import Recorder
from tests.connectors.conftest import SPA_ID, SPA_REDIRECT, consent_if_asked, local
from tests.connectors.fake_upstream import ISSUER as UPSTREAM
from tests.connectors.fake_upstream import FakeUpstream
from tests.helpers import ISSUER, TestClock, authorize_params, exchange, new_flow, query_of

SECRET = "broker-secret-at-the-scripted-upstream"
GITHUB = {"name": "github", "kind": "oauth2", "issuer": "https://github.test",
          "client_id": "gh-broker", "client_secret_env": "TEST_FAKE_SECRET",
          "scope": "read:user user:email",
          "authorization_endpoint": f"{UPSTREAM}/authorize",
          "token_endpoint": f"{UPSTREAM}/token", "userinfo_endpoint": f"{UPSTREAM}/user",
          "claims": {"sub": "id", "username": "login"}}


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """These flows run on both stores."""
    return str(request.param)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream("broker", SECRET)


@pytest.fixture
def link_by_email() -> bool:
    return False


@pytest.fixture
def settings_overrides(monkeypatch: pytest.MonkeyPatch, link_by_email: bool
                       ) -> dict[str, object]:
    monkeypatch.setenv("TEST_FAKE_SECRET", SECRET)
    oidc = {"issuer": UPSTREAM, "client_id": "broker", "client_secret_env": "TEST_FAKE_SECRET"}
    return {"link_verified_email": link_by_email, "connectors": [
        {"name": "corp", **oidc}, {"name": "old", "legacy": True, **oidc}, GITHUB]}


@pytest.fixture
async def browser(settings: Settings, seeded: object, spa: None, events: Recorder,
                  upstream: FakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    bus = EventBus()
    bus.subscribe(events)
    app = create_app(settings, bus=bus, clock=TestClock(),
                     upstream_transport=httpx.ASGITransport(app=upstream.app()))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        yield client


async def through(browser: httpx.AsyncClient, upstream: FakeUpstream, name: str,
                  scope: str = "openid profile email") -> tuple[str, httpx.Response]:
    """An SPA's /authorize with idp_hint=name, the upstream's approval; our answer to its
    callback (the upstream app is driven in-process, as the browser would follow it)."""
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    response = await browser.get("/authorize", params=authorize_params(
        flow, scope=scope, idp_hint=name))
    hop = await browser.get(response.headers["location"])
    assert hop.status_code == 303, hop.text
    target = hop.headers["location"]
    if not target.startswith(UPSTREAM):
        return flow.state, hop
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream.app()),
                                 base_url=UPSTREAM) as at_upstream:
        approved = await at_upstream.get(target.removeprefix(UPSTREAM))
    back = approved.headers["location"]
    assert back.startswith(f"{ISSUER}/connectors/{name}/callback")
    return flow.state, await browser.get(local(back))


async def test_an_id_token_for_another_audience_is_refused(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    upstream.audience = "some-other-client"
    state, response = await through(browser, upstream, "corp")
    answer = query_of(response.headers["location"])
    assert response.headers["location"].startswith(SPA_REDIRECT)
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    [event] = events.of(UpstreamExchanged)
    assert event.outcome == "invalid_id_token"  # type: ignore[attr-defined]
    assert "aud" in (event.detail or "")  # type: ignore[attr-defined]
    assert events.of(UpstreamLinked) == []


async def test_the_upstream_leg_sends_s256_state_and_nonce_and_checks_the_id_token(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    _state, response = await through(browser, upstream, "corp")
    [sent] = upstream.seen
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert sent["nonce"]
    assert sent["state"]
    assert sent["redirect_uri"] == f"{ISSUER}/connectors/corp/callback"
    assert response.headers["location"].startswith("/interaction/")  # on to consent
    [event] = events.of(UpstreamExchanged)
    assert event.outcome == "success"  # type: ignore[attr-defined]


async def test_an_upstream_without_s256_is_refused_unless_marked_legacy(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    upstream.methods = ()
    state, response = await through(browser, upstream, "corp")
    answer = query_of(response.headers["location"])
    assert answer["error"] == "temporarily_unavailable"
    assert answer["state"] == state
    assert [e.outcome for e in events.of(UpstreamExchanged)] == ["no_pkce"]  # type: ignore[attr-defined]
    assert upstream.seen == []  # nobody was sent there
    _state, legacy = await through(browser, upstream, "old")
    assert legacy.headers["location"].startswith("/interaction/")
    assert upstream.seen[0]["code_challenge_method"] == "S256"  # still sent


async def test_a_github_style_oauth2_connector_maps_id_and_login(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    upstream.client_id, upstream.send_iss = "gh-broker", False
    state, response = await through(browser, upstream, "github", scope="openid profile email")
    [sent] = upstream.seen
    assert sent["scope"] == "read:user user:email"
    assert "nonce" not in sent
    final = await consent_if_asked(browser, response)
    assert final.startswith(SPA_REDIRECT)
    assert query_of(final)["state"] == state
    flow_code = query_of(final)["code"]
    assert flow_code
    [linked] = events.of(UpstreamLinked)
    assert linked.how == "created"  # type: ignore[attr-defined]
    user = await browser.get("/account")
    assert "github:583231" in user.text  # username from the mapped id


async def test_an_iss_from_another_issuer_is_a_mix_up(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    """The OAuth 2.0 connector's issuer is github.test; an answer naming upstream.test is not
    its provider's (RFC 9207 §2.4), so it is refused before any code is redeemed."""
    upstream.client_id = "gh-broker"
    state, response = await through(browser, upstream, "github")
    answer = query_of(response.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    assert [e.outcome for e in events.of(UpstreamExchanged)] == ["mix_up"]  # type: ignore[attr-defined]
    assert len(upstream.codes) == 1  # issued upstream, never redeemed


@pytest.mark.parametrize("link_by_email", [True])
async def test_a_verified_email_links_to_the_local_user_only_when_enabled(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    _state, _response = await through(browser, upstream, "corp")
    [linked] = events.of(UpstreamLinked)
    assert linked.how == "verified_email"  # type: ignore[attr-defined]
    account = await browser.get("/account")
    assert "alice" in account.text.lower()


async def test_an_email_never_links_when_the_operator_did_not_enable_it(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    _state, _response = await through(browser, upstream, "corp")  # linking not enabled
    assert [e.how for e in events.of(UpstreamLinked)] == ["created"]  # type: ignore[attr-defined]


async def test_a_full_spa_flow_through_the_scripted_upstream_redeems_our_code(
        browser: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    response = await browser.get("/authorize", params=authorize_params(
        flow, scope="openid profile email", idp_hint="corp"))
    hop = await browser.get(response.headers["location"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream.app()),
                                 base_url=UPSTREAM) as at_upstream:
        approved = await at_upstream.get(hop.headers["location"].removeprefix(UPSTREAM))
    final = await consent_if_asked(browser, await browser.get(local(
        approved.headers["location"])))
    tokens = (await exchange(browser, flow, query_of(final)["code"])).json()
    info = (await browser.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert info["email"] == "alice@example.com"
    assert info["name"] == "Ada"


@pytest.mark.parametrize("link_by_email", [True])
async def test_an_unverified_email_never_links_even_when_enabled(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    upstream.claims["email_verified"] = False
    await through(browser, upstream, "corp")
    assert [e.how for e in events.of(UpstreamLinked)] == ["created"]  # type: ignore[attr-defined]
    account = await browser.get("/account")
    assert "corp:u-42" in account.text


async def test_both_legs_show_in_the_trace(
        settings: Settings, seeded: object, spa: None, upstream: FakeUpstream) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, tracing=Tracing(provider),
                     upstream_transport=httpx.ASGITransport(app=upstream.app()))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as browser:
        await through(browser, upstream, "corp")
    spans = exporter.get_finished_spans()
    upstream_spans = {s.name: s for s in spans if s.name.startswith("upstream.")}
    assert {"upstream.discover", "upstream.authorization_request",
            "upstream.complete", "upstream.userinfo"} <= set(upstream_spans)
    assert all(s.attributes and s.attributes["proofkey.connector"] == "corp"
               for s in upstream_spans.values())
    complete = upstream_spans["upstream.complete"]
    assert complete.parent is not None
    [callback] = [s for s in spans if complete.parent.span_id == s.context.span_id]
    assert callback.attributes
    assert callback.attributes["proofkey.upstream_outcome"] == "success"
    assert callback.attributes["http.route"] == "/connectors/{name}/callback"


async def test_a_refused_verifier_upstream_is_counted_per_connector(
        browser: httpx.AsyncClient, upstream: FakeUpstream, events: Recorder) -> None:
    """The upstream-leg PKCE SLI: the upstream answers invalid_grant to our code + verifier."""
    upstream.swap_challenge = True
    state, response = await through(browser, upstream, "corp")
    answer = query_of(response.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    assert [e.outcome for e in events.of(UpstreamExchanged)] == ["verifier_mismatch"]  # type: ignore[attr-defined]
    upstream.swap_challenge = False
    await through(browser, upstream, "corp")
    metrics = await browser.get("/metrics")
    series = "proofkey_upstream_exchanges_total{connector=\"corp\",outcome=\"%s\"} 1.0"
    assert series % "verifier_mismatch" in metrics.text
    assert series % "success" in metrics.text


async def test_one_request_starts_a_bounded_number_of_upstream_attempts(
        browser: httpx.AsyncClient, upstream: FakeUpstream) -> None:
    """Each start stores a transaction row until it expires: reloading the connector link
    cannot fill the table."""
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    response = await browser.get("/authorize", params=authorize_params(flow, idp_hint="corp"))
    link = response.headers["location"]
    for _ in range(STARTS_PER_REQUEST):
        assert (await browser.get(link)).headers["location"].startswith(UPSTREAM)
    refused = await browser.get(link)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
