"""``proofkey registration token create|list|revoke`` and ``proofkey client prune`` as real
processes: an initial access token printed by the CLI registers a client at a running
``proofkey serve`` (PROOFKEY_REGISTRATION=token) once; ``client list`` marks the registered
client as dynamic; prune removes unused dynamic clients and never a CLI one."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.store import Store
from tests.process.conftest import ServerPool, clean_env, run_cli, with_store
from tests.process.test_cli import get_client, ok

NATIVE = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
          "grant_types": ["authorization_code", "refresh_token"]}
DAY = 86400


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir, registration="token")


def test_a_printed_initial_token_registers_one_client_at_the_server(
        env: dict[str, str], data_dir: Path, servers: ServerPool) -> None:
    created = ok(run_cli(["registration", "token", "create", "--expires", "1h", "--uses", "1"],
                         env))
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 43
    listed = json.loads(ok(run_cli(["registration", "token", "list", "--json"], env)).stdout)
    assert [t["uses_left"] for t in listed] == [1]
    assert token not in json.dumps(listed)
    server = servers.start(data_dir, settings={"registration": "token"})
    with httpx.Client(base_url=server.base_url) as http:
        first = http.post("/register", json=NATIVE, headers={"authorization": f"Bearer {token}"})
        second = http.post("/register", json=NATIVE, headers={"authorization": f"Bearer {token}"})
    assert first.status_code == 201, first.text
    assert second.status_code == 401
    client_id = first.json()["client_id"]
    rows = json.loads(ok(run_cli(["client", "list", "--json"], env)).stdout)
    assert [(r["client_id"], r["registered_by"]) for r in rows] == [(client_id, "dynamic")]
    shown = ok(run_cli(["client", "show", client_id], env)).stdout
    assert "dynamic" in shown
    assert token not in server.output()
    assert first.json()["registration_access_token"] not in server.output()


def test_an_initial_token_is_revoked_by_its_id(env: dict[str, str]) -> None:
    made = json.loads(ok(run_cli(["registration", "token", "create", "--json"], env)).stdout)
    assert made["uses_left"] == 1
    assert made["expires_at"] - made["created_at"] == 3600
    ok(run_cli(["registration", "token", "revoke", made["id"]], env))
    assert json.loads(ok(run_cli(["registration", "token", "list", "--json"], env)).stdout) == []
    again = run_cli(["registration", "token", "revoke", made["id"]], env)
    assert again.returncode == 1
    assert "no initial access token" in again.stderr


@pytest.mark.parametrize("args", [["--expires", "soon"], ["--uses", "0"],
                                  ["--expires", "400d"]])
def test_bad_token_options_are_usage_errors(env: dict[str, str], args: list[str]) -> None:
    refused = run_cli(["registration", "token", "create", *args], env)
    assert refused.returncode == 2, refused.stderr


def test_prune_removes_unused_dynamic_clients_and_never_cli_ones(
        env: dict[str, str], data_dir: Path) -> None:
    ok(run_cli(["client", "add", "old-cli", "--redirect-uri", "http://127.0.0.1/cb"], env))
    now = int(time.time())

    async def work(store: Store) -> None:
        cli = await store.get_client("old-cli")
        assert cli is not None
        await store.update_client(replace(cli, created_at=now - 400 * DAY))
        for client_id, created, used in (("never", now - 40 * DAY, None),
                                         ("stale", now - 90 * DAY, now - 31 * DAY),
                                         ("active", now - 90 * DAY, now - DAY),
                                         ("new", now - DAY, None)):
            await store.add_client(replace(cli, client_id=client_id, created_at=created,
                                           last_used_at=used, registered_by="dynamic",
                                           registration_token_digest=digest(client_id)))

    with_store(data_dir, work)
    dry = json.loads(ok(run_cli(["client", "prune", "--unused-for", "30d", "--dry-run",
                                 "--json"], env)).stdout)
    assert dry == {"dry_run": True, "clients": ["never", "stale"]}
    assert get_client(data_dir, "never") is not None
    text = ok(run_cli(["client", "prune", "--unused-for", "30d"], env)).stdout
    assert "removed client never" in text
    assert "removed 2 " in text
    remaining = {c["client_id"] for c in json.loads(ok(run_cli(["client", "list", "--json"],
                                                               env)).stdout)}
    assert remaining == {"old-cli", "active", "new"}
    audit = (data_dir / "audit.log").read_text()
    assert audit.count("client_pruned") == 2
