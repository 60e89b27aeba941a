"""Forwarded headers are believed only from ``PROOFKEY_TRUSTED_PROXIES``, and only for the
client address; the issuer and every URL proofkey sends come from settings, never from Host or
X-Forwarded-* headers (real ``proofkey serve`` processes: uvicorn does the forwarding)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.settings import SettingsError, load_settings
from tests.helpers import PASSWORD, USERNAME, WEB_ID, WEB_REDIRECT, csrf_of, new_flow, query_of
from tests.process.conftest import ServerPool, ServerProcess, seed, start_server, wait_healthy

from .conftest import browser_code

pytestmark = pytest.mark.timeout(60)

PER_IP = 3  # failed logins per client address and window
HOSTILE = {  # what a client (or a misconfigured proxy) might send to move the issuer
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/evil",
    "Forwarded": "host=evil.example;proto=https",
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    """Servers trusting 127.0.0.1 as their proxy and servers trusting nobody (the default):
    ``trusted``/``untrusted`` for the throttling tests, ``trusted-urls``/``untrusted-urls``
    (whose address 127.0.0.1 those tests do not throttle) for the URL tests."""
    pool = ServerPool()
    root = tmp_path_factory.mktemp("proxies")
    started: dict[str, ServerProcess] = {}
    try:
        for name, trusted in (("trusted", "127.0.0.1"), ("untrusted", None),
                              ("trusted-urls", "127.0.0.0/8, ::1"), ("untrusted-urls", None)):
            data_dir = root / name
            secrets = seed(data_dir, confidential_clients={WEB_ID: [WEB_REDIRECT]},
                           users={USERNAME: PASSWORD, "mallory": PASSWORD})
            (data_dir / "secret").write_text(secrets[WEB_ID])
            started[name] = start_server(data_dir, wait=False, settings={
                "trusted_proxies": trusted, "login_failures_per_ip": str(PER_IP),
                "login_failures_per_user": "1000"})
            pool.servers.append(started[name])
        for server in pool.servers:
            wait_healthy(server)
        yield started
    finally:
        pool.stop_all()


def _fail_login(http: httpx.Client, base: str, forwarded_for: str) -> int:
    page = http.get(f"{base}/account")
    response = http.post(f"{base}/account/login", headers={"X-Forwarded-For": forwarded_for},
                         data={"csrf": csrf_of(page.text), "username": "mallory",
                               "password": "wrong password"})
    return response.status_code


def test_a_trusted_proxy_names_the_client_address_used_for_throttling(
    pair: dict[str, ServerProcess],
) -> None:
    base = pair["trusted"].base_url
    with httpx.Client(timeout=10) as http:
        assert [_fail_login(http, base, "198.51.100.7") for _ in range(PER_IP)] == [401] * PER_IP
        assert _fail_login(http, base, "198.51.100.7") == 429
        # A value the client put in front is not believed: the proxy appended the real one.
        assert _fail_login(http, base, "203.0.113.9, 198.51.100.7") == 429
        assert _fail_login(http, base, "198.51.100.8") == 401  # another client: not throttled


def test_without_trusted_proxies_x_forwarded_for_is_ignored(
    pair: dict[str, ServerProcess],
) -> None:
    base = pair["untrusted"].base_url
    with httpx.Client(timeout=10) as http:
        statuses = [_fail_login(http, base, f"198.51.100.{i}") for i in range(1, PER_IP + 2)]
    assert statuses == [401] * PER_IP + [429]  # all counted against the real peer, 127.0.0.1


def _claims(jwt: str) -> dict[str, object]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize("name", ["trusted-urls", "untrusted-urls"])
async def test_request_headers_never_change_the_issuer_or_any_url(
    pair: dict[str, ServerProcess], name: str
) -> None:
    server = pair[name]
    base, issuer = server.base_url, server.env["PROOFKEY_ISSUER"]
    secret = (Path(server.data_dir) / "secret").read_text()
    async with httpx.AsyncClient(timeout=10, headers=HOSTILE) as http:
        for path in ("/.well-known/openid-configuration",
                     "/.well-known/oauth-authorization-server"):
            response = await http.get(base + path)
            assert response.status_code == 200
            metadata = response.json()
            assert metadata["issuer"] == issuer
            urls = [v for v in metadata.values() if isinstance(v, str) and "://" in v]
            assert urls
            assert all(u.startswith(issuer + "/") or u == issuer for u in urls), urls
            assert "evil" not in response.text
        flow = new_flow(WEB_ID, WEB_REDIRECT)
        first = await http.get(f"{base}/authorize", params={
            "response_type": "code", "client_id": WEB_ID, "redirect_uri": WEB_REDIRECT,
            "scope": "openid", "state": flow.state, "code_challenge": flow.challenge,
            "code_challenge_method": "S256"})
        assert first.status_code == 303
        assert first.headers["location"].startswith("/interaction/")  # relative: no host
        page = await http.get(base + first.headers["location"])
        assert "evil" not in page.text
        code = await browser_code(http, flow, authorize_at=base, interact_at=base,
                                  username=USERNAME, password=PASSWORD)
        response = await http.post(f"{base}/token", auth=(WEB_ID, secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT,
            "code_verifier": flow.verifier})
        assert response.status_code == 200, response.text
        assert _claims(response.json()["id_token"])["iss"] == issuer
        assert _claims(response.json()["access_token"])["iss"] == issuer
        # The redirect back to the client carries the configured issuer (RFC 9207).
        again = new_flow(WEB_ID, WEB_REDIRECT)
        redirect = await http.get(f"{base}/authorize", params={
            "response_type": "code", "client_id": WEB_ID, "redirect_uri": WEB_REDIRECT,
            "scope": "openid", "state": again.state, "code_challenge": again.challenge,
            "code_challenge_method": "S256"})
        assert redirect.status_code == 303
        location = redirect.headers["location"]
        assert location.startswith(WEB_REDIRECT + "?")
        assert query_of(location)["iss"] == issuer
        account = await http.get(f"{base}/account")
        login = await http.post(f"{base}/account/login", data={
            "csrf": csrf_of(account.text), "username": USERNAME, "password": PASSWORD})
        assert login.headers["location"] == "/account"
        for reply in (first, page, response, redirect, account, login):
            assert not any("evil" in v for v in reply.headers.values()), reply.headers


def test_trusted_proxies_are_validated_and_normalised() -> None:
    settings = load_settings({"trusted_proxies": "10.1.2.3/8, 192.0.2.1 2001:db8::/32"},
                             environ={})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.1", "2001:db8::/32")
    assert load_settings(environ={}).trusted_proxies == ()
    for bad in ("*", "proxy.internal", "10.0.0.0/33"):
        with pytest.raises(SettingsError, match="PROOFKEY_TRUSTED_PROXIES"):
            load_settings({"trusted_proxies": bad}, environ={})
    with pytest.raises(SettingsError, match="PROOFKEY_REDIS_URL"):
        load_settings({"redis_url": "http://127.0.0.1:6379"}, environ={})
