"""Queued log writing: the caller formats a line, one daemon thread writes it (issue #16).

A slow reader of stderr (a full pipe to a log shipper) must not stall the event loop, so in a
served process every log line takes this road:

* the caller's thread formats the record (trace ids come from its contextvars; redaction
  already happened when the record was made) and puts the finished text into a queue bounded
  by ``log_queue_lines``. It never waits on the stream (the queue's lock is never held during a
  write): when the queue is full the line is dropped and counted;
* one daemon thread takes *everything* pending, writes each stream's share with one ``write``
  call (lines keep their order within a stream), then flushes. After a batch that followed
  drops, it writes one line of its own to stderr naming how many lines were dropped since the
  last such note (the count only);
* a write that fails (a broken pipe, a closed stream) counts its lines as dropped; neither the
  thread nor a request sees the error;
* ``close(timeout)`` drains the queue and joins the thread, waiting at most ``timeout``
  seconds, so a dead pipe cannot hang shutdown. The app's lifespan calls it after the store
  has closed, and an ``atexit`` hook closes any writer still open. Lines logged after a clean
  close are written by the caller, synchronously (uvicorn's last lines come then); after a
  close that timed out they are dropped and counted.

``lines_dropped()`` is the process's total (logging is process-wide), read by the
``proofkey_log_lines_dropped_total`` metric.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import weakref
from collections import deque
from typing import ClassVar, TextIO

__all__ = ["LogWriter", "QueuedHandler", "lines_dropped"]

_CLOSE_TIMEOUT = 5.0


class _Totals:
    """Process-wide: the metric must not reset when logging is configured again."""

    lock = threading.Lock()
    dropped = 0
    open_writers: ClassVar[weakref.WeakSet[LogWriter]] = weakref.WeakSet()
    hooked = False


def lines_dropped() -> int:
    """Log lines dropped in this process so far (queue full, failed writes, dead writer)."""
    return _Totals.dropped


def _count_dropped(lines: int) -> None:
    with _Totals.lock:
        _Totals.dropped += lines


def _close_all() -> None:
    for writer in list(_Totals.open_writers):
        writer.close()


class LogWriter:
    """A bounded queue of finished lines and the daemon thread that writes them.

    Several handlers may share one writer (stderr and the audit file): each line goes to the
    stream its handler names, in the order it was put. Drop notes go to ``note_stream``.
    """

    def __init__(self, note_stream: TextIO, *, max_lines: int) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self._note_stream = note_stream
        self._max_lines = max_lines
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # lines queued, or closing
        self._idle = threading.Condition(self._lock)  # the writer caught up
        self._pending: deque[tuple[TextIO, str]] = deque()
        self._put = 0  # lines accepted so far
        self._done = 0  # accepted lines written (or dropped by a failed write)
        self._since_note = 0  # lines dropped since the last note
        self._closing = False  # close() asked: write what is queued, then stop
        self._stopped = False  # the thread has stopped (or was given up on)
        self._abandoned = False  # close() timed out: the thread hangs in a write
        self._direct = threading.Lock()  # synchronous writes once the thread is gone
        self._thread = threading.Thread(target=self._run, name="proofkey-log-writer",
                                        daemon=True)
        self._thread.start()
        with _Totals.lock:
            _Totals.open_writers.add(self)
            if not _Totals.hooked:
                atexit.register(_close_all)
                _Totals.hooked = True

    def put(self, stream: TextIO, text: str) -> None:
        """Queue ``text`` (whole lines) for ``stream``; never waits on the stream."""
        with self._lock:
            if self._stopped:
                direct = not self._abandoned
            elif len(self._pending) >= self._max_lines:
                self._since_note += 1
                direct = False
            else:
                self._pending.append((stream, text))
                self._put += 1
                if len(self._pending) == 1:
                    self._ready.notify()
                return
        if direct:  # the thread finished after a clean close: write here
            with self._direct:
                if _write(stream, text):
                    return
        _count_dropped(1)

    def flush(self, timeout: float = _CLOSE_TIMEOUT) -> bool:
        """Wait (at most ``timeout`` s) until every line queued so far is written."""
        with self._lock:
            target = self._put
            return self._idle.wait_for(lambda: self._done >= target or self._stopped, timeout)

    def close(self, timeout: float = _CLOSE_TIMEOUT) -> bool:
        """Write what is queued, stop the thread; False if it did not finish in ``timeout``
        (the lines still queued then are counted as dropped, and so are later ones).
        Idempotent."""
        with self._lock:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        _Totals.open_writers.discard(self)
        with self._lock:
            if self._stopped:
                return True
            self._stopped = self._abandoned = True
            lost = len(self._pending)
            self._pending.clear()
        _count_dropped(lost)
        return False

    def _run(self) -> None:
        while True:
            with self._lock:
                self._ready.wait_for(lambda: bool(self._pending) or self._closing)
                if not self._pending and not self._since_note:
                    if not self._stopped:  # not abandoned by a close that timed out
                        self._stopped = True
                        self._idle.notify_all()
                    return
                batch, self._pending = self._pending, deque()
                dropped, self._since_note = self._since_note, 0
            lines = len(batch)
            failed = _write_batch(batch)
            if dropped and _write(self._note_stream, _note(dropped)):
                dropped = 0
            with self._lock:
                if dropped and self._closing:
                    dropped = 0  # the note stream is failing and nobody will read a retry
                self._since_note += dropped  # a note that failed is tried with the next batch
                self._done += lines
                self._idle.notify_all()
            if failed:
                _count_dropped(failed)


def _write_batch(batch: deque[tuple[TextIO, str]]) -> int:
    """Write each stream's lines with one call, in their order; return how many failed."""
    if not batch:
        return 0
    if all(stream is batch[0][0] for stream, _ in batch):  # the common case: stderr only
        return 0 if _write(batch[0][0], "".join(text for _, text in batch)) else len(batch)
    by_stream: dict[int, tuple[TextIO, list[str]]] = {}
    for stream, text in batch:
        by_stream.setdefault(id(stream), (stream, []))[1].append(text)
    return sum(len(texts) for stream, texts in by_stream.values()
               if not _write(stream, "".join(texts)))


def _write(stream: TextIO, text: str) -> bool:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a broken pipe, a closed stream
        return False
    return True


def _note(dropped: int) -> str:
    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return json.dumps({"ts": ts, "level": "warning", "logger": "proofkey.logs",
                       "msg": f"dropped {dropped} log lines since the last note (log queue "
                              "full or log stream failing)"}, separators=(",", ":")) + "\n"


class QueuedHandler(logging.Handler):
    """Formats on the caller's thread and hands the line to ``writer`` for ``stream``.

    The stream is bound when the handler is made (a served process does not swap stderr).
    ``close()`` drains and stops the shared writer, then closes the stream if ``owns_stream``.
    """

    def __init__(self, writer: LogWriter, stream: TextIO, *, owns_stream: bool = False) -> None:
        super().__init__()
        self.writer = writer
        self.stream = stream
        self._owns_stream = owns_stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self.writer.put(self.stream, text)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        if self._owns_stream:
            # Lines logged from here on to this handler are counted as dropped.
            self.stream.close()
        super().close()
