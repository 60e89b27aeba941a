"""Logging: one JSON object per line on stderr, every record redacted first, trace ids attached.

``configure_logging(settings, metrics)`` (called by ``proofkey serve`` and by ``create_app``)
installs three things, idempotently:

1. a log-record factory that redacts each record when it is created — the formatted message,
   the traceback and the stack — so every handler, ours or anyone's, sees only masked text,
   and each catch is counted (M6, ``metrics.count_redaction``). ``RedactionFilter`` does the
   same for records made elsewhere (it is a no-op on records already redacted);
2. one handler on the root logger writing JSON lines (``ts``, ``level``, ``logger``, ``msg``,
   ``trace_id``/``span_id`` inside a traced request, ``exc``; an audit line's fields go under
   ``audit``) to stderr. By default the caller writes each line to the *current*
   ``sys.stderr`` (test runners swap it). With ``queued=True`` (served processes:
   ``create_app_from_env``) the caller only formats the line and a writer thread writes it
   to the ``sys.stderr`` of the configuring call, so a slow reader cannot stall the event
   loop; lines beyond ``log_queue_lines`` are dropped and counted (``log_writer``), and
   ``stop_log_writer()`` drains it at shutdown;
3. uvicorn's loggers routed to the root logger, so they get the same treatment. Access-log
   lines keep only the path without its query, with ``/interaction/<handle>`` templated: a
   URL's known secrets are dropped by design and do not count as detections.

The audit logger stays at INFO whatever ``log_level`` says: security events are always kept.

Audit lines are on every token exchange's path, so they take a shorter road (performance.md):
``AuditLog`` logs an ``AuditEntry`` (the event's fields) as the message. Redaction masks each
string value once — attacker-chosen values such as an unknown ``client_id`` reach these
fields — and counts the catches like any other; the record's message becomes the JSON text of
the masked fields, so every handler still sees one redacted JSON object, and ``JsonFormatter``
splices that text into its line instead of parsing it back and encoding it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from proofkey.settings import Settings

from .log_writer import LogWriter, QueuedHandler
from .redact import Redactor
from .tracing import current_trace_ids

__all__ = ["AuditEntry", "JsonFormatter", "RedactionFilter", "RedactionSink", "configure_logging",
           "redactor", "stop_log_writer"]

_MARK = "_proofkey_redacted"
# The mark holds this token and the message it redacted: a record whose message was replaced
# afterwards (``logging.makeLogRecord`` fills an empty record from a dict after the factory
# ran) or that arrived with a mark of its own (a pickled record from a socket) is redacted again.
_TOKEN = object()
_AUDIT = "_proofkey_audit"  # an AuditEntry message's masked JSON text, else None
_AUDIT_LOGGER = "proofkey.audit"
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_INTERACTION = re.compile(r"^/interaction/[^/]+")


class RedactionSink(Protocol):
    def count_redaction(self, kind: str) -> None: ...


class _State:
    """Process-wide logging state: logging itself is process-wide."""

    sink: RedactionSink | None = None
    base_factory: Callable[..., logging.LogRecord] | None = None
    handler: logging.Handler | None = None
    audit_handler: logging.Handler | None = None
    writer: LogWriter | None = None


def _count(kind: str) -> None:
    sink = _State.sink
    if sink is not None:
        sink.count_redaction(kind)


redactor = Redactor(_count)
# One encoder for every line: ``json.dumps`` with options builds a new encoder per call.
_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode


class AuditEntry(dict[str, object]):
    """An audit event's fields, logged as the message itself (see the module docstring).

    Without proofkey's logging configured, it shows as its JSON text, masked all the same.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return _dumps(_masked(self))


# Audit values that redaction leaves as they are. Most repeat from line to line (event names,
# client ids, grant types, outcomes, error codes); redaction is a pure function of the text and
# a catch always changes it, so skipping these changes neither a line nor a count. Bounded:
# unknown client ids are the caller's choice.
_CLEAN: set[str] = set()
_CLEAN_MAX_ENTRIES = 4096
_CLEAN_MAX_CHARS = 128


def _masked(fields: dict[str, object]) -> dict[str, object]:
    """The fields with every string value redacted; numbers, booleans and None pass as they
    are, anything else as its redacted ``str`` (what the JSON line would show)."""
    masked: dict[str, object] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            if value not in _CLEAN:
                value = _redact_value(value)
        elif not (value is None or isinstance(value, (bool, int, float))):
            value = _redact_value(str(value))
        masked[name] = value
    return masked


def _redact_value(value: str) -> str:
    masked = redactor.redact(value)
    if masked == value and len(value) <= _CLEAN_MAX_CHARS:
        if len(_CLEAN) >= _CLEAN_MAX_ENTRIES:
            _CLEAN.clear()
        _CLEAN.add(value)
    return masked


def _scrub_path(path: object) -> object:
    if not isinstance(path, str):
        return path
    path = path.split("?", 1)[0]
    return _INTERACTION.sub("/interaction/{handle}", path)


