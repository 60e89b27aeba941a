"""What every ``proofkey`` management command shares: settings, the store, output, audit.

Settings come from ``PROOFKEY_*`` variables and an optional TOML file (``--config`` or
``PROOFKEY_CONFIG``); an invalid setting prints one line naming it and exits with status 2.
Management commands print a table, or JSON with ``--json``. Passwords are read from standard
input only, never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from proofkey.flows.admin import AdminError, validate_password
from proofkey.observability.events import AdminChange
from proofkey.settings import Settings, SettingsError, load_settings, unknown_environment
from proofkey.store import open_store
from proofkey.store.base import AlreadyExists, Store, StoreUnavailable

__all__ = ["ConfigOpt", "JsonOpt", "audit", "audit_path", "cell", "emit", "err", "fail",
           "make_table", "out", "read_password", "run", "settings_from", "warn", "working"]

T = TypeVar("T")
# Piped or redirected, tables keep every value whole (rich would cut cells at 80 columns).
out = Console(width=None if sys.stdout.isatty() else 100_000)
# soft_wrap: one message stays one line (rich would break it at 80 columns when piped), so
# logs, scripts and copy-paste see whole URLs, paths and error messages.
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"proofkey: {message}", markup=False, highlight=False)
    return typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"proofkey: warning: {message}", markup=False, highlight=False)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    """The validated settings (one line and exit 2 if invalid); a misspelt ``PROOFKEY_*``
    variable gets a warning line instead of being silently ignored."""
    try:
        settings = load_settings(overrides, config_file=config)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    for note in unknown_environment():
        warn(note)
    return settings


@contextlib.asynccontextmanager
async def _open(settings: Settings, *, announce: bool = False) -> AsyncIterator[Store]:
    store = open_store(settings.effective_database_url,
                       sqlite_group_commit=settings.sqlite_group_commit)
    try:
        with working("applying database migrations"):
            applied = await store.migrate()
        for version in applied if announce else ():
            out.print(f"applied migration {version}", markup=False, highlight=False)
        yield store
    finally:
        await store.close()


@contextlib.contextmanager
def working(what: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal while long work runs (``update`` changes its text); nothing
    when stderr is a pipe or a file."""
    if not err.is_terminal:
        yield lambda text: None
        return
    with err.status(what) as status:
        yield lambda text: status.update(text)


def run(settings: Settings, work: Callable[[Store], Awaitable[T]], *,
        exists: str = "it exists already", announce_migrations: bool = False) -> T:
    """Run ``work`` on the opened (and migrated) store; every error a user can cause ends in
    one sentence: ``exists`` says what already existed."""
    async def runner() -> T:
        async with _open(settings, announce=announce_migrations) as store:
            return await work(store)

    try:
        return asyncio.run(runner())
    except StoreUnavailable as exc:
        raise fail(f"the store is unavailable: {_store_problem(exc)}") from None
    except AlreadyExists:
        raise fail(exists) from None
    except AdminError as exc:
        raise fail(str(exc)) from None


def _store_problem(exc: StoreUnavailable) -> str:
    text = str(exc)
    if "readonly" in text.replace("-", "").replace(" ", "").lower():
        return "the database is read-only (check the file's and its directory's permissions)"
    return text


def audit_path(settings: Settings) -> Path:
    """Where management commands append their audit lines."""
    return Path(settings.audit_log) if settings.audit_log else settings.data_dir / "audit.log"


def audit(settings: Settings, action: str, subject: str) -> None:
    """One audit line (JSON, redacted) for an administrative change, in the audit log
    (``audit_path``): the terminal gets the command's own sentence instead."""
    from proofkey.observability.audit import AuditLog
    from proofkey.observability.logs import configure_logging

    try:
        configure_logging(settings, None, audit_path=audit_path(settings))
    except OSError as exc:
        raise fail(f"cannot write the audit log {audit_path(settings)}: {exc.strerror}") from None
    AuditLog()(AdminChange(action, subject))


def emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif table is not None:
        out.print(table)


def cell(name: str, value: Any) -> str:
    """A value as text output shows it: lists space-separated, ``*_at`` times in ISO 8601
    (JSON output keeps the numbers), a missing time as "-"."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if name.endswith("_at") and not isinstance(value, bool):
        if value is None:
            return "-"
        if isinstance(value, int):
            moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
            return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def make_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        key = str(row.get("field", "")) if columns == ["field", "value"] else None
        table.add_row(*[cell(key if key is not None else c, row[c]) for c in columns])
    return table


def read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        validate_password(password)
    except AdminError as exc:
        raise fail(str(exc)) from None
    return password
