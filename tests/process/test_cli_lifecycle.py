"""``proofkey keys|user|grant|session`` for the operator flows of docs/admin.md, as processes,
on both stores: keys in phases, users with password-set links, disabled and removed, grants
and sessions by user and by client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from proofkey.crypto import digest
from proofkey.flows.admin import register_client, register_user
from proofkey.models import Grant, Session
from proofkey.store import open_store
from proofkey.store.base import Store
from tests.pg import fresh_schema
from tests.process.conftest import clean_env, run_cli

T = TypeVar("T")
SCOPES = ("openid", "profile", "offline_access")


@pytest.fixture(params=["sqlite", "postgres"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "sqlite":
        yield clean_env(data_dir)
        return
    async with fresh_schema() as url:
        yield clean_env(data_dir, database_url=url)


def at_store(env: dict[str, str], work: Callable[[Store], Awaitable[T]]) -> T:
    url = env.get("PROOFKEY_DATABASE_URL") or f"sqlite:///{env['PROOFKEY_DATA_DIR']}/proofkey.db"

    async def runner() -> T:
        store = open_store(url)
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the test's loop is running
        return pool.submit(lambda: asyncio.run(runner())).result(timeout=60)


def cli(args: list[str], env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    result = run_cli(args, env)
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def as_json(args: list[str], env: dict[str, str]) -> Any:
    return json.loads(cli([*args, "--json"], env).stdout)


def seed(env: dict[str, str]) -> dict[str, str]:
    """Two clients, alice with a session and a grant at each client, bob with one grant."""
    async def work(store: Store) -> dict[str, str]:
        now = int(time.time())
        for client_id in ("app", "other"):
            await register_client(store, client_id, client_type="public",
                                  redirect_uris=["http://127.0.0.1/cb"], scopes=SCOPES,
                                  supported_scopes=SCOPES, now=now)
        ids = {}
        for name in ("alice", "bob"):
            user = await register_user(store, name, "a long password", now=now)
            ids[name] = user.user_id
        await store.save_session(Session(digest("s-alice"), ids["alice"], now - 5, now + 3600))
        await store.save_session(Session(digest("s-bob"), ids["bob"], now - 9, now + 3600))
        for grant_id, client_id, user in (("g1", "app", "alice"), ("g2", "other", "alice"),
                                          ("g3", "app", "bob")):
            await store.save_grant(Grant(grant_id, client_id, ids[user], ("openid",),
                                         now - (5 if user == "alice" else 9), now,
                                         now + 86400), None)
        return ids

    return at_store(env, work)


def test_keys_rotate_in_phases_and_the_only_signer_is_not_retired(
        env: dict[str, str]) -> None:
    cli(["migrate"], env)
    cli(["keys", "rotate", "--activate-after", "0"], env)  # the first keys, signing now
    old = {k["kid"] for k in as_json(["keys", "list"], env)}
    fresh = as_json(["keys", "rotate", "--activate-after", "2h"], env)
    assert {k["phase"] for k in fresh} == {"published"}
    assert all(k["activates_at"] - k["created_at"] == 7200 for k in fresh)
    listed = {k["kid"]: k for k in as_json(["keys", "list"], env)}
    assert {listed[k]["phase"] for k in old} == {"active"}
    assert all("private_jwk" not in k and "d" not in k for k in listed.values())
    table = cli(["keys", "list"], env).stdout
    assert "published" in table
    assert "active" in table

    again = cli(["keys", "rotate"], env, code=1)
    assert "rotation is under way" in again.stderr
    for kid in old:
        refused = cli(["keys", "retire", kid], env, code=1)
        assert "only" in refused.stderr
    withdrawn = cli(["keys", "retire", fresh[0]["kid"], "--json"], env).stdout
    assert json.loads(withdrawn)["phase"] == "retiring"
    assert cli(["keys", "retire", "no-such-kid"], env, code=1).stderr
    assert "not a duration" in cli(["keys", "rotate", "--activate-after", "soon"], env,
                                   code=2).stderr


def test_users_get_a_link_are_disabled_enabled_and_removed(env: dict[str, str]) -> None:
    ids = seed(env)
    created = as_json(["user", "create", "carol", "--name", "Carol"], env)
    url = created["password_set_url"]
    assert url.startswith("http")
    assert "/account/password/set?token=" in url
    assert created["awaiting_setup"] is True
    text = cli(["user", "create", "dave"], env).stdout
    assert "single-use link" in text
    assert "/account/password/set?token=" in text
    assert "exists already" in cli(["user", "create", "carol"], env, code=1).stderr
    fresh = as_json(["user", "link", "carol"], env)["password_set_url"]
    assert fresh != url
    audit = (Path(env["PROOFKEY_DATA_DIR"]) / "audit.log").read_text()
    for link in (url, fresh):
        assert link.split("token=")[1] not in audit  # a credential: never audited

    disabled = as_json(["user", "disable", "alice"], env)
    assert disabled["disabled_at"]
    assert disabled["sessions_ended"] == 1
    assert disabled["grants_revoked"] == 2
    assert as_json(["grant", "list", "--user", "alice"], env) == []
    users = {u["username"]: u for u in as_json(["user", "list"], env)}
    assert users["alice"]["disabled_at"]
    assert users["carol"]["awaiting_setup"] is True
    cli(["user", "enable", "alice"], env)
    assert {u["username"]: u for u in as_json(["user", "list"], env)}["alice"][
        "disabled_at"] is None

    cli(["user", "remove", ids["bob"]], env)  # by user id too
    assert as_json(["session", "list", "--user", "alice"], env) == []
    assert "no user" in cli(["grant", "list", "--user", "bob"], env, code=1).stderr
    assert "no user" in cli(["user", "disable", "bob"], env, code=1).stderr


def test_grants_and_sessions_are_listed_and_revoked_by_user_and_client(
        env: dict[str, str]) -> None:
    ids = seed(env)
    assert {g["grant_id"] for g in as_json(["grant", "list", "--user", "alice"], env)} == {
        "g1", "g2"}
    assert {g["grant_id"] for g in as_json(["grant", "list", "--client", "app"], env)} == {
        "g1", "g3"}
    sessions = as_json(["session", "list", "--client", "other"], env)
    assert [s["user_id"] for s in sessions] == [ids["alice"]]
    assert sessions[0]["session_id"] == digest("s-alice")
    assert "grant_id" in cli(["grant", "list", "--client", "app"], env).stdout

    assert "revoked 1 grant" in cli(["grant", "revoke", "g2"], env).stdout
    assert "revoked 2 grant" in cli(["grant", "revoke", "--client", "app"], env).stdout
    assert as_json(["grant", "list", "--user", "alice"], env) == []
    assert "no grant" in cli(["grant", "revoke", "nope"], env, code=1).stderr
    assert "no client" in cli(["grant", "list", "--client", "nope"], env, code=1).stderr
    assert "exactly one" in cli(["grant", "list"], env, code=2).stderr
    assert "exactly one" in cli(["grant", "revoke", "g1", "--user", "alice"], env,
                                code=2).stderr

    assert "ended 1 session" in cli(["session", "revoke", digest("s-bob")], env).stdout
    assert "no session" in cli(["session", "revoke", digest("s-bob")], env, code=1).stderr
    assert "ended 1 session" in cli(["session", "revoke", "--user", "alice"], env).stdout
    assert as_json(["session", "list", "--user", "alice"], env) == []
