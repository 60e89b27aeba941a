"""Chaos, failure F2: a gateway between browser and server strips or cuts PKCE parameters.

A real ``proofkey serve`` sits behind ``StrippingProxy``, the way it would sit behind a WAF or
a load balancer with a parameter allow-list: its issuer is the proxy's URL, so metadata,
redirects and every tool go through the proxy, while ``/metrics`` is scraped straight from the
server's own port. The proxy damages only the query of ``GET /authorize``. What must hold:

* the front-channel flow fails safely: the client is sent back with ``invalid_request`` and
  no code, so nothing can be redeemed; M4
  (``proofkey_authorization_param_problems_total``) rises by exactly one, for this client,
  ``parameter="code_challenge"`` and the problem the damage causes;
* ``proofkey probe --no-par`` and ``proofkey check`` name it: the step (``authorize``) with
  the provider's error, and the check id (``flow.baseline``) with the provider's words;
* the same flow with PAR (RFC 9126: the SDK's and the probe's default) succeeds through the
  very same proxy, and M4 stays flat: the parameters never travel through the gateway;
* in pass-through mode everything succeeds (the proxy itself breaks nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
import pytest
import typer
from typer.testing import CliRunner

from proofkey.ops.check_cli import check
from proofkey.ops.conformance import all_checks
from proofkey.ops.login_driver import (
    REDIRECT_STATUSES,
    LoginSettings,
    Step,
    parse_forms,
    plan_step,
)
from proofkey.ops.tools_cli import probe
from proofkey.sdk import OAuthClient, OAuthClientError, TokenSet
from tests.helpers import query_of
from tests.observability.scrape import Sample, deltas, key, parse
from tests.ops.stripping_proxy import PASS_THROUGH, Mode, StrippingProxy, strip, truncate
from tests.process.conftest import ServerProcess, free_port, running_server, seed

pytestmark = pytest.mark.timeout(60)

CLIENT = "chaos-native"
REDIRECT = "http://127.0.0.1/callback"
USERNAME = "gateway-victim"
PASSWORD = "a long enough password for 2026"
PROBLEMS = "proofkey_authorization_param_problems_total"

# (gateway damage, M4 problem label, the provider's error_description for it)
DAMAGE = [
    pytest.param(strip("code_challenge"), "missing",
                 "code_challenge is required (PKCE, RFC 7636)", id="strip-challenge"),
    pytest.param(truncate("code_challenge", 30), "truncated",
                 "code_challenge must be 43 characters of base64url (S256)",
                 id="truncate-challenge-to-30"),
    pytest.param(strip("code_challenge_method"), "method_missing",
                 "code_challenge_method is required and must be S256", id="strip-method"),
]


@dataclass
class Gateway:
    proxy: StrippingProxy
    server: ServerProcess

    def metrics(self) -> dict[Sample, float]:
        """The server's own /metrics, from its port (never through the proxy)."""
        response = httpx.get(f"{self.server.base_url}/metrics", timeout=5)
        assert response.status_code == 200
        return parse(response.text)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("chaos") / "data"
    seed(data, public_clients={CLIENT: [REDIRECT]}, users={USERNAME: PASSWORD})
    upstream = free_port()
    with StrippingProxy(upstream) as proxy, running_server(
            data, port=upstream, settings={"issuer": proxy.url}) as server:
        yield Gateway(proxy, server)


@pytest.fixture
def proxy(gateway: Gateway) -> Iterator[StrippingProxy]:
    """The module's proxy, back to pass-through after each test."""
    gateway.proxy.log.clear()
    try:
        yield gateway.proxy
    finally:
        gateway.proxy.mode = PASS_THROUGH


# --- a browser and a client, as an application would drive them -----------------------------

