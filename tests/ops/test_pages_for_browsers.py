"""What a browser meets outside the flows: an icon, and pages (not JSON) for missing addresses."""

from __future__ import annotations

import httpx

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_the_favicon_is_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<svg")
    page = await http.get("/account", headers=BROWSER)
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text
    assert (await http.get("/static/favicon.svg")).status_code == 200


async def test_a_browser_gets_a_page_for_a_missing_address(http: httpx.AsyncClient) -> None:
    response = await http.get("/no/such/page", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in response.text
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_api_client_still_gets_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/no/such/endpoint")
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_request"
    posted = await http.post("/no/such/endpoint", headers=BROWSER)
    assert posted.json()["error"] == "invalid_request"


async def test_the_status_page_when_off_explains_itself_to_a_browser(
        http: httpx.AsyncClient) -> None:
    response = await http.get("/status", headers=BROWSER)
    assert response.status_code == 404
    assert "PROOFKEY_ADMIN_TOKEN" in response.text
    assert "<form" not in response.text
