"""Schema migrations for both SQL backends: versioned scripts, applied in order, each once.

``migrations/<dialect>/NNNN_name.sql`` are plain SQL; the version is the file name without
``.sql`` and the ledger table ``schema_migrations`` records each one applied. A backend calls
``apply_migrations`` inside ONE transaction that holds its migration lock (SQLite: the write
lock of ``BEGIN IMMEDIATE``, waited for through the busy timeout; PostgreSQL: an advisory
transaction lock), so instances starting together apply every version exactly once and a
failing script leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

from proofkey.store.sql import Dialect, Ledger

__all__ = ["Migrator", "apply_migrations", "scripts"]


class Migrator(Protocol):
    """A backend's connection inside the migration transaction, holding the lock."""

    async def fetch(self, sql: str, /, *params: Any) -> Sequence[Sequence[Any]]: ...
    async def execute(self, sql: str, /, *params: Any) -> Any: ...
    async def run_script(self, script: str, /) -> None:
        """Run every statement of a migration script."""
        ...


def scripts(dialect: Dialect) -> list[tuple[str, str]]:
    """(version, SQL text) of every migration of ``dialect``, oldest first."""
    folder = resources.files("proofkey.store") / "migrations" / dialect.name
    found = [(t.name.removesuffix(".sql"), t) for t in folder.iterdir() if t.name.endswith(".sql")]
    return [(version, t.read_text(encoding="utf-8")) for version, t in sorted(found,
                                                                            key=lambda i: i[0])]


async def apply_migrations(db: Migrator, dialect: Dialect) -> list[str]:
    """Apply the migrations the ledger does not list; return their versions."""
    ledger = dialect.render(Ledger())
    [(exists, *_)] = await db.fetch(dialect.ledger_exists)
    done = {str(row[0]) for row in await db.fetch(ledger.applied)} if exists else set()
    applied: list[str] = []
    for version, script in scripts(dialect):
        if version not in done:
            await db.run_script(script)
            await db.execute(ledger.record, version, int(time.time()))
            applied.append(version)
    return applied
