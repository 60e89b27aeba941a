"""What every flow needs besides its stores: settings, the event bus and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from proofkey.observability.events import EventBus
from proofkey.settings import Settings

__all__ = ["Context"]


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    bus: EventBus
    clock: Callable[[], float] = field(default=time.time)

    def now(self) -> int:
        return int(self.clock())