def redact_record(record: logging.LogRecord) -> None:
    """Replace the record's message, traceback and stack by their redacted text, once.

    An ``AuditEntry`` message is masked field by field; its JSON text is also kept for
    ``JsonFormatter`` under an attribute set on every record, so ``extra`` cannot forge it.
    """
    mark = getattr(record, _MARK, None)
    if isinstance(mark, tuple) and len(mark) == 2 and mark[0] is _TOKEN and (
            mark[1] is record.msg):
        return
    setattr(record, _AUDIT, None)
    if type(record.msg) is AuditEntry and not record.args:
        record.msg = _dumps(_masked(record.msg))
        record.args = None
        setattr(record, _AUDIT, record.msg)
    elif record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(
            record.args) == 5:
        # (client_addr, method, full_path, http_version, status): uvicorn's formatter reads
        # these positions, so keep the tuple and clean each part.
        client, method, path, version, status = record.args
        record.args = (client, method, redactor.redact(str(_scrub_path(path))), version, status)
    else:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what can be shown safely
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg = redactor.redact(message)
        record.args = None
    if record.exc_info:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        record.exc_text = redactor.redact(text)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    setattr(record, _MARK, (_TOKEN, record.msg))


class RedactionFilter(logging.Filter):
    """Redacts records in place (for handlers that see records the factory did not make)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; audit messages (an ``AuditEntry``, or JSON text logged to
    ``proofkey.audit``) are nested under ``audit``."""

    # (whole second, its strftime text): lines come many per second; one tuple, so a thread
    # never pairs a second with another second's text.
    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        entry: dict[str, Any] = {
            "ts": f"{text}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        ids = current_trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        masked = getattr(record, _AUDIT, None) if record.name == _AUDIT_LOGGER else None
        if masked is not None and not (record.exc_text or record.stack_info):
            # The same bytes as encoding the masked fields again under "audit".
            return f'{_dumps(entry)[:-1]},"audit":{masked}}}'
        message = record.getMessage()
        audit = _audit_fields(record.name, message if masked is None else masked)
        if audit is not None:
            entry["audit"] = audit
        else:
            entry["msg"] = message
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return _dumps(entry)


def _audit_fields(name: str, message: str) -> dict[str, Any] | None:
    if name != _AUDIT_LOGGER or not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it between tests)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _install_factory() -> None:
    if _State.base_factory is not None:
        return
    base = logging.getLogRecordFactory()
    _State.base_factory = base

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _audit_file(path: Path, writer: LogWriter | None) -> logging.Handler:
    """Audit lines appended to ``path`` (created 0600: it names users and clients)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler: logging.Handler
    if writer is not None:
        handler = QueuedHandler(writer, path.open("a", encoding="utf-8"), owns_stream=True)
    else:
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    return handler


def configure_logging(settings: Settings, metrics: RedactionSink | None,
                      *, stream: TextIO | None = None, audit_path: Path | None = None,
                      queued: bool = False) -> logging.Handler:
    """Route all logging through redaction into JSON lines; count catches on ``metrics``.

    Audit lines go to ``audit_path`` or ``PROOFKEY_AUDIT_LOG`` when either is given (and then
    only there), else with everything else. ``queued`` (served processes) hands every line,
    audit file included, to a ``log_writer.LogWriter`` thread bounded by
    ``settings.log_queue_lines``, bound to ``stream`` or the ``sys.stderr`` of this call;
    otherwise lines are written by the caller to ``stream`` or the *current* ``sys.stderr``.
    Safe to call again (each ``create_app`` does): the previous proofkey handlers are replaced
    (a previous writer is drained and stopped) and the counting moves to the newest
    ``metrics``. Returns the installed handler.
    """
    _State.sink = metrics
    _install_factory()
    root = logging.getLogger()
    if _State.handler is not None:
        root.removeHandler(_State.handler)
    audit = logging.getLogger(_AUDIT_LOGGER)
    if _State.audit_handler is not None:
        audit.removeHandler(_State.audit_handler)
        _State.audit_handler.close()
        _State.audit_handler = None
    stop_log_writer()
    handler: logging.Handler
    if queued:
        # A served process's lines never show thread or process names: not collecting them
        # makes each record ~10 µs cheaper (LogRecord looks up the thread and the
        # multiprocessing process otherwise; docs/performance.md).
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        _State.writer = LogWriter(stream or sys.stderr, max_lines=settings.log_queue_lines)
        handler = QueuedHandler(_State.writer, stream or sys.stderr)
    else:
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    root.addHandler(handler)
    _State.handler = handler
    root.setLevel(settings.log_level.upper())
    for name in _UVICORN:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    audit.setLevel(logging.INFO)
    path = audit_path or (Path(settings.audit_log) if settings.audit_log else None)
    audit.propagate = path is None
    if path is not None:
        _State.audit_handler = _audit_file(path, _State.writer)
        audit.addHandler(_State.audit_handler)
    return handler


def stop_log_writer(timeout: float = 5.0) -> bool:
    """Drain and stop the queued writer, if logging has one (the app's shutdown, after the
    store has closed); lines logged afterwards are written by their caller. Waits at most
    ``timeout`` seconds; False if the writer did not finish in time (a dead pipe)."""
    writer, _State.writer = _State.writer, None
    return writer.close(timeout) if writer is not None else True
