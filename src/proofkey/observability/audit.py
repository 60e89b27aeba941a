"""The audit log: one JSON line per security event, built from domain events only."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from .events import Event

__all__ = ["AuditLog"]


class AuditLog:
    """Subscriber writing each event as a JSON object to the ``proofkey.audit`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger("proofkey.audit")

    def __call__(self, event: Event) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        record = {"ts": round(time.time(), 3), "event": type(event).__name__}
        record.update(dataclasses.asdict(event))
        self._logger.info(json.dumps(record, separators=(",", ":"), default=str))
