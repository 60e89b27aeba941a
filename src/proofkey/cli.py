"""The ``proofkey`` command: serve, migrate, and manage clients, users and keys.

Settings come from ``PROOFKEY_*`` variables and an optional TOML file (``--config`` or
``PROOFKEY_CONFIG``); an invalid setting prints one line naming it and exits with status 2.
Management commands print a table, or JSON with ``--json``. Passwords are read from standard
input only, never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.table import Table

from proofkey import cli_login
from proofkey.flows.admin import AdminError, register_client, register_user, validate_password
from proofkey.models import Client, SigningKey, User
from proofkey.observability.events import AdminChange
from proofkey.ops import check_cli, tools_cli
from proofkey.settings import Settings, SettingsError, describe_settings, env_name, load_settings
from proofkey.store import open_store
from proofkey.store.base import AlreadyExists, Store, StoreUnavailable

__all__ = ["app", "main"]

T = TypeVar("T")
app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="proofkey: a PKCE-first OAuth 2.1 / OpenID Connect authorization server.")
client_app = typer.Typer(no_args_is_help=True, help="Register and inspect OAuth clients.")
user_app = typer.Typer(no_args_is_help=True, help="Manage users who sign in.")
keys_app = typer.Typer(no_args_is_help=True, help="List and rotate signing keys.")
app.add_typer(client_app, name="client")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")

out = Console()
# soft_wrap: one message stays one line (rich would break it at 80 columns when piped), so
# logs, scripts and copy-paste see whole URLs, paths and error messages.
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"proofkey: {message}", markup=False, highlight=False)
    return typer.Exit(code)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(overrides, config_file=config)
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None


@contextlib.asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[Store]:
    store = open_store(settings.effective_database_url)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


def _run(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def runner() -> T:
        async with _open(settings) as store:
            return await work(store)

    try:
        return asyncio.run(runner())
    except StoreUnavailable as exc:
        raise _fail(f"the store is unavailable: {exc}") from None
    except (AdminError, AlreadyExists) as exc:
        raise _fail(str(exc) or "it exists already") from None


def _audit(settings: Settings, action: str, subject: str) -> None:
    """One audit line (JSON, redacted) for an administrative change."""
    from proofkey.observability.audit import AuditLog
    from proofkey.observability.logs import configure_logging

    configure_logging(settings, None)
    AuditLog()(AdminChange(action, subject))


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif table is not None:
        out.print(table)


def _client_dict(client: Client) -> dict[str, Any]:
    return {"client_id": client.client_id, "type": client.client_type, "name": client.name,
            "redirect_uris": list(client.redirect_uris), "scopes": sorted(client.scopes),
            "grant_types": sorted(client.grant_types),
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "id_token_signed_response_alg": client.id_token_signed_response_alg,
            "require_pushed_authorization_requests":
                client.require_pushed_authorization_requests,
            "created_at": client.created_at}


def _user_dict(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "username": user.username, "name": user.name,
            "email": user.email, "created_at": user.created_at}


def _key_dict(key: SigningKey) -> dict[str, Any]:
    return {"kid": key.kid, "alg": key.alg, "created_at": key.created_at,
            "retired_at": key.retired_at, "active": key.is_active()}


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[" ".join(v) if isinstance(v, list) else str(v) for v in
                        (row[c] for c in columns)])
    return table


def _masked_url(url: str) -> str:
    """A database URL fit for logs: a password in the userinfo or the query becomes ***."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and not any(key.lower() == "password" for key, _ in pairs):
        return url  # untouched: urlunsplit would turn sqlite://// into sqlite://
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = parts.query
    if any(key.lower() == "password" for key, _ in pairs):
        query = "&".join(f"{key}=***" if key.lower() == "password" else f"{key}={value}"
                         for key, value in pairs)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        validate_password(password)
    except AdminError as exc:
        raise _fail(str(exc)) from None
    return password


# -- serve ---------------------------------------------------------------------------------