def browse(proxy: StrippingProxy, url: str) -> str:
    """Follow the provider as a browser would (sign in and consent by form) until it sends the
    browser back to the client; return that URL, never fetched. Every request the browser
    makes goes to the gateway."""
    settings = LoginSettings(USERNAME, PASSWORD)
    method, target, body = "GET", url, b""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        for _ in range(8):
            assert target.startswith(f"{proxy.url}/"), target
            response = browser.request(method, target, content=body or None, headers={
                "Content-Type": "application/x-www-form-urlencoded"} if body else None)
            if response.status_code in REDIRECT_STATUSES:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(f"{REDIRECT}?"):
                    return target
                method, body = "GET", b""
                continue
            step = plan_step(parse_forms(response.text, str(response.url)), settings)
            assert isinstance(step, Step), f"{response.status_code}: {response.text[:300]}"
            method, target, body = step.form.method, step.form.action, urlencode(
                step.data).encode()
    raise AssertionError("the browser never came back to the client")


def sign_in(proxy: StrippingProxy, *, use_par: bool) -> tuple[str, TokenSet | OAuthClientError]:
    """One sign-in by the SDK through the gateway: the callback URL and the tokens, or the
    client's refusal of the callback."""
    with OAuthClient(proxy.url, CLIENT, REDIRECT, scope="openid offline_access",
                     use_par=use_par) as oauth:
        request = oauth.authorization_request()
        callback = browse(proxy, request.url)
        try:
            return callback, oauth.complete(callback, request)
        except OAuthClientError as refused:
            return callback, refused


def m4(changed: dict[Sample, float]) -> dict[Sample, float]:
    return {sample: value for sample, value in changed.items() if sample[0] == PROBLEMS}


def problem(name: str) -> Sample:
    return key(PROBLEMS, client_id=CLIENT, parameter="code_challenge", problem=name)


# --- the tools, as an operator runs them ----------------------------------------------------

def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """proofkey, as far as this test needs it."""

    app.command("probe")(probe)
    app.command("check")(check)
    return app


def run_probe(proxy: StrippingProxy, *extra: str) -> Any:
    return CliRunner().invoke(cli(), [
        "probe", "--issuer", proxy.url, "--client-id", CLIENT, "--redirect-uri", REDIRECT,
        "--username", USERNAME, "--password-stdin", "--timeout", "10", *extra],
        input=f"{PASSWORD}\n")


def run_check(proxy: StrippingProxy) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli(), [
        "check", "--issuer", proxy.url, "--client-id", CLIENT, "--redirect-uri", REDIRECT,
        "--scope", "openid offline_access", "--username", USERNAME, "--password-stdin",
        "--format", "json"], input=f"{PASSWORD}\n")
    return result.exit_code, json.loads(result.stdout)


# --- the control: pass-through --------------------------------------------------------------

def test_through_a_pass_through_gateway_every_flow_and_tool_succeeds(
        gateway: Gateway, proxy: StrippingProxy) -> None:
    before = gateway.metrics()
    for use_par in (False, True):
        _callback, tokens = sign_in(proxy, use_par=use_par)
        assert isinstance(tokens, TokenSet), tokens
        assert tokens.refresh_token
    for par in ("--par", "--no-par"):
        result = run_probe(proxy, par)
        assert result.exit_code == 0, result.output
        assert "1/1 run(s) succeeded" in result.stdout
    status, report = run_check(proxy)
    assert status == 0, report
    assert {c["id"]: c["result"] for c in report["checks"] if c["result"] != "pass"} == {
        "code.lifetime_bounded": "skip"}
    # Discovery, /par, /authorize, the login and consent pages, /token, /revoke, /userinfo:
    # all of it went through the gateway, unchanged.
    seen = {(f.method, f.path) for f in proxy.log}
    assert {("GET", "/.well-known/openid-configuration"), ("POST", "/par"),
            ("GET", "/authorize"), ("POST", "/token"), ("POST", "/revoke"),
            ("GET", "/userinfo")} <= seen
    assert not any(f.rewritten for f in proxy.log)
    # The checker's probing of the code_challenge rules is counted (one each), but nothing
    # the SDK or the probe sent was: they never lost a parameter.
    assert {labels: value for labels, value in m4(deltas(before, gateway.metrics())).items()
            if ("parameter", "code_challenge") in labels[1]} == {
        problem("missing"): 1, problem("method_missing"): 1, problem("method_plain"): 1,
        problem("truncated"): 1, problem("malformed"): 1}


