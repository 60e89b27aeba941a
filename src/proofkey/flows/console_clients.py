"""The console's client catalog: each client's PKCE and redirect posture, its lint findings
(the rule set of ``proofkey lint`` and registration, ``flows.admin.policy_issues``), the share
of public, confidential and dynamic clients, and each client's token exchanges over the last day
(success and PKCE verifier-mismatch rates, from the process's own counters). With each client:
its private_key_jwt keys (inline or by URL), whether DPoP is required, its security profile,
and among the findings those of the key rules (PKL06x) and the profile rules (PKL10x).

Only data: the web layer renders it. The traffic comes through ``TrafficSource``, which the
status board's per-client day (``observability.client_window``) satisfies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

from proofkey.models import Client
from proofkey.protocol.client_policy import Issue
from proofkey.protocol.redirect_uri import is_loopback_host
from proofkey.store.base import ClientStore

from .admin import policy_issues

__all__ = [
    "Catalog",
    "ClientRow",
    "DayTraffic",
    "RedirectKind",
    "Share",
    "Traffic",
    "TrafficSource",
    "catalog",
    "key_source",
    "redirect_kind",
]

RedirectKind = Literal["loopback", "custom-scheme", "https", "other"]


class DayTraffic(Protocol):
    """One client's exchanges over the last day."""

    @property
    def ok(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def code_exchanges(self) -> int: ...
    @property
    def verifier_mismatches(self) -> int: ...


class TrafficSource(Protocol):
    def day(self) -> Mapping[str, DayTraffic]: ...


@dataclass(frozen=True, slots=True)
class Traffic:
    """A client's day: counts and the two rates (None without any exchange to divide by)."""

    exchanges: int
    ok: int
    code_exchanges: int
    verifier_mismatches: int

    @property
    def success_rate(self) -> float | None:
        return 100.0 * self.ok / self.exchanges if self.exchanges else None

    @property
    def mismatch_rate(self) -> float | None:
        if not self.code_exchanges:
            return None
        return 100.0 * self.verifier_mismatches / self.code_exchanges


@dataclass(frozen=True, slots=True)
class ClientRow:
    client: Client
    redirects: tuple[tuple[str, RedirectKind], ...]
    findings: tuple[Issue, ...]
    traffic: Traffic

    @property
    def redirect_kinds(self) -> tuple[RedirectKind, ...]:
        return tuple(sorted({kind for _, kind in self.redirects}))

    @property
    def keys(self) -> str:
        """Where a private_key_jwt client's keys are (RFC 7523 §2.2): "" without any."""
        return key_source(self.client)

    @property
    def key_findings(self) -> tuple[Issue, ...]:
        """The findings of the key rules (PKL06x) and the profile rules (PKL10x)."""
        return tuple(i for i in self.findings if i.rule.startswith(("PKL06", "PKL10")))


@dataclass(frozen=True, slots=True)
class Share:
    """How many clients are of each kind (dynamic clients are also public or confidential)."""

    total: int
    public: int
    confidential: int
    dynamic: int

    def percent(self, part: int) -> float:
        return 100.0 * part / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Catalog:
    rows: tuple[ClientRow, ...]
    share: Share
    other_traffic: Traffic | None  # exchanges counted for no listed client (over the cap)


def key_source(client: Client) -> str:
    """"inline JWK Set, N keys", "jwks_uri <url>" or "" (no keys registered)."""
    if client.jwks:
        try:
            keys = json.loads(client.jwks).get("keys")
        except (ValueError, AttributeError):
            return "inline JWK Set (unreadable)"
        count = len(keys) if isinstance(keys, list) else 0
        return f"inline JWK Set, {count} key{'' if count == 1 else 's'}"
    return f"jwks_uri {client.jwks_uri}" if client.jwks_uri else ""


def redirect_kind(uri: str) -> RedirectKind:
    """Loopback (RFC 8252 §7.3), a private-use scheme of a native app (§7.1), https, else
    other."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "http" and is_loopback_host((parts.hostname or "").lower()):
        return "loopback"
    if scheme == "https":
        return "https"
    if scheme and scheme not in {"http", "https"}:
        return "custom-scheme"
    return "other"


def _traffic(counts: DayTraffic | None) -> Traffic:
    if counts is None:
        return Traffic(0, 0, 0, 0)
    return Traffic(counts.ok + counts.failed, counts.ok, counts.code_exchanges,
                   counts.verifier_mismatches)


async def catalog(*, clients: ClientStore, traffic: TrafficSource) -> Catalog:
    """Every registered client, by id, with its posture, findings and day of traffic."""
    listed = sorted(await clients.list_clients(), key=lambda c: c.client_id)
    day = traffic.day()
    rows = tuple(ClientRow(c, tuple((u, redirect_kind(u)) for u in c.redirect_uris),
                           tuple(policy_issues(c)), _traffic(day.get(c.client_id)))
                 for c in listed)
    share = Share(len(listed), sum(c.is_public for c in listed),
                  sum(not c.is_public for c in listed),
                  sum(c.registered_by == "dynamic" for c in listed))
    known = {c.client_id for c in listed}
    rest = [counts for label, counts in day.items() if label not in known]
    other = None
    if rest:
        other = Traffic(sum(c.ok + c.failed for c in rest), sum(c.ok for c in rest),
                        sum(c.code_exchanges for c in rest),
                        sum(c.verifier_mismatches for c in rest))
    return Catalog(rows, share, other)