@app.command(epilog="Settings (environment variables; TOML keys are the lower-case names "
             "without the prefix):\n\n" + describe_settings().replace("\n", "\n\n"))
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
) -> None:
    """Run the authorization server (SQLite in the data directory unless configured)."""
    settings = _settings(config, host=host, port=port, workers=workers, issuer=issuer,
                         data_dir=str(data_dir) if data_dir else None)
    import uvicorn

    from proofkey.demo import seed_demo
    from proofkey.tokens.keys import KeyRing

    async def prepare(store: Store) -> Any:
        await KeyRing.load(store, int(time.time()))
        return await seed_demo(store, settings) if settings.demo else None

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(f"invalid setting {env_name('data_dir')}: cannot create "
                    f"{settings.data_dir}: {exc.strerror}", 2) from None
    demo = _run(settings, prepare)
    issuer_url = settings.effective_issuer
    err.print(f"proofkey serving {issuer_url} (store: "
              f"{_masked_url(settings.effective_database_url)})", markup=False, highlight=False)
    if demo is not None:
        err.print(f"Log in at {issuer_url}/account as user '{demo.username}'"
                  + (f" with password {demo.password}" if demo.password else "")
                  + f" (password file: {demo.password_file}); demo client: {demo.client_id}",
                  markup=False, highlight=False)
    # Worker processes rebuild the same settings from the environment.
    for f in fields(Settings):
        value = getattr(settings, f.name)
        os.environ[env_name(f.name)] = " ".join(value) if isinstance(value, tuple) else str(value)
    os.environ.pop("PROOFKEY_CONFIG", None)
    from proofkey.observability.logs import configure_logging

    configure_logging(settings, None)
    uvicorn.run("proofkey.web.app:create_app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, loop="uvloop", http="httptools",
                access_log=False, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=30, server_header=False,
                # X-Forwarded-For/-Proto only from the configured proxies (never X-Forwarded-Host:
                # the issuer is a setting, not a header).
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=list(settings.trusted_proxies))


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Apply pending database migrations."""
    settings = _settings(config)

    async def work(store: Store) -> None:
        return None

    _run(settings, work)
    out.print("migrations applied")


@app.command()
def gc(
    config: ConfigOpt = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000,
                                       help="Rows per table and round.")] = 1000,
    max_rounds: Annotated[int, typer.Option(min=1, help="Stop after this many rounds.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Purge expired codes, sessions, pending and pushed requests, grants, tokens and device
    requests in bounded batches until none is left (running servers also do this every
    minute). Codes and device codes stay 10 minutes past expiry, so late replays are caught."""
    settings = _settings(config)

    async def work(store: Store) -> tuple[int, int, bool]:
        now, purged = int(time.time()), 0
        for rounds in range(1, max_rounds + 1):
            deleted = await store.purge_expired(now, batch)
            purged += deleted
            if not deleted:
                return purged, rounds, True
        return purged, max_rounds, False

    purged, rounds, complete = _run(settings, work)
    if as_json:
        _emit({"purged": purged, "rounds": rounds, "complete": complete}, True)
    else:
        out.print(f"purged {purged} expired rows in {rounds} rounds", markup=False)
    if not complete:
        err.print(f"proofkey: stopped after {max_rounds} rounds; expired rows remain (run gc "
                  "again)", markup=False, highlight=False)


# -- clients -------------------------------------------------------------------------------


