"""What ``proofkey client-check`` records of each request a client makes, what a finding
says, and how it names a secret without showing it (a fingerprint and a short prefix)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["RECORDED_HEADERS", "Exchange", "Finding", "fingerprint", "shown"]

# Request headers a check reads: a secret in a Referer is a leak; the rest give context.
RECORDED_HEADERS = ("referer", "origin", "user-agent", "content-type")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the client made and what the server answered. Values are kept whole in
    memory (the checks compare them); reports show them only through ``shown``."""

    seq: int
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    form: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    status: int = 0
    location: str = field(default="", repr=False)
    body: Mapping[str, Any] | None = field(default=None, repr=False)  # JSON answers only

    def params(self) -> dict[str, str]:
        """Query and form parameters (the first of a repeated name)."""
        merged: dict[str, str] = {}
        for name, value in (*self.query, *self.form):
            merged.setdefault(name, value)
        return merged

    def url_values(self) -> list[tuple[str, str]]:
        """Every value a URL carried: query parameters, and the Referer's."""
        values = list(self.query)
        referer = self.headers.get("referer", "")
        if referer:
            values += [(f"Referer {k}", v) for k, v in
                       parse_qsl(urlsplit(referer).query, keep_blank_values=True)]
            values.append(("Referer", referer))
        return values


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check: its id, the attempt (None: the run as a whole) and the evidence,
    which shows secrets only through ``shown``."""

    check: str
    attempt: int | None
    evidence: str


def fingerprint(value: str) -> str:
    """A stable, non-reversible name for a secret: ``sha256:`` and 12 hex digits."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def shown(value: str) -> str:
    """A secret as a report prints it: its first 4 characters and its fingerprint."""
    if not value:
        return "(empty)"
    return f"{value[:4]}… ({fingerprint(value)})"

