"""Shared test helpers: drive the real app over HTTP the way a browser and a client would."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from proofkey.protocol import pkce

ISSUER = "http://127.0.0.1:8000"
PUBLIC_ID = "native-app"
PUBLIC_REDIRECT = "http://127.0.0.1/callback"
WEB_ID = "web-app"
WEB_REDIRECT = "https://app.example.com/cb"
USERNAME = "alice"
PASSWORD = "correct horse battery staple"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


class TestClock:
    """The app's clock in tests: real time plus an offset that tests move forward."""

    __test__ = False  # not a test class, despite the name

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Flow:
    """One authorization attempt's client-side secrets and its outcome."""

    verifier: str
    challenge: str
    state: str
    nonce: str
    redirect_uri: str
    client_id: str


def new_flow(client_id: str = PUBLIC_ID, redirect_uri: str = PUBLIC_REDIRECT) -> Flow:
    verifier = pkce.new_verifier()
    return Flow(verifier, pkce.challenge_s256(verifier), pkce.new_verifier(43)[:20],
                pkce.new_verifier(43)[:16], redirect_uri, client_id)


def authorize_params(flow: Flow, **extra: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": flow.client_id,
        "redirect_uri": flow.redirect_uri,
        "scope": "openid profile",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": flow.challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def query_of(location: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def action_of(html: str) -> str:
    match = _ACTION.search(html)
    assert match, "page has no form"
    return match.group(1)


async def login_and_consent(
    http: httpx.AsyncClient, flow: Flow, *, username: str = USERNAME,
    password: str = PASSWORD, consent: str = "allow", **extra: str | None,
) -> httpx.Response:
    """Run /authorize → login → consent; return the final redirect to the client."""
    response = await http.get("/authorize", params=authorize_params(flow, **extra))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if not location.startswith("/interaction/"):
        return response
    page = await http.get(location)
    if 'name="password"' in page.text:
        response = await http.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "username": username, "password": password})
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        if not location.startswith("/interaction/"):
            return response
        page = await http.get(location)
    assert 'name="decision"' in page.text, page.text
    return await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                       "decision": consent})


async def get_code(http: httpx.AsyncClient, flow: Flow, **extra: str | None) -> str:
    response = await login_and_consent(http, flow, **extra)
    query = query_of(response.headers["location"])
    assert "code" in query, query
    return query["code"]


async def exchange(http: httpx.AsyncClient, flow: Flow, code: str,
                   **extra: str | None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": flow.redirect_uri, "client_id": flow.client_id,
            "code_verifier": flow.verifier}
    data.update(extra)  # type: ignore[arg-type]
    return await http.post("/token", data={k: v for k, v in data.items() if v is not None})


def play_the_person(url: str, username: str, password: str, *, decision: str = "allow") -> str:
    """A person at the provider's pages: open the authorization ``url``, sign in, answer the
    consent page if one comes, and follow the redirect to the app; the final location."""
    with httpx.Client(timeout=10) as browser:
        response = browser.get(url)
        page = browser.get(httpx.URL(url).join(response.headers["location"]))
        response = browser.post(httpx.URL(url).join(action_of(page.text)), data={
            "csrf": csrf_of(page.text), "username": username, "password": password})
        location = response.headers["location"]
        if location.startswith("/interaction/"):
            page = browser.get(httpx.URL(url).join(location))
            response = browser.post(httpx.URL(url).join(action_of(page.text)), data={
                "csrf": csrf_of(page.text), "decision": decision})
            location = response.headers["location"]
        landing = browser.get(location)
        assert landing.status_code == 200, landing.text
        return str(location)
