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
    offset: int = 0  # where the line starts in the file (bytes): a position to page back from


@dataclass(frozen=True, slots=True)
class AuditView:
    path: Path
    complete: bool  # False: the server's own lines go to stderr, not to this file
    exists: bool
    entries: tuple[AuditEntry, ...]
    events: tuple[str, ...]  # the event names seen in the tail, for the filter
    matched: int
    # Where the next older page starts (``before``), or None when the file's start was read
    # and every match is in ``entries``.
    next_before: int | None = None


def _tail(path: Path, max_bytes: int, end: int | None = None) -> tuple[int, list[
        tuple[int, str]]]:
    """(where the window starts, its whole lines with their offsets) for the last
    ``max_bytes`` of the file before ``end`` (the file's end without one)."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            stop = size if end is None else max(0, min(end, size))
            start = max(0, stop - max_bytes)
            file.seek(start)
            data = file.read(stop - start)
    except FileNotFoundError:
        return 0, []
    lines, offset = [], start
    for raw in data.split(b"\n"):
        lines.append((offset, raw.decode("utf-8", errors="replace")))
        offset += len(raw) + 1
    if start > 0:  # the first line may have begun before the window: the next window has it
        # (a line longer than the window: nothing whole here; the next window is older)
        start, lines = (lines[1][0], lines[1:]) if len(lines) > 1 else (start, [])
    return start, [(o, line) for o, line in lines if line.strip()]


def _entry(offset: int, line: str) -> AuditEntry | None:
    try:
        value: Any = json.loads(line)
    except ValueError:
        return None
    audit = value.get("audit") if isinstance(value, dict) else None
    if not isinstance(audit, dict):
        return None
    fields = tuple((str(k), "" if v is None else str(v)) for k, v in audit.items()
                   if k not in {"ts", "event"})
    return AuditEntry(str(value.get("ts", "")), str(audit.get("event", "")), fields, offset)


def _matches(entry: AuditEntry, event: str, words: list[str]) -> bool:
    if event and entry.event != event:
        return False
    text = " ".join(f"{k}={v}" for k, v in entry.fields).casefold()
    return all(word in text for word in words)


async def read_audit(*, audit_log: str, data_dir: Path, event: str = "", query: str = "",
                     limit: int = SHOWN, max_bytes: int = MAX_BYTES,
                     before: int | None = None) -> AuditView:
    """The newest entries (newest first) of the audit file, those of ``event`` and containing
    every word of ``query``; with ``before``, of the lines that start before that offset
    (the ``next_before`` of the previous page). One read looks at ``max_bytes`` at most."""
    path = Path(audit_log) if audit_log else data_dir / "audit.log"
    exists = await asyncio.to_thread(path.exists)
    start, lines = await asyncio.to_thread(_tail, path, max_bytes, before) if exists \
        else (0, [])
    entries = [e for e in (_entry(o, line) for o, line in reversed(lines)) if e is not None]
    words = query.casefold().split()[:10]
    found = [e for e in entries if _matches(e, event, words)]
    shown = found[:limit]
    if len(found) > limit:
        next_before: int | None = shown[-1].offset
    else:  # every match of the window is shown: go on from where it began, if not at 0
        next_before = start if start > 0 else None
    return AuditView(path, bool(audit_log), exists, tuple(shown),
                     tuple(sorted({e.event for e in entries})), len(found), next_before)