@client_app.command("add")
def client_add(
    client_id: str,
    redirect_uri: Annotated[list[str] | None, typer.Option(
        "--redirect-uri", help="Redirect URI (repeat for several).")] = None,
    public: Annotated[bool, typer.Option("--public/--confidential",
                                         help="Public (PKCE only) or confidential.")] = True,
    scope: Annotated[list[str] | None, typer.Option(help="Allowed scope (repeatable).")] = None,
    grant_type: Annotated[list[str] | None, typer.Option(
        help="Grant type (repeatable); default authorization_code and refresh_token.")] = None,
    auth_method: Annotated[str | None, typer.Option(
        help="client_secret_basic or client_secret_post for confidential clients.")] = None,
    id_token_alg: Annotated[str, typer.Option(help="RS256 or ES256.")] = "RS256",  # noqa: S107
    name: Annotated[str, typer.Option(help="Name shown on consent pages.")] = "",
    require_par: Annotated[bool, typer.Option(
        "--require-par", help="Accept only pushed authorization requests (RFC 9126).")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a client. A confidential client's secret is printed once, never stored."""
    settings = _settings(config)
    if auth_method not in (None, "client_secret_basic", "client_secret_post", "none"):
        raise _fail("--auth-method must be client_secret_basic or client_secret_post")
    scopes = [s for item in (scope or ["openid profile email offline_access"])
              for s in item.split()]
    grants = grant_type or ["authorization_code", "refresh_token"]

    async def work(store: Store) -> Any:
        return await register_client(
            store, client_id, client_type="public" if public else "confidential",
            redirect_uris=redirect_uri or [], scopes=scopes,
            supported_scopes=settings.scopes_supported, grant_types=grants,
            auth_method=auth_method,  # type: ignore[arg-type]
            id_token_alg=id_token_alg, name=name, require_par=require_par,
            now=int(time.time()))

    created = _run(settings, work)
    _audit(settings, "client_registered", client_id)
    data = _client_dict(created.client)
    if created.secret is not None:
        data["client_secret"] = created.secret.reveal()
    if as_json:
        _emit(data, True)
        return
    out.print(f"registered client {client_id} ({data['type']})", markup=False)
    if created.secret is not None:
        out.print("client secret (shown once, store it now):", markup=False)
        print(created.secret.reveal())


@client_app.command("list")
def client_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List registered clients."""
    rows = [_client_dict(c) for c in _run(_settings(config), lambda s: s.list_clients())]
    _emit(rows, as_json, _table("clients", rows, ["client_id", "type", "redirect_uris",
                                                  "scopes", "grant_types"]))


@client_app.command("show")
def client_show(client_id: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show one client."""
    client = _run(_settings(config), lambda s: s.get_client(client_id))
    if client is None:
        raise _fail(f"no client {client_id!r}")
    row = _client_dict(client)
    _emit(row, as_json, _table(client_id, [{"field": k, "value": v} for k, v in row.items()],
                               ["field", "value"]))


@client_app.command("remove")
def client_remove(client_id: str, config: ConfigOpt = None) -> None:
    """Remove a client."""
    settings = _settings(config)
    if not _run(settings, lambda s: s.remove_client(client_id)):
        raise _fail(f"no client {client_id!r}")
    _audit(settings, "client_removed", client_id)
    out.print(f"removed client {client_id}", markup=False)


# -- users ---------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: str,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (required).")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    email: Annotated[str, typer.Option(help="Email address.")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user; the password is read from standard input, never from arguments."""
    if not password_stdin:
        raise _fail("pass --password-stdin and write the password to standard input", 2)
    settings = _settings(config)
    password = _read_password()
    user = _run(settings, lambda s: register_user(s, username, password, name=name,
                                                   email=email, now=int(time.time())))
    _audit(settings, "user_added", user.user_id)
    if as_json:
        _emit(_user_dict(user), True)
    else:
        out.print(f"added user {username}", markup=False)


@user_app.command("list")
def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List users."""
    rows = [_user_dict(u) for u in _run(_settings(config), lambda s: s.list_users())]
    _emit(rows, as_json, _table("users", rows, ["username", "user_id", "name", "email"]))


@user_app.command("remove")
def user_remove(username: str, config: ConfigOpt = None) -> None:
    """Remove a user."""
    settings = _settings(config)
    if not _run(settings, lambda s: s.remove_user(username)):
        raise _fail(f"no user {username!r}")
    _audit(settings, "user_removed", username)
    out.print(f"removed user {username}", markup=False)


@user_app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the new password from stdin.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password (read from standard input)."""
    if not password_stdin:
        raise _fail("pass --password-stdin and write the password to standard input", 2)
    settings = _settings(config)
    password = _read_password()
    from proofkey.crypto import hash_password_async

    async def work(store: Store) -> bool:
        return await store.set_password(username, await hash_password_async(password))

    if not _run(settings, work):
        raise _fail(f"no user {username!r}")
    _audit(settings, "password_changed", username)
    out.print(f"password changed for {username}", markup=False)


# -- keys ----------------------------------------------------------------------------------


@keys_app.command("list")
def keys_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List signing keys (public information only)."""
    rows = [_key_dict(k) for k in _run(_settings(config), lambda s: s.list_keys())]
    _emit(rows, as_json, _table("signing keys", rows, ["kid", "alg", "active", "created_at",
                                                       "retired_at"]))


@keys_app.command("rotate")
def keys_rotate(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Add new signing keys and retire the current ones (still published until their tokens
    expire); running servers pick the new keys up within a minute, JWKS at once."""
    settings = _settings(config)
    from proofkey.tokens.keys import rotate_keys

    keep = max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
    fresh = _run(settings, lambda s: rotate_keys(s, int(time.time()), keep_seconds=keep))
    _audit(settings, "keys_rotated", " ".join(k.kid for k in fresh))
    rows = [_key_dict(k) for k in fresh]
    if as_json:
        _emit(rows, True)
    else:
        out.print("new signing keys: " + ", ".join(f"{r['kid']} ({r['alg']})" for r in rows),
                  markup=False)


app.command()(cli_login.login)
app.command()(cli_login.token)
app.command()(cli_login.logout)
app.command("scan-logs")(tools_cli.scan_logs)
app.command("lint")(tools_cli.lint)
app.command("probe")(tools_cli.probe)
app.command("check")(check_cli.check)


def main() -> None:
    app()
