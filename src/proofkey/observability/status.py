"""The status page's data: the last hour of the SLIs, per minute, kept in process memory.

``StatusBoard`` subscribes to the same domain events as the metrics and counts them into a ring
of 60 one-minute slots (reused as time moves on; an idle minute reads as zero). Latencies go
into fixed buckets per minute, from which p95 is interpolated as Prometheus'
``histogram_quantile`` does. ``panels()`` turns the ring into chart geometry (SVG polyline
points and axis labels) that the web layer's template draws; there is no framework here.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .client_window import ClientDay
from .events import (
    AuthorizationFailed,
    AuthorizationStarted,
    CodeIssued,
    Event,
    LoginFailed,
    LoginThrottled,
    TokenExchanged,
    TokenExchangeFailed,
)
from .metrics import AUTH_START_BUCKETS, TOKEN_BUCKETS

__all__ = ["Chart", "Line", "StatusBoard", "quantile"]

MINUTES = 60
WIDTH, HEIGHT = 600, 140


@dataclass(slots=True)
class _Minute:
    minute: int = -1
    exchanges_ok: int = 0
    exchanges_failed: int = 0
    code_exchanges: int = 0
    verifier_mismatches: int = 0
    authorizations: int = 0
    missing_challenges: int = 0
    param_problems: int = 0
    auth_errors: int = 0
    redactions: int = 0
    auth_start: list[int] = field(default_factory=lambda: [0] * (len(AUTH_START_BUCKETS) + 1))
    token: list[int] = field(default_factory=lambda: [0] * (len(TOKEN_BUCKETS) + 1))


def quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """The q-quantile of a histogram (counts per bucket, the last one +Inf), interpolated
    linearly inside the bucket; None when empty. Values in +Inf report the top bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if seen + count >= rank and count > 0:
            if index >= len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index > 0 else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a chart: SVG polyline segments (gaps where there is no data)."""

    name: str
    css: str
    segments: tuple[str, ...]
    latest: str
    dot: tuple[str, str] | None = None  # (x, y) of the newest point, marked on the chart


@dataclass(frozen=True, slots=True)
class Chart:
    """One SLI over the last hour, ready for an inline SVG."""

    key: str
    title: str
    unit: str
    lines: tuple[Line, ...]
    top: str
    summary: str
    width: int = WIDTH
    height: int = HEIGHT


class StatusBoard:
    """Event subscriber filling the per-minute ring; ``charts()`` reads it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._ring = [_Minute() for _ in range(MINUTES)]
        self.clients = ClientDay(clock)  # the console's per-client day (client_window.py)

    def _slot(self) -> _Minute:
        minute = int(self._clock() // 60)
        slot = self._ring[minute % MINUTES]
        if slot.minute != minute:
            slot = self._ring[minute % MINUTES] = _Minute(minute)
        return slot

    def __call__(self, event: Event) -> None:
        self.clients(event)
        if isinstance(event, TokenExchanged):
            slot = self._slot()
            slot.exchanges_ok += 1
            slot.code_exchanges += event.grant_type == "authorization_code"
            slot.token[bisect.bisect_left(TOKEN_BUCKETS, event.latency_seconds)] += 1
        elif isinstance(event, TokenExchangeFailed):
            slot = self._slot()
            slot.exchanges_failed += 1
            slot.auth_errors += 1
            slot.code_exchanges += event.grant_type == "authorization_code"
            slot.verifier_mismatches += event.outcome == "verifier_mismatch"
            slot.token[bisect.bisect_left(TOKEN_BUCKETS, event.latency_seconds)] += 1
        elif isinstance(event, CodeIssued):
            self._slot().auth_start[bisect.bisect_left(AUTH_START_BUCKETS,
                                                       event.latency_seconds)] += 1
        elif isinstance(event, AuthorizationStarted):
            slot = self._slot()
            slot.authorizations += 1
            slot.param_problems += event.state_problem is not None
        elif isinstance(event, AuthorizationFailed):
            slot = self._slot()
            slot.authorizations += 1
            slot.auth_errors += 1
            missing = event.missing_challenge or event.challenge_problem == "missing"
            slot.missing_challenges += missing
            slot.param_problems += (event.challenge_problem is not None or missing
                                    or event.state_problem is not None)
        elif isinstance(event, LoginFailed | LoginThrottled):
            self._slot().auth_errors += 1

    def count_redaction(self, kind: str) -> None:
        self._slot().redactions += 1

    def minutes(self) -> list[_Minute]:
        """The last 60 minutes, oldest first (empty slots for minutes without events)."""
        now = int(self._clock() // 60)
        out = []
        for minute in range(now - MINUTES + 1, now + 1):
            slot = self._ring[minute % MINUTES]
            out.append(slot if slot.minute == minute else _Minute(minute))
        return out

    def totals(self) -> dict[str, int]:
        keys = ("exchanges_ok", "exchanges_failed", "code_exchanges", "verifier_mismatches",
                "authorizations", "missing_challenges", "param_problems", "auth_errors",
                "redactions")
        rows = self.minutes()
        return {k: sum(getattr(m, k) for m in rows) for k in keys}

    def charts(self) -> list[Chart]:
        rows = self.minutes()
        t = self.totals()
        total_exchanges = t["exchanges_ok"] + t["exchanges_failed"]

        def ratio(num: str, den: Callable[[_Minute], int]) -> list[float | None]:
            return [100.0 * getattr(m, num) / den(m) if den(m) else None for m in rows]

        def count(name: str) -> list[float | None]:
            return [float(getattr(m, name)) for m in rows]

        success = [100.0 * m.exchanges_ok / (m.exchanges_ok + m.exchanges_failed)
                   if m.exchanges_ok + m.exchanges_failed else None for m in rows]
        auth_p95 = [quantile(0.95, AUTH_START_BUCKETS, m.auth_start) for m in rows]
        token_p95 = [None if v is None else v * 1000 for v in
                     (quantile(0.95, TOKEN_BUCKETS, m.token) for m in rows)]
        return [
            _chart("success", "Token exchange success rate", "%",
                   [("success", "ok", success)], floor_top=100.0,
                   summary=_pct(t["exchanges_ok"], total_exchanges, "of exchanges succeeded")),
            _chart("exchanges", "Token exchanges per minute", "req/min",
                   [("succeeded", "ok", count("exchanges_ok")),
                    ("failed", "bad", count("exchanges_failed"))],
                   summary=f"{t['exchanges_ok']} succeeded, {t['exchanges_failed']} failed"),
            _chart("mismatch", "Verifier mismatch rate", "%",
                   [("mismatch", "bad", ratio("verifier_mismatches",
                                              lambda m: m.code_exchanges))],
                   summary=_pct(t["verifier_mismatches"], t["code_exchanges"],
                                "of code exchanges had a wrong verifier")),
            _chart("auth_start", "Auth-start latency p95", "s",
                   [("p95", "lat", auth_p95)], summary="authorization request to code"),
            _chart("token_latency", "Token endpoint latency p95", "ms",
                   [("p95", "lat", token_p95)], summary="processing time per request"),
            _chart("param_loss", "Redirect-parameter loss", "req/min",
                   [("missing challenge", "bad", count("missing_challenges")),
                    ("any parameter problem", "warn", count("param_problems"))],
                   summary=_pct(t["missing_challenges"], t["authorizations"],
                                "of authorization requests lacked code_challenge")),
            _chart("errors", "Auth errors", "per min",
                   [("errors", "bad", count("auth_errors"))],
                   summary=f"{t['auth_errors']} errors at authorize, token and login"),
            _chart("redactions", "Sensitive-log detections", "per min",
                   [("masked", "bad", count("redactions"))],
                   summary=f"{t['redactions']} secret-shaped values masked in logs"),
        ]


def _pct(part: int, whole: int, text: str) -> str:
    if whole == 0:
        return "no traffic in the last hour"
    return f"{100.0 * part / whole:.2f} % {text} ({part}/{whole})"


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value == 0 or value >= 0.01:
        return f"{value:.3g}"
    return f"{value:.2g}" if value >= 0.0001 else "<0.0001"


def _chart(key: str, title: str, unit: str,
           series: list[tuple[str, str, list[float | None]]], *, summary: str,
           floor_top: float = 0.0) -> Chart:
    values = [v for _, _, points in series for v in points if v is not None]
    top = max([*values, floor_top], default=0.0)
    if top <= 0:
        top = 1.0
    lines = []
    for name, css, points in series:
        segments: list[str] = []
        current: list[str] = []
        for index, value in enumerate(points):
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            x = index * WIDTH / (MINUTES - 1)
            current.append(f"{x:.1f},{_y(value, top):.1f}")
        if current:
            segments.append(" ".join(current))
        # A lone point would not draw as a line: give it a short horizontal stub.
        segments = [s if " " in s else _stub(s) for s in segments]
        last = next((i for i in range(len(points) - 1, -1, -1) if points[i] is not None), None)
        latest = None if last is None else points[last]
        dot = None if last is None or latest is None else (
            f"{last * WIDTH / (MINUTES - 1):.1f}", f"{_y(latest, top):.1f}")
        lines.append(Line(name, css, tuple(segments),
                          "–" if latest is None else f"{_fmt(latest)} {unit}", dot))
    return Chart(key, title, unit, tuple(lines), _fmt(top) if values else "–", summary)


def _y(value: float, top: float) -> float:
    return HEIGHT - value / top * (HEIGHT - 4) - 2


def _stub(point: str) -> str:
    x, y = (float(p) for p in point.split(","))
    return f"{max(x - 4, 0):.1f},{y:.1f} {min(x + 4, WIDTH):.1f},{y:.1f}"
