"""Background WAL checkpoints for a SQLite database file, off the event loop.

SQLite's automatic checkpoint (every 1,000 WAL pages, about
70 codes issued and redeemed) runs inside whichever COMMIT crosses the threshold, copying pages
back and syncing twice: 5-25 ms stalls, 1 % of redemptions, most of the p99. So a file store
turns it off on its connection (``wal_autocheckpoint=0``) and, while the connection is open,
keeps a thread with its own connection (``Checkpointer``) that checkpoints soon after writes
and sleeps when there are none. Every process on the file runs one; SQLite lets one at a time
checkpoint and the others skip that round.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

__all__ = ["CATCH_UP_PASSES", "CHECKPOINT_DELAY", "WAL_RESTART_PAGES", "Checkpointer"]

_log = logging.getLogger("proofkey.store")

CHECKPOINT_DELAY = 0.1
"""Seconds of writes gathered into one background checkpoint (about 2,500 WAL pages, 10 MiB,
at a thousand token exchanges a second)."""
CATCH_UP_PASSES = 8
"""PASSIVE passes per checkpoint at most, each copying what came in during the one before."""
WAL_RESTART_PAGES = 16_384
"""A WAL longer than this (64 MiB of 4 KiB pages) is caught up by the store's own connection."""


class Checkpointer:
    """Checkpoints one database file's WAL from a thread with its own connection.

    The thread sleeps on an Event until the store reports a commit (``wrote``: an attribute
    check once the Event is set), gathers writes for CHECKPOINT_DELAY, and runs PASSIVE
    checkpoints, which never block readers or writers: the page copying and syncs happen here,
    outside the GIL (sqlite3 releases it while SQLite works), and no COMMIT waits for them.

    A writer starts the WAL over from its beginning, reusing the file, only when it finds every
    page copied back. Commits go on during a pass, so a pass is followed by short ones that
    copy what came in meanwhile, until one finds nothing new (a few pages and two syncs, which
    mostly fit between two commits). Under writes that leave no such gap (a saturated core)
    the WAL would grow without bound, so past WAL_RESTART_PAGES the thread asks the store's
    connection (``catch_up``) to copy back, after its next commit, what came in since the
    thread's last pass; the commit after that starts the WAL over. That pass runs on the event
    loop (a few ms on a saturated core), but once per 64 MiB written, where the automatic
    checkpoint ran one every 4 MiB. A RESTART checkpoint from the thread would instead hold the
    write lock through its syncs, while a COMMIT waiting for a lock sleeps in steps of 1, 2, 5,
    10 ms: 20-30 ms stalls, measured. The file keeps the largest size it reached (about
    WAL_RESTART_PAGES pages; truncating 64 MiB took 65-90 ms); the last connection to close
    removes it.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._due = threading.Event()
        self._stopping = threading.Event()
        self.catch_up = False  # set by the thread, cleared by the store's connection
        self._thread = threading.Thread(target=self._run, name="proofkey-wal-checkpoint",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def wrote(self, db: sqlite3.Connection) -> None:
        """A write was committed on the store's connection ``db``: checkpoint soon."""
        if self.catch_up:
            self.catch_up = False
            with contextlib.suppress(sqlite3.Error):  # the thread asks again if it must
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if not self._due.is_set():
            self._due.set()

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running) and close its connection."""
        self._stopping.set()
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stopping.is_set():  # checked here too: a pass may clear ``_due``
                self._due.wait()  # after stop() set it
                if self._stopping.wait(CHECKPOINT_DELAY):
                    break
                self._due.clear()
                try:
                    # PASSIVE never waits for a lock; the timeout is for reading the schema.
                    db = db or sqlite3.connect(self._path, timeout=1.0, isolation_level=None)
                    self._checkpoint(db)
                    failing = False
                except (sqlite3.Error, OSError) as exc:  # retried after the next write
                    if not failing:
                        _log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                    failing = True
                    if db is not None:
                        db.close()
                        db = None
        finally:
            if db is not None:
                db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        seen = -1
        for _ in range(CATCH_UP_PASSES):
            [(busy, wal_pages, copied)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if busy:  # another connection (process) is checkpointing
                return
            if copied == wal_pages == seen:  # all copied, nothing came in: the next commit
                return  # starts the WAL over
            if wal_pages > WAL_RESTART_PAGES:  # the passes have not kept up: the store's
                self.catch_up = True  # connection finishes after its next commit
                return
            seen = wal_pages