def test_the_gateway_relays_responses_verbatim(gateway: Gateway, proxy: StrippingProxy) -> None:
    path = "/.well-known/openid-configuration"
    direct = httpx.get(gateway.server.base_url + path)
    relayed = httpx.get(proxy.url + path)
    assert relayed.content == direct.content
    assert [h for h in relayed.headers.multi_items() if h[0] != "date"] == [
        h for h in direct.headers.multi_items() if h[0] != "date"]
    with OAuthClient(proxy.url, CLIENT, REDIRECT, use_par=False) as oauth:
        url = oauth.authorization_request().url
    answer = httpx.get(url)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/interaction/")
    assert answer.headers["set-cookie"].startswith("pk_browser=")


# --- F2: the front channel fails safely, and says where -------------------------------------

@pytest.mark.parametrize(("damage", "problem_label", "description"), DAMAGE)
def test_a_damaged_front_channel_request_fails_safely_and_m4_counts_it(
        gateway: Gateway, proxy: StrippingProxy, damage: Mode, problem_label: str,
        description: str) -> None:
    proxy.mode = damage
    before = gateway.metrics()
    callback, outcome = sign_in(proxy, use_par=False)
    changed = deltas(before, gateway.metrics())

    (authorize,) = proxy.authorize_requests()
    assert authorize.rewritten  # the gateway really damaged what the client sent
    query = query_of(callback)
    assert query["error"] == "invalid_request"
    assert query["error_description"] == description
    assert "code" not in query
    assert query["iss"] == proxy.url
    assert isinstance(outcome, OAuthClientError)
    assert outcome.error == "invalid_request"
    # Exactly one refused authorization, one M4 count for this client and problem, and no
    # code issued, no token request, no token: the failure is safe.
    assert changed == {
        key("proofkey_authorization_requests_total", client_id=CLIENT, result="error"): 1,
        key("proofkey_auth_errors_total", endpoint="authorize", error="invalid_request"): 1,
        problem(problem_label): 1,
    }


@pytest.mark.parametrize(("damage", "problem_label", "description"), DAMAGE)
def test_probe_names_the_authorize_step_without_par_and_succeeds_with_it(
        gateway: Gateway, proxy: StrippingProxy, damage: Mode, problem_label: str,
        description: str) -> None:
    proxy.mode = damage
    before = gateway.metrics()
    front = run_probe(proxy, "--no-par")
    middle = gateway.metrics()
    pushed = run_probe(proxy)  # the default: PAR, since the provider advertises it
    after = gateway.metrics()

    assert front.exit_code == 1, front.output
    # Only the probe's own lines: in a full run, other tests' logging handlers may add lines.
    probe_lines = [line for line in front.stderr.splitlines() if line.startswith("run ")]
    assert probe_lines == [f"run 1: FAILED at authorize: redirected back with "
                           f"error=invalid_request: {description}"]
    assert "0/1 run(s) succeeded" in front.stdout
    assert m4(deltas(before, middle)) == {problem(problem_label): 1}

    assert pushed.exit_code == 0, pushed.output
    assert "1/1 run(s) succeeded" in pushed.stdout
    assert m4(deltas(middle, after)) == {}
    last = proxy.authorize_requests()[-1]
    assert "request_uri=" in last.sent
    assert not last.rewritten  # nothing left in the URL for the gateway to damage


