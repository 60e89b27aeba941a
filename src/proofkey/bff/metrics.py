"""The gateway's Prometheus metrics, on a registry of its own; every label set is closed.

``upstream`` is a configured prefix, ``status`` a status class (``2xx`` … ``5xx``) or one of
the gateway's own answers; ``outcome`` is a word from a fixed list. No label ever carries a
token, a session id or a user.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

__all__ = ["BffMetrics", "status_class"]

LOGIN_OUTCOMES = ("started", "ok", "failed", "provider_unavailable")
REFRESH_OUTCOMES = ("ok", "rejected", "lost_race", "provider_unavailable")


def status_class(status: int) -> str:
    return f"{min(max(status // 100, 1), 5)}xx"


class BffMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.logins = Counter("proofkey_bff_logins", "Logins through the gateway by outcome.",
                              ["outcome"], registry=self.registry)
        self.refreshes = Counter("proofkey_bff_refreshes",
                                 "Access-token refreshes by outcome.", ["outcome"],
                                 registry=self.registry)
        self.logouts = Counter("proofkey_bff_logouts", "Logouts.", registry=self.registry)
        self.proxied = Counter("proofkey_bff_proxied_requests",
                               "Proxied API requests by upstream prefix and status class.",
                               ["upstream", "status"], registry=self.registry)
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)

    def login(self, outcome: str) -> None:
        self.logins.labels(outcome if outcome in LOGIN_OUTCOMES else "failed").inc()

    def refresh(self, outcome: str) -> None:
        self.refreshes.labels(outcome).inc()

    def proxy(self, upstream: str, status: int) -> None:
        self.proxied.labels(upstream, status_class(status)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
