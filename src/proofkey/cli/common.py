"""What every ``proofkey`` management command shares: settings, the store, output, audit.

Settings come from ``PROOFKEY_*`` variables and an optional TOML file (``--config`` or
``PROOFKEY_CONFIG``); an invalid setting prints one line naming it and exits with status 2.
Management commands print a table, or JSON with ``--json``. Passwords are read from standard
input only, never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from proofkey.flows.admin import AdminError, validate_password
from proofkey.observability.events import AdminChange
from proofkey.settings import Settings, SettingsError, load_settings
from proofkey.store import open_store
from proofkey.store.base import AlreadyExists, Store, StoreUnavailable

__all__ = ["ConfigOpt", "JsonOpt", "audit", "emit", "err", "fail", "make_table", "out",
           "read_password", "run", "settings_from"]

T = TypeVar("T")
out = Console()
# soft_wrap: one message stays one line (rich would break it at 80 columns when piped), so
# logs, scripts and copy-paste see whole URLs, paths and error messages.
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"proofkey: {message}", markup=False, highlight=False)
    return typer.Exit(code)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(overrides, config_file=config)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


@contextlib.asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[Store]:
    store = open_store(settings.effective_database_url)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


def run(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def runner() -> T:
        async with _open(settings) as store:
            return await work(store)

    try:
        return asyncio.run(runner())
    except StoreUnavailable as exc:
        raise fail(f"the store is unavailable: {exc}") from None
    except (AdminError, AlreadyExists) as exc:
        raise fail(str(exc) or "it exists already") from None


def audit(settings: Settings, action: str, subject: str) -> None:
    """One audit line (JSON, redacted) for an administrative change."""
    from proofkey.observability.audit import AuditLog
    from proofkey.observability.logs import configure_logging

    configure_logging(settings, None)
    AuditLog()(AdminChange(action, subject))


def emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif table is not None:
        out.print(table)


def make_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[" ".join(v) if isinstance(v, list) else str(v) for v in
                        (row[c] for c in columns)])
    return table


def read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        validate_password(password)
    except AdminError as exc:
        raise fail(str(exc)) from None
    return password
