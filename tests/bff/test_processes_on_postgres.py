"""Two ``proofkey bff`` processes on one PostgreSQL session store, behind one public origin,
against a real ``proofkey serve``: a login on one is a session on the other, refreshes by
either keep the grant alive (each uses the refresh token the other stored), and a logout on
one ends the session on both. No token reaches either gateway's log.

proofkey's access tokens live 20 s and the gateways refresh 30 s before expiry, so every API
call refreshes, alternately on each instance.
"""

from __future__ import annotations

import base64
import os
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from proofkey.bff.app import LOGIN_COOKIE, SESSION_COOKIE
from tests.bff.processes import IntrospectingApi, running_bff, serving_in_thread
from tests.interop.conftest import sign_in_at_proofkey
from tests.pg import fresh_schema
from tests.process.conftest import free_port, running_server, seed

USERNAME, PASSWORD = "ada", "analytical engine 1843"


def _cookie(response: httpx.Response, name: str) -> str:
    value = response.cookies.get(name)
    assert value, f"no {name} in {response.headers.get_list('set-cookie')}"
    return value


async def test_two_gateway_processes_share_sessions_and_refreshes_on_postgresql(
    tmp_path: Path,
) -> None:
    public_port, other_port, api_port = free_port(), free_port(), free_port()
    public = f"http://127.0.0.1:{public_port}"  # the load balancer's origin
    secrets = seed(tmp_path / "data", confidential_clients={
        "spa-gateway": [f"{public}/bff/callback"], "api-rs": ["http://127.0.0.1/unused"]},
        users={USERNAME: PASSWORD}, resource_servers=["api-rs"])
    key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    async with fresh_schema() as store_url:
        with ExitStack() as stack:
            idp = stack.enter_context(running_server(
                tmp_path / "data", settings={"access_token_ttl_seconds": "20"}))
            api = IntrospectingApi(idp.base_url, "api-rs", secrets["api-rs"])
            api_url = stack.enter_context(serving_in_thread(api.app(), api_port))
            gateways = [stack.enter_context(running_bff(
                tmp_path / f"bff-{port}",
                ["--issuer", idp.base_url, "--client-id", "spa-gateway",
                 "--upstream", f"/api={api_url}", "--listen", f"127.0.0.1:{port}",
                 "--public-url", public, "--session-store-url", store_url],
                secrets["spa-gateway"], f"http://127.0.0.1:{port}",
                {"PROOFKEY_BFF_SESSION_KEY": key})) for port in (public_port, other_port)]
            await _exercise([g.url for g in gateways], idp.base_url, public, api)
            logs = "\n".join(g.output() for g in gateways)
    tokens = {seen["token"] for seen in api.seen}
    assert len(tokens) >= 4
    for token in tokens:
        assert token not in logs


async def _exercise(urls: list[str], issuer: str, public: str, api: IntrospectingApi) -> None:
    one, two = urls
    async with httpx.AsyncClient(timeout=15) as http:
        started = await http.get(f"{one}/bff/login", params={"returnUrl": "/app"})
        assert started.status_code == 302
        login = _cookie(started, LOGIN_COOKIE)
        callback = sign_in_at_proofkey(issuer, started.headers["location"], username=USERNAME,
                                       password=PASSWORD)
        assert callback.startswith(f"{public}/bff/callback?")
        assert "code" in parse_qs(urlsplit(callback).query)
        done = await http.get(f"{one}/bff/callback?{urlsplit(callback).query}",
                              headers={"Cookie": f"{LOGIN_COOKIE}={login}"})
        assert done.status_code == 303, done.text
        session = {"Cookie": f"{SESSION_COOKIE}={_cookie(done, SESSION_COOKIE)}"}

        user = await http.get(f"{two}/bff/user", headers=session)  # the other instance
        assert user.status_code == 200
        assert user.json()["preferred_username"] == USERNAME
        for i, base in enumerate([two, one, two, one]):
            answer = await http.post(f"{base}/api/items/{i}", content=b'{"n": 1}', headers={
                **session, "X-CSRF": "1", "Origin": public, "Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
            assert api.seen[-1]["body"] == b'{"n": 1}'
        assert len({seen["token"] for seen in api.seen}) == 4  # a refresh on every call
        out = await http.post(f"{two}/bff/logout", headers={**session, "X-CSRF": "1",
                                                             "Origin": public})
        assert out.status_code == 200
        for base in (one, two):
            assert (await http.get(f"{base}/bff/user", headers=session)).status_code == 401

