"""The console's audit page: the newest lines of the audit log file, filtered.

The audit log is a stream of JSON lines (``observability.audit``), not a table: with
``PROOFKEY_AUDIT_LOG`` set, the server and the management commands append to that file and the
console reads its tail; without it, the server writes its audit lines to its JSON log on
stderr (wherever the service manager sends it) and only the management commands' lines are in
``<data_dir>/audit.log``, which the console then shows, saying so. Lines were redacted when
written; the page shows them as stored, read-only, and at most the last ``MAX_BYTES`` of the file
(the tail, read off the event loop).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_BYTES", "AuditEntry", "AuditView", "read_audit"]

MAX_BYTES = 1 << 20
SHOWN = 300


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: str
    event: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AuditView:
    path: Path
    complete: bool  # False: the server's own lines go to stderr, not to this file
    exists: bool
    entries: tuple[AuditEntry, ...]
    events: tuple[str, ...]  # the event names seen in the tail, for the filter
    matched: int


def _tail(path: Path, max_bytes: int) -> list[str]:
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - max_bytes))
            data = file.read(max_bytes)
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if len(data) == max_bytes and size > max_bytes else lines


def _entry(line: str) -> AuditEntry | None:
    try:
        value: Any = json.loads(line)
    except ValueError:
        return None
    audit = value.get("audit") if isinstance(value, dict) else None
    if not isinstance(audit, dict):
        return None
    fields = tuple((str(k), "" if v is None else str(v)) for k, v in audit.items()
                   if k not in {"ts", "event"})
    return AuditEntry(str(value.get("ts", "")), str(audit.get("event", "")), fields)


def _matches(entry: AuditEntry, event: str, words: list[str]) -> bool:
    if event and entry.event != event:
        return False
    text = " ".join(f"{k}={v}" for k, v in entry.fields).casefold()
    return all(word in text for word in words)


async def read_audit(*, audit_log: str, data_dir: Path, event: str = "", query: str = "",
                     limit: int = SHOWN, max_bytes: int = MAX_BYTES) -> AuditView:
    """The newest entries (newest first) of the audit file, those of ``event`` and containing
    every word of ``query``."""
    path = Path(audit_log) if audit_log else data_dir / "audit.log"
    exists = await asyncio.to_thread(path.exists)
    lines = await asyncio.to_thread(_tail, path, max_bytes) if exists else []
    entries = [e for e in map(_entry, reversed(lines)) if e is not None]
    words = query.casefold().split()[:10]
    found = [e for e in entries if _matches(e, event, words)]
    return AuditView(path, bool(audit_log), exists, tuple(found[:limit]),
                     tuple(sorted({e.event for e in entries})), len(found))
