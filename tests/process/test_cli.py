"""The ``proofkey`` command as an operator runs it: a real process, settings from the env."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from joserfc import jws

from proofkey.crypto import verify_password
from proofkey.models import Client, User
from proofkey.settings import Settings
from proofkey.store import Store
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    exchange,
    get_code,
    new_flow,
)
from tests.process.conftest import (
    STOPPED_BY_SIGTERM,
    clean_env,
    free_port,
    port_is_open,
    run_cli,
    running_server,
    seed,
    with_store,
)

REDIRECT = "http://127.0.0.1/cb"
CLI_PASSWORD = "a long enough password"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def get_client(data_dir: Path, client_id: str) -> Client | None:
    async def work(store: Store) -> Client | None:
        return await store.get_client(client_id)

    return with_store(data_dir, work)


def get_user(data_dir: Path, username: str) -> User | None:
    async def work(store: Store) -> User | None:
        return await store.get_user_by_username(username)

    return with_store(data_dir, work)


# -- clients -------------------------------------------------------------------------------


def test_adding_a_public_client_prints_its_json_and_no_secret(env: dict[str, str]) -> None:
    result = ok(run_cli(["client", "add", "cli-app", "--public", "--redirect-uri", REDIRECT,
                         "--json"], env))
    data = json.loads(result.stdout)
    assert data["client_id"] == "cli-app"
    assert data["type"] == "public"
    assert data["redirect_uris"] == [REDIRECT]
    assert data["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in data
    assert "secret" not in result.stdout.lower()


def test_a_confidential_clients_secret_is_printed_once_and_only_its_sha256_is_stored(
        env: dict[str, str], data_dir: Path) -> None:
    result = ok(run_cli(["client", "add", "web", "--confidential", "--redirect-uri",
                         "https://app.example.com/cb"], env))
    lines = result.stdout.strip().splitlines()
    assert "shown once" in result.stdout
    secret = lines[-1].strip()
    assert len(secret) >= 43, "a 256-bit secret, base64url"
    assert result.stdout.count(secret) == 1
    assert secret not in result.stderr

    client = get_client(data_dir, "web")
    assert client is not None
    assert client.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    for path in data_dir.iterdir():  # the database and its WAL and journal files
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path.name

    shown = ok(run_cli(["client", "show", "web", "--json"], env)).stdout
    listed = ok(run_cli(["client", "list", "--json"], env)).stdout
    assert secret not in shown + listed
    assert "client_secret" not in json.loads(shown)
    assert all("client_secret" not in c for c in json.loads(listed))


def test_a_confidential_client_added_with_json_carries_the_secret_in_the_json(
        env: dict[str, str], data_dir: Path) -> None:
    result = ok(run_cli(["client", "add", "svc", "--confidential", "--redirect-uri",
                         "https://svc.example.com/cb", "--json"], env))
    data = json.loads(result.stdout)
    client = get_client(data_dir, "svc")
    assert client is not None
    assert client.secret_digest == hashlib.sha256(data["client_secret"].encode()).hexdigest()


@pytest.mark.parametrize(("uri", "reason"), [
    ("http://127.0.0.1/cb#frag", "fragment"),
    ("http://example.com/cb", "loopback"),
    ("http://localhost/cb", "localhost"),
    ("/relative/cb", ""),
])
def test_an_invalid_redirect_uri_is_refused_with_a_clear_message(
        env: dict[str, str], data_dir: Path, uri: str, reason: str) -> None:
    result = run_cli(["client", "add", "bad", "--public", "--redirect-uri", uri], env)
    assert result.returncode == 1, result
    message = " ".join(result.stderr.split())
    assert message.startswith("proofkey: redirect URI"), message
    assert uri in message
    assert reason in message
    assert "Traceback" not in result.stderr
    assert get_client(data_dir, "bad") is None


def test_clients_can_be_listed_shown_and_removed(env: dict[str, str]) -> None:
    ok(run_cli(["client", "add", "one", "--redirect-uri", REDIRECT, "--name", "One"], env))
    ok(run_cli(["client", "add", "two", "--redirect-uri", "http://[::1]/cb",
                "--scope", "openid profile"], env))

    listed = json.loads(ok(run_cli(["client", "list", "--json"], env)).stdout)
    assert sorted(c["client_id"] for c in listed) == ["one", "two"]
    table = ok(run_cli(["client", "list"], env)).stdout
    assert "one" in table
    assert "two" in table

    shown = json.loads(ok(run_cli(["client", "show", "two", "--json"], env)).stdout)
    assert shown["scopes"] == ["openid", "profile"]
    assert shown["redirect_uris"] == ["http://[::1]/cb"]

    removed = ok(run_cli(["client", "remove", "one"], env))
    assert "removed client one" in removed.stdout
    listed = json.loads(ok(run_cli(["client", "list", "--json"], env)).stdout)
    assert [c["client_id"] for c in listed] == ["two"]

    missing = run_cli(["client", "show", "one", "--json"], env)
    assert missing.returncode == 1
    assert "no client 'one'" in missing.stderr
    assert missing.stdout == ""
    assert run_cli(["client", "remove", "one"], env).returncode == 1


def test_adding_a_client_id_twice_is_refused(env: dict[str, str]) -> None:
    ok(run_cli(["client", "add", "dup", "--redirect-uri", REDIRECT], env))
    again = run_cli(["client", "add", "dup", "--redirect-uri", REDIRECT], env)
    assert again.returncode == 1
    assert again.stderr.startswith("proofkey: ")
    assert "Traceback" not in again.stderr


# -- users ---------------------------------------------------------------------------------


def test_a_user_is_added_with_the_password_on_stdin_then_listed_changed_and_removed(
        env: dict[str, str], data_dir: Path) -> None:
    added = ok(run_cli(["user", "add", "alice", "--password-stdin", "--name", "Alice",
                        "--json"], env, stdin=CLI_PASSWORD + "\n"))
    assert json.loads(added.stdout)["username"] == "alice"
    assert CLI_PASSWORD not in added.stdout + added.stderr
    user = get_user(data_dir, "alice")
    assert user is not None
    assert verify_password(user.password_hash, CLI_PASSWORD)

    listed = json.loads(ok(run_cli(["user", "list", "--json"], env)).stdout)
    assert [(u["username"], u["name"]) for u in listed] == [("alice", "Alice")]
    assert all("password" not in key for u in listed for key in u)

    new_password = "another long password"
    changed = ok(run_cli(["user", "passwd", "alice", "--password-stdin"], env,
                         stdin=new_password + "\n"))
    assert "password changed for alice" in changed.stdout
    user = get_user(data_dir, "alice")
    assert user is not None
    assert verify_password(user.password_hash, new_password)
    assert not verify_password(user.password_hash, CLI_PASSWORD)

    assert "removed user alice" in ok(run_cli(["user", "remove", "alice"], env)).stdout
    assert json.loads(ok(run_cli(["user", "list", "--json"], env)).stdout) == []
    gone = run_cli(["user", "remove", "alice"], env)
    assert gone.returncode == 1
    assert "no user 'alice'" in gone.stderr
    assert run_cli(["user", "passwd", "alice", "--password-stdin"], env,
                   stdin=new_password + "\n").returncode == 1


def test_a_password_is_never_taken_from_the_command_line(env: dict[str, str],
                                                         data_dir: Path) -> None:
    without_flag = run_cli(["user", "add", "bob"], env, stdin=CLI_PASSWORD + "\n")
    assert without_flag.returncode == 2
    assert "--password-stdin" in without_flag.stderr
    as_argument = run_cli(["user", "add", "bob", CLI_PASSWORD], env)
    assert as_argument.returncode == 2
    assert get_user(data_dir, "bob") is None


def test_a_too_short_password_is_refused(env: dict[str, str], data_dir: Path) -> None:
    result = run_cli(["user", "add", "carol", "--password-stdin"], env, stdin="short\n")
    assert result.returncode == 1
    assert "at least 8 characters" in result.stderr
    assert "short" not in result.stdout
    assert get_user(data_dir, "carol") is None


# -- keys and migrations -------------------------------------------------------------------


def test_keys_are_listed_and_rotated(env: dict[str, str]) -> None:
    """``--activate-after 0``: the new keys sign at once (phased rotation:
    tests/process/test_cli_lifecycle.py)."""
    first = json.loads(ok(run_cli(["keys", "rotate", "--activate-after", "0", "--json"],
                                  env)).stdout)
    assert {k["alg"] for k in first} >= {"ES256", "RS256"}
    assert all(k["active"] for k in first)

    listed = json.loads(ok(run_cli(["keys", "list", "--json"], env)).stdout)
    assert {k["kid"] for k in listed} == {k["kid"] for k in first}
    assert all("d" not in k and "private" not in json.dumps(k).lower() for k in listed)

    rotated = ok(run_cli(["keys", "rotate", "--activate-after", "0"], env)).stdout
    assert "new signing keys" in rotated
    after = {k["kid"]: k for k in json.loads(ok(run_cli(["keys", "list", "--json"], env)).stdout)}
    old = [after[k["kid"]] for k in first]
    assert all(not k["active"] and k["retired_at"] for k in old), "retired, still published"
    assert {k["phase"] for k in old} == {"retiring"}
    new_active = [k for k in after.values() if k["active"]]
    assert {k["alg"] for k in new_active} == {k["alg"] for k in first}
    assert not {k["kid"] for k in new_active} & {k["kid"] for k in first}


def test_migrate_creates_the_database_and_is_idempotent(env: dict[str, str],
                                                        data_dir: Path) -> None:
    data_dir.mkdir()
    first = ok(run_cli(["migrate"], env)).stdout
    assert "applied migration 0001" in first  # each version it applied, named
    assert "the database schema is up to date" in first
    assert (data_dir / "proofkey.db").is_file()
    again = ok(run_cli(["migrate"], env)).stdout
    assert "applied migration" not in again
    assert "the database schema is up to date" in again


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [
    ("PROOFKEY_PORT", "abc"),
    ("PROOFKEY_PORT", "70000"),
    ("PROOFKEY_CODE_TTL_SECONDS", "0"),
    ("PROOFKEY_ISSUER", "http://example.com"),
    ("PROOFKEY_ISSUER", "https://example.com/a/rather/long/issuer/path?with=a&query=string"),
    ("PROOFKEY_DEMO", "maybe"),
    ("PROOFKEY_DATA_DIR", "/dev/null/proofkey-data"),  # cannot be created
])
def test_an_invalid_setting_stops_serve_with_one_line_naming_it(
        data_dir: Path, variable: str, value: str) -> None:
    env = clean_env(data_dir, **{variable: value})
    result = run_cli(["serve"], env)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"proofkey: invalid setting {variable}:"), lines[0]
    assert not data_dir.exists(), "nothing was started or created"


def test_an_unknown_key_in_the_config_file_stops_serve(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "proofkey.toml"
    config.write_text(f"port = {port}\nworker_count = 2\n")
    result = run_cli(["serve", "--config", str(config)], clean_env(data_dir))
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"'worker_count' in {config}" in lines[0]  # the TOML key, not a variable
    assert "unknown setting" in lines[0]
    assert not data_dir.exists()
    assert not port_is_open(port)


@pytest.mark.parametrize("content", [None, "port = \n"])
def test_a_missing_or_malformed_config_file_stops_serve(data_dir: Path, tmp_path: Path,
                                                        content: str | None) -> None:
    config = tmp_path / "settings.toml"
    if content is not None:
        config.write_text(content)
    result = run_cli(["serve", "--config", str(config)], clean_env(data_dir))
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("proofkey: invalid setting PROOFKEY_CONFIG:")
    assert not data_dir.exists()


def test_management_commands_refuse_invalid_settings_too(data_dir: Path) -> None:
    env = clean_env(data_dir, PROOFKEY_DATABASE_URL="mysql://db/proofkey")
    result = run_cli(["client", "list", "--json"], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PROOFKEY_DATABASE_URL" in lines[0]
    assert result.stdout == ""


def test_serve_help_lists_every_setting(env: dict[str, str]) -> None:
    text = ok(run_cli(["serve", "--help"], env)).stdout
    for f in fields(Settings):
        assert f"PROOFKEY_{f.name.upper()} " in text, f.name


def test_python_dash_m_proofkey_runs_the_cli(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "proofkey", "--help"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "client", "user", "keys"):
        assert command in result.stdout


def test_the_config_file_is_honoured_and_the_environment_overrides_it(
        data_dir: Path, tmp_path: Path) -> None:
    toml_port, env_port = free_port(), free_port()
    config = tmp_path / "proofkey.toml"
    config.write_text(f'port = {toml_port}\nscopes_supported = ["openid", "profile", "api"]\n'
                      'log_level = "warning"\n')
    with running_server(data_dir, port=env_port, args=["--config", str(config)]) as server:
        metadata = httpx.get(f"{server.base_url}/.well-known/openid-configuration", timeout=5)
        assert metadata.status_code == 200
        assert metadata.json()["scopes_supported"] == ["openid", "profile", "api"]
        assert metadata.json()["issuer"] == server.base_url
        assert not port_is_open(toml_port)
        assert (data_dir / "proofkey.db").is_file()
    assert server.returncode in STOPPED_BY_SIGTERM, server.output()
    assert "startup complete" not in server.output(), "log_level from the file applies"


def test_the_config_file_alone_sets_the_port(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "proofkey.toml"
    config.write_text(f"[proofkey]\nport = {port}\n")
    with running_server(data_dir, port=port,
                        settings={"PROOFKEY_CONFIG": str(config), "port": None}) as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


def test_serve_on_a_port_in_use_fails_with_a_clear_message(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(data_dir, port=str(port))
        result = run_cli(["serve"], env)
    assert result.returncode == 2
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


POSTGRES_URL = os.environ.get("PROOFKEY_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A throw-away schema in the test database (skipped when PostgreSQL is unreachable)."""
    schema = f"cli_{secrets.token_hex(6)}"
    created = subprocess.run(["psql", POSTGRES_URL, "-Atc", f"CREATE SCHEMA {schema}"],
                             capture_output=True, text=True, timeout=20, check=False)
    if created.returncode != 0:
        pytest.skip(f"PostgreSQL not reachable with psql: {created.stderr.strip()[:200]}")
    try:
        yield schema
    finally:
        subprocess.run(["psql", POSTGRES_URL, "-Atc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                       capture_output=True, timeout=20, check=False)


def test_serve_never_prints_the_database_password(data_dir: Path, postgres_schema: str) -> None:
    parts = urlsplit(POSTGRES_URL)
    password = parts.password or "not-for-the-logs-" + secrets.token_hex(4)
    host = parts.netloc.rpartition("@")[2]
    url = urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{host}",
                                    query=f"search_path={postgres_schema}"))
    with running_server(data_dir, settings={"database_url": url}) as server:
        assert httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200
    output = server.output()
    assert "proofkey serving" in output
    assert password not in output
    assert f"{parts.username}:***@{host}" in output, "the store is still named"


async def test_keys_rotated_by_the_cli_reach_a_running_server(data_dir: Path,
                                                              env: dict[str, str]) -> None:
    seed(data_dir, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    with running_server(data_dir) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            before = {k["kid"] for k in (await http.get("/jwks")).json()["keys"]}
            rotated = json.loads(ok(await asyncio.to_thread(
                run_cli, ["keys", "rotate", "--activate-after", "0", "--json"], env)).stdout)
            fresh = {k["kid"] for k in rotated}

            published = {k["kid"] for k in (await http.get("/jwks")).json()["keys"]}
            assert published == before | fresh, "new keys at once; retired ones still published"

            flow = new_flow()
            tokens = (await exchange(http, flow, await get_code(http, flow))).json()
            for name in ("access_token", "id_token"):
                assert jws.extract_compact(tokens[name].encode()).headers()["kid"] in fresh, name
