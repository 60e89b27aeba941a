"""Logging: one JSON object per line on stderr, every record redacted first, trace ids attached.

``configure_logging(settings, metrics)`` (called by ``proofkey serve`` and by ``create_app``)
installs three things, idempotently:

1. a log-record factory that redacts each record when it is created — the formatted message,
   the traceback and the stack — so every handler, ours or anyone's, sees only masked text,
   and each catch is counted (M6, ``metrics.count_redaction``). ``RedactionFilter`` does the
   same for records made elsewhere (it is a no-op on records already redacted);
2. one handler on the root logger writing JSON lines (``ts``, ``level``, ``logger``, ``msg``,
   ``trace_id``/``span_id`` inside a traced request, ``exc``; an audit line's fields go under
   ``audit``) to the *current* ``sys.stderr``;
3. uvicorn's loggers routed to the root logger, so they get the same treatment. Access-log
   lines keep only the path without its query, with ``/interaction/<handle>`` templated: a
   URL's known secrets are dropped by design and do not count as detections.

The audit logger stays at INFO whatever ``log_level`` says: security events are always kept.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from proofkey.settings import Settings

from .redact import Redactor
from .tracing import current_trace_ids

__all__ = ["JsonFormatter", "RedactionFilter", "RedactionSink", "configure_logging", "redactor"]

_MARK = "_proofkey_redacted"
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_INTERACTION = re.compile(r"^/interaction/[^/]+")


class RedactionSink(Protocol):
    def count_redaction(self, kind: str) -> None: ...


class _State:
    """Process-wide logging state: logging itself is process-wide."""

    sink: RedactionSink | None = None
    base_factory: Callable[..., logging.LogRecord] | None = None
    handler: logging.Handler | None = None


def _count(kind: str) -> None:
    sink = _State.sink
    if sink is not None:
        sink.count_redaction(kind)


redactor = Redactor(_count)


def _scrub_path(path: object) -> object:
    if not isinstance(path, str):
        return path
    path = path.split("?", 1)[0]
    return _INTERACTION.sub("/interaction/{handle}", path)


def redact_record(record: logging.LogRecord) -> None:
    """Replace the record's message, traceback and stack by their redacted text, once."""
    if getattr(record, _MARK, False):
        return
    setattr(record, _MARK, True)
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(
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


class RedactionFilter(logging.Filter):
    """Redacts records in place (for handlers that see records the factory did not make)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; audit messages (JSON already) are nested under ``audit``."""

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        ids = current_trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        message = record.getMessage()
        audit = _audit_fields(record.name, message)
        if audit is not None:
            entry["audit"] = audit
        else:
            entry["msg"] = message
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, separators=(",", ":"), default=str)


def _audit_fields(name: str, message: str) -> dict[str, Any] | None:
    if name != "proofkey.audit" or not message.startswith("{"):
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


def configure_logging(settings: Settings, metrics: RedactionSink | None,
                      *, stream: TextIO | None = None) -> logging.Handler:
    """Route all logging through redaction into JSON lines; count catches on ``metrics``.

    Safe to call again (each ``create_app`` does): the previous proofkey handler is replaced
    and the counting moves to the newest ``metrics``. Returns the installed handler.
    """
    _State.sink = metrics
    _install_factory()
    root = logging.getLogger()
    if _State.handler is not None:
        root.removeHandler(_State.handler)
    handler: logging.Handler = (logging.StreamHandler(stream) if stream is not None
                                else _StderrHandler())
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
    logging.getLogger("proofkey.audit").setLevel(logging.INFO)
    return handler