@pytest.mark.parametrize(("damage", "problem_label", "description"), DAMAGE)
def test_check_fails_the_baseline_flow_with_the_providers_words(
        gateway: Gateway, proxy: StrippingProxy, damage: Mode, problem_label: str,
        description: str) -> None:
    proxy.mode = damage
    before = gateway.metrics()
    status, report = run_check(proxy)
    changed = m4(deltas(before, gateway.metrics()))

    # Why ``flow.baseline`` and only it: the battery's baseline is a well-formed S256 request
    # sent through the browser, so its refusal (while metadata says S256 is supported) is the
    # fingerprint of a request damaged on the way. The PKCE, redirect-URI, token and callback
    # checks all build on a working baseline; with the gateway in the path they cannot judge
    # the provider (a stripped challenge would make pkce.challenge_required "pass" for the
    # wrong reason), so they are skipped, not failed. Metadata and the error-echo check do not
    # use the front channel and still pass.
    assert status == 1
    results = {c["id"]: c["result"] for c in report["checks"]}
    assert [i for i, r in results.items() if r == "fail"] == ["flow.baseline"]
    assert [i for i, r in results.items() if r == "pass"] == [
        "metadata.discovery", "metadata.s256_advertised", "metadata.plain_not_advertised",
        "errors.no_secret_echo"]
    assert len([r for r in results.values() if r == "skip"]) == len(all_checks()) - 5
    baseline = next(c for c in report["checks"] if c["id"] == "flow.baseline")
    assert baseline["evidence"] == {
        "authorization": "redirect to redirect_uri [error,error_description,iss,state] "
                         "error=invalid_request",
        "error_description": description,
        "note": "a well-formed S256 request sent through the browser was refused: were "
                "parameters lost on the way? PAR (RFC 9126) is advertised and keeps them off "
                "that path"}
    # The server counted it under the same name (the checker's deliberately awkward state,
    # with a space in it, adds its usual state/mangled hint).
    assert changed == {problem(problem_label): 1,
                       key(PROBLEMS, client_id=CLIENT, parameter="state", problem="mangled"): 1}


@pytest.mark.parametrize(("damage", "problem_label", "description"), DAMAGE)
def test_the_same_sign_in_with_par_succeeds_through_the_same_gateway(
        gateway: Gateway, proxy: StrippingProxy, damage: Mode, problem_label: str,
        description: str) -> None:
    proxy.mode = damage
    before = gateway.metrics()
    callback, tokens = sign_in(proxy, use_par=True)
    changed = deltas(before, gateway.metrics())

    assert isinstance(tokens, TokenSet), tokens
    assert tokens.id_token
    assert "code" in query_of(callback)
    assert [f.method for f in proxy.log if f.path == "/par"] == ["POST"]
    (authorize,) = proxy.authorize_requests()
    assert not authorize.rewritten
    assert m4(changed) == {}
    assert changed[key("proofkey_token_exchanges_total", client_id=CLIENT,
                       grant_type="authorization_code", outcome="success")] == 1


# --- state stripped: the server goes on, the client and the checker refuse ------------------

def test_a_stripped_state_is_refused_by_the_client_and_named_by_check(
        gateway: Gateway, proxy: StrippingProxy) -> None:
    proxy.mode = strip("state")
    callback, outcome = sign_in(proxy, use_par=False)
    # state is optional to the server (PKCE protects the code), so a code comes back; the SDK
    # refuses a callback whose state is not the one it sent, and never redeems that code.
    assert "code" in query_of(callback)
    assert "state" not in query_of(callback)
    assert isinstance(outcome, OAuthClientError)
    assert outcome.error == "state_mismatch"

    status, report = run_check(proxy)
    assert status == 1
    assert [c["id"] for c in report["checks"] if c["result"] == "fail"] == [
        "authz.state_echoed"]

    _callback, tokens = sign_in(proxy, use_par=True)
    assert isinstance(tokens, TokenSet), tokens


def test_the_gateway_rewrites_only_the_named_parameters() -> None:
    query = "a=1&code_challenge=abc%2Bdef&b=x+y%20z&code_challenge_method=S256&c"
    assert strip("code_challenge").apply(query) == (
        "a=1&b=x+y%20z&code_challenge_method=S256&c")
    assert strip("code_challenge", "c").apply(query) == (
        "a=1&b=x+y%20z&code_challenge_method=S256")
    assert truncate("code_challenge", 4).apply(query) == (
        "a=1&code_challenge=abc%2B&b=x+y%20z&code_challenge_method=S256&c")
    assert PASS_THROUGH.apply(query) == query
    proxy = StrippingProxy(free_port())
    assert proxy._rewrite("POST", "/authorize?code_challenge=x") == (
        "/authorize?code_challenge=x")
    proxy.mode = strip("code_challenge")
    assert proxy._rewrite("GET", "/authorize?code_challenge=x") == "/authorize"
    assert proxy._rewrite("GET", "/token?code_challenge=x") == "/token?code_challenge=x"
