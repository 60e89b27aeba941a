"""What a conformance check is and what it decides: ``Check``, ``Verdict`` and its helpers.

The check modules (``conformance_checks``, ``conformance_token``) and the battery
(``conformance``) all import these from here, so neither imports the other's module back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .conformance_probe import Probe

__all__ = ["Check", "Evidence", "Result", "Verdict", "failed", "passed", "skipped", "warned"]

Result = Literal["pass", "fail", "warn", "skip"]
Evidence = Mapping[str, str | int | bool]
Needs = Literal["nothing", "metadata", "flow"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check function decides."""

    result: Result
    evidence: Evidence = field(default_factory=dict)


def passed(**evidence: str | int | bool) -> Verdict:
    return Verdict("pass", evidence)


def failed(**evidence: str | int | bool) -> Verdict:
    return Verdict("fail", evidence)


def warned(**evidence: str | int | bool) -> Verdict:
    return Verdict("warn", evidence)


def skipped(reason: str) -> Verdict:
    return Verdict("skip", {"reason": reason})


@dataclass(frozen=True, slots=True)
class Check:
    """A named check: stable ``id``, the spec section it holds the provider to, and what it
    needs before it can run (discovered metadata, or a working baseline flow)."""

    id: str
    title: str
    rfc: str
    run: Callable[[Probe], Awaitable[Verdict]]
    needs: Needs = "flow"
    slow: bool = False
