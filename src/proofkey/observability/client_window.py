"""Token exchanges per client over the last day, per process, for the operator console.

``ClientDay`` keeps, for each client, 24 one-hour slots (reused as time moves on, like the
status board's minutes) of exchanges that succeeded or failed, code exchanges and PKCE verifier
mismatches; ``day()`` sums the slots of the last 24 hours. The numbers live in this process's
memory only: a restart empties them, and each worker or instance counts its own requests.

Client ids come from the token flow's events, which carry one only once the client is known to
the store; all the same the table holds at most ``max_clients`` of them (later ones count as
``other``), and clients named by a metadata document count as ``metadata_document``, as in the
metrics, so a flood of made-up ids cannot grow it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from proofkey.protocol.client_id_document import is_metadata_document_id

from .events import Event, TokenExchanged, TokenExchangeFailed

__all__ = ["HOURS", "ClientDay", "DayCounts"]

HOURS = 24
MAX_CLIENTS = 1000
OTHER = "other"
METADATA_DOCUMENT = "metadata_document"


@dataclass(slots=True)
class DayCounts:
    """Counts for one client: one hour's slot, or the sum over the day."""

    hour: int = -1
    ok: int = 0
    failed: int = 0
    code_exchanges: int = 0
    verifier_mismatches: int = 0

    @property
    def exchanges(self) -> int:
        return self.ok + self.failed


class ClientDay:
    """Event subscriber (through ``StatusBoard``) counting exchanges per client and hour."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 max_clients: int = MAX_CLIENTS) -> None:
        self._clock = clock
        self._max = max_clients
        self._rings: dict[str, list[DayCounts]] = {}

    def _label(self, client_id: str | None) -> str | None:
        if client_id is None:
            return None
        if is_metadata_document_id(client_id):
            return METADATA_DOCUMENT
        if client_id in self._rings or (len(self._rings) < self._max and len(client_id) <= 128):
            return client_id
        return OTHER

    def _slot(self, client_id: str | None) -> DayCounts | None:
        label = self._label(client_id)
        if label is None:
            return None
        ring = self._rings.get(label)
        if ring is None:
            ring = self._rings[label] = [DayCounts() for _ in range(HOURS)]
        hour = int(self._clock() // 3600)
        slot = ring[hour % HOURS]
        if slot.hour != hour:
            slot = ring[hour % HOURS] = DayCounts(hour)
        return slot

    def __call__(self, event: Event) -> None:
        if isinstance(event, TokenExchanged):
            slot = self._slot(event.client_id)
            if slot is not None:
                slot.ok += 1
                slot.code_exchanges += event.grant_type == "authorization_code"
        elif isinstance(event, TokenExchangeFailed):
            slot = self._slot(event.client_id)
            if slot is not None:
                slot.failed += 1
                slot.code_exchanges += event.grant_type == "authorization_code"
                slot.verifier_mismatches += event.outcome == "verifier_mismatch"

    def day(self) -> dict[str, DayCounts]:
        """Each client's sums over the last 24 hours (clients without any left out)."""
        now = int(self._clock() // 3600)
        totals: dict[str, DayCounts] = {}
        for label, ring in self._rings.items():
            total = DayCounts()
            for slot in ring:
                if now - HOURS < slot.hour <= now:
                    total.ok += slot.ok
                    total.failed += slot.failed
                    total.code_exchanges += slot.code_exchanges
                    total.verifier_mismatches += slot.verifier_mismatches
            if total.exchanges:
                totals[label] = total
        return totals
