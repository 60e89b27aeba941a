"""Two real ``proofkey serve`` instances on one PostgreSQL database behave as one server.

Both have the same issuer (A's URL, as behind one load balancer) and share nothing but the
database: a login may start on one and finish on the other, a code is redeemed once however
many instances race for it, a key rotated by the CLI is published by both at once, and a
refresh-token family revoked through one instance is dead on both, and a PKCE challenge
reused across instances is counted as a reuse once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from proofkey.crypto import digest
from tests.helpers import (
    PASSWORD,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    authorize_params,
    new_flow,
)
from tests.observability.scrape import key, parse
from tests.process.conftest import (
    ServerPool,
    ServerProcess,
    clean_env,
    free_port,
    run_cli,
    start_server,
    wait_healthy,
)

from .conftest import Database, browser_code, seed_database

pytestmark = pytest.mark.timeout(90)


@dataclass
class Cluster:
    database: Database
    a: ServerProcess
    b: ServerProcess
    issuer: str
    secret: str
    data_dir: Path

    @property
    def A(self) -> str:
        return self.a.base_url

    @property
    def B(self) -> str:
        return self.b.base_url

    @property
    def auth(self) -> tuple[str, str]:
        return (WEB_ID, self.secret)


@pytest.fixture(scope="module")
def cluster(module_pg: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    secrets = seed_database(module_pg, confidential_clients={WEB_ID: [WEB_REDIRECT]},
                            users={USERNAME: PASSWORD})
    root = tmp_path_factory.mktemp("cluster")
    port_a = free_port()
    issuer = f"http://127.0.0.1:{port_a}"
    settings: dict[str, str | None] = {"database_url": module_pg.url, "issuer": issuer}
    pool = ServerPool()
    try:  # both start at once: migrations run under an advisory lock, each version once
        pool.servers.append(start_server(root / "a", port=port_a, settings=settings, wait=False))
        pool.servers.append(start_server(root / "b", settings=settings, wait=False))
        for server in pool.servers:
            wait_healthy(server)
        a, b = pool.servers
        yield Cluster(module_pg, a, b, issuer, secrets[WEB_ID], root)
    finally:
        pool.stop_all()


def _flow() -> Flow:
    return new_flow(WEB_ID, WEB_REDIRECT)


async def _code(browser: httpx.AsyncClient, cluster: Cluster, flow: Flow, *,
                authorize_at: str, interact_at: str) -> str:
    return await browser_code(browser, flow, authorize_at=authorize_at, interact_at=interact_at,
                              username=USERNAME, password=PASSWORD,
                              scope="openid profile offline_access")


async def _redeem(http: httpx.AsyncClient, base: str, cluster: Cluster, flow: Flow,
                  code: str) -> httpx.Response:
    return await http.post(f"{base}/token", auth=cluster.auth, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier})


async def _introspect(http: httpx.AsyncClient, base: str, cluster: Cluster,
                      token: str) -> bool:
    response = await http.post(f"{base}/introspect", auth=cluster.auth, data={"token": token})
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def test_authorize_on_a_log_in_and_consent_on_b_redeem_on_a(cluster: Cluster) -> None:
    flow = _flow()
    async with httpx.AsyncClient(timeout=10) as browser:
        code = await _code(browser, cluster, flow, authorize_at=cluster.A,
                           interact_at=cluster.B)
        # The browser cookie set by A travelled to B (same host, another port).
        assert {c.name for c in browser.cookies.jar} >= {"pk_browser", "pk_session"}
        response = await _redeem(browser, cluster.A, cluster, flow, code)
        assert response.status_code == 200, response.text
        body = response.json()
        assert {"access_token", "id_token", "refresh_token"} <= set(body)
        for base in (cluster.A, cluster.B):  # both instances know the new tokens
            assert await _introspect(browser, base, cluster, body["access_token"])
            info = await browser.get(f"{base}/userinfo",
                                     headers={"Authorization": f"Bearer {body['access_token']}"})
            assert info.status_code == 200, info.text
        # The session made on B lets A issue the next code without a login page.
        again = _flow()
        code2 = await _code(browser, cluster, again, authorize_at=cluster.A,
                            interact_at=cluster.A)
        assert (await _redeem(browser, cluster.B, cluster, again, code2)).status_code == 200


async def test_one_code_redeemed_concurrently_on_both_instances_wins_once(
    cluster: Cluster,
) -> None:
    flow = _flow()
    async with httpx.AsyncClient(timeout=20,
                                 limits=httpx.Limits(max_connections=64)) as http:
        code = await _code(http, cluster, flow, authorize_at=cluster.B, interact_at=cluster.A)
        bases = [cluster.A, cluster.B] * 12
        responses = await asyncio.gather(*(_redeem(http, base, cluster, flow, code)
                                           for base in bases))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [400] * 23, statuses
        winner = next(r for r in responses if r.status_code == 200).json()
        assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
        # Each valid replay revoked what the code issued, seen by both instances.
        for base in (cluster.A, cluster.B):
            assert not await _introspect(http, base, cluster, winner["access_token"])
    rows = cluster.database.fetch(
        "SELECT c.redeemed_at, c.grant_id, g.revoked_at FROM auth_codes c"
        " JOIN grants g USING (grant_id) WHERE c.code_digest = $1", digest(code))
    assert len(rows) == 1
    assert rows[0]["revoked_at"] is not None


async def test_a_refresh_family_reused_across_instances_is_revoked_on_both(
    cluster: Cluster,
) -> None:
    flow = _flow()
    async with httpx.AsyncClient(timeout=10) as http:
        code = await _code(http, cluster, flow, authorize_at=cluster.A, interact_at=cluster.B)
        first = (await _redeem(http, cluster.B, cluster, flow, code)).json()

        async def refresh(base: str, token: str) -> httpx.Response:
            return await http.post(f"{base}/token", auth=cluster.auth, data={
                "grant_type": "refresh_token", "refresh_token": token})

        rotated = await refresh(cluster.A, first["refresh_token"])  # rotate on A
        assert rotated.status_code == 200, rotated.text
        newest = rotated.json()
        assert await _introspect(http, cluster.B, cluster, newest["access_token"])

        reuse = await refresh(cluster.B, first["refresh_token"])  # the old one, on B
        assert reuse.status_code == 400
        assert reuse.json()["error"] == "invalid_grant"

        for base in (cluster.A, cluster.B):
            late = await refresh(base, newest["refresh_token"])
            assert late.status_code == 400, late.text
            assert late.json()["error"] == "invalid_grant"
            for token in (newest["access_token"], newest["refresh_token"]):
                assert not await _introspect(http, base, cluster, token)
            info = await http.get(f"{base}/userinfo",
                                  headers={"Authorization": f"Bearer {newest['access_token']}"})
            assert info.status_code == 401, info.text


def _kids(http: httpx.Client, base: str) -> set[str]:
    response = http.get(f"{base}/jwks")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


def test_a_key_rotated_by_the_cli_is_in_both_jwks_at_once(cluster: Cluster) -> None:
    with httpx.Client(timeout=10) as http:
        before = _kids(http, cluster.A)
        assert before == _kids(http, cluster.B)
        env = clean_env(cluster.data_dir / "cli", database_url=cluster.database.url)
        result = run_cli(["keys", "rotate", "--json"], env)
        assert result.returncode == 0, result.stderr
        fresh = {key["kid"] for key in json.loads(result.stdout)}
        assert fresh
        assert not fresh & before
        for base in (cluster.A, cluster.B):  # no restart, no wait
            assert _kids(http, base) == before | fresh  # old keys stay until tokens expire


def _reuse_counts(http: httpx.Client, cluster: Cluster) -> tuple[float, float]:
    """``proofkey_pkce_challenge_reuse_total`` of the web client on A and on B."""
    counts = []
    for base in (cluster.A, cluster.B):
        samples = parse(http.get(f"{base}/metrics").text)
        counts.append(samples.get(key("proofkey_pkce_challenge_reuse_total",
                                      client_id=WEB_ID), 0.0))
    return counts[0], counts[1]


async def test_a_challenge_reused_on_the_other_instance_is_counted_once(
    cluster: Cluster,
) -> None:
    """The digests live in the shared database: a challenge first sent to A is a reuse on B,
    and of two concurrent first sightings, one on each instance, exactly one is."""
    with httpx.Client(timeout=10) as scraper:
        before = _reuse_counts(scraper, cluster)
    async with httpx.AsyncClient(timeout=10) as browser:
        flow = _flow()
        for base in (cluster.A, cluster.B):
            response = await browser.get(f"{base}/authorize", params=authorize_params(flow))
            assert response.status_code == 303
            assert response.headers["location"].startswith("/interaction/")  # flag off
        with httpx.Client(timeout=10) as scraper:
            after = _reuse_counts(scraper, cluster)
        assert (after[0] - before[0], after[1] - before[1]) == (0, 1)
        for _ in range(5):
            racing = authorize_params(_flow())
            await asyncio.gather(*(browser.get(f"{base}/authorize", params=racing)
                                   for base in (cluster.A, cluster.B)))
        with httpx.Client(timeout=10) as scraper:
            raced = _reuse_counts(scraper, cluster)
        assert sum(raced) - sum(after) == 5
