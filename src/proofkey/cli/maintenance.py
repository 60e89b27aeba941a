"""``proofkey migrate`` and ``proofkey gc``: schema migrations and purging expired rows."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from proofkey.cli.common import ConfigOpt, JsonOpt, emit, err, out, run, settings_from, working
from proofkey.store.base import Store

__all__ = ["gc", "migrate"]


def migrate(config: ConfigOpt = None) -> None:
    """Apply pending database migrations."""
    settings = settings_from(config)

    async def work(store: Store) -> None:
        return None  # opening the store applied them, each named

    run(settings, work, announce_migrations=True)
    out.print("the database schema is up to date")


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
    settings = settings_from(config)

    async def work(store: Store) -> tuple[int, int, bool]:
        now, purged = int(time.time()), 0
        with working("purging expired rows") as update:
            for rounds in range(1, max_rounds + 1):
                deleted = await store.purge_expired(now, batch)
                purged += deleted
                update(f"purging expired rows: {purged} so far (round {rounds})")
                if not deleted:
                    return purged, rounds, True
        return purged, max_rounds, False

    purged, rounds, complete = run(settings, work)
    if as_json:
        emit({"purged": purged, "rounds": rounds, "complete": complete}, True)
    else:
        out.print(f"purged {purged} expired rows in {rounds} rounds", markup=False)
    if not complete:
        err.print(f"proofkey: stopped after {max_rounds} rounds; expired rows remain (run gc "
                  "again)", markup=False, highlight=False)
