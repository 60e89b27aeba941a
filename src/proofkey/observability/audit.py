"""The audit log: one JSON line per security event, built from domain events only.

It runs on every token exchange, so it stays cheap: an event's fields are read by name from a
per-class tuple (events are flat dataclasses of str, int, float, bool and None; ``asdict``
would deep-copy them) into an ``AuditEntry``, which the logging setup masks once and writes
without encoding it twice (``logs``).

One request, one line: an authorization answered at once with a code (a session and remembered
consent) is logged by its ``CodeIssued`` line alone, which carries the request's scope and
prompt; its ``AuthorizationStarted`` (flagged ``immediate``) still reaches every other
subscriber.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from .events import AuthorizationStarted, Event
from .logs import AuditEntry

__all__ = ["AuditLog"]

_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


class AuditLog:
    """Subscriber writing each event as a JSON object to the ``proofkey.audit`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger("proofkey.audit")

    def __call__(self, event: Event) -> None:
        if isinstance(event, AuthorizationStarted) and event.immediate:
            return  # one line per request: its CodeIssued line follows, with scope and prompt
        if not self._logger.isEnabledFor(logging.INFO):
            return
        cls = type(event)
        entry = AuditEntry(ts=round(time.time(), 3), event=cls.__name__)
        for name in _field_names(cls):
            entry[name] = getattr(event, name)
        self._logger.info(entry)
