"""RFC 7591 registration of ``post_logout_redirect_uris`` (OIDC RP-Initiated Logout 1.0 §3.1)
over HTTP on both stores: the redirect URI rules (PKL01x) apply to them unchanged, and a
registered one is where /logout sends the browser."""

from __future__ import annotations

import httpx
import pytest

from tests.http.test_registration import NATIVE, WEB, post


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"registration": "open"}


async def test_registered_post_logout_uris_are_stored_returned_and_used(
        http: httpx.AsyncClient) -> None:
    response = await post(http, {**WEB, "post_logout_redirect_uris": [
        "https://app.example/bye", "https://app.example/bye"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["post_logout_redirect_uris"] == ["https://app.example/bye"]
    logout = await http.get("/logout", params={
        "client_id": body["client_id"], "post_logout_redirect_uri": "https://app.example/bye",
        "state": "q"})
    assert logout.status_code == 303  # no session here: straight to the registered URI
    assert logout.headers["location"] == "https://app.example/bye?state=q"


async def test_a_client_without_them_registers_none(http: httpx.AsyncClient) -> None:
    response = await post(http, NATIVE)
    assert response.status_code == 201, response.text
    assert response.json()["post_logout_redirect_uris"] == []


@pytest.mark.parametrize(("uri", "rule"), [
    ("https://*.example/bye", "PKL010"),
    ("http://app.example/bye", "PKL012"),
    ("https://app.example/bye#x", "PKL014"),
    ("javascript:alert(1)", "PKL015"),
    ("/bye", "PKL016"),
])
async def test_the_redirect_rules_refuse_a_bad_post_logout_uri(
        http: httpx.AsyncClient, uri: str, rule: str) -> None:
    response = await post(http, {**WEB, "post_logout_redirect_uris": [uri]})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_redirect_uri"
    assert f"[{rule}]" in body["error_description"]
    assert "post-logout" in body["error_description"]


async def test_post_logout_uris_must_be_an_array_of_strings(http: httpx.AsyncClient) -> None:
    response = await post(http, {**WEB, "post_logout_redirect_uris": "https://app.example/b"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")
