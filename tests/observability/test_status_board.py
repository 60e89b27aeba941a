"""The status board: a ring of per-minute counts over the last hour, and its chart geometry."""

from __future__ import annotations

import pytest

from proofkey.observability.events import (
    AuthorizationFailed,
    AuthorizationStarted,
    CodeIssued,
    TokenExchanged,
    TokenExchangeFailed,
)
from proofkey.observability.metrics import AUTH_START_BUCKETS
from proofkey.observability.status import StatusBoard, quantile


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_counts_land_in_their_minute_and_age_out_after_an_hour() -> None:
    clock = Clock()
    board = StatusBoard(clock)
    board(TokenExchanged("a", "authorization_code", None, 0.004))
    board(TokenExchangeFailed("a", "authorization_code", "verifier_mismatch",
                              "invalid_grant", 0.002))
    clock.now += 60
    board(TokenExchanged("a", "authorization_code", None, 0.004))
    assert board.totals()["exchanges_ok"] == 2
    assert board.totals()["verifier_mismatches"] == 1
    assert [m.exchanges_ok for m in board.minutes()][-2:] == [1, 1]
    clock.now += 59 * 60
    assert board.totals()["exchanges_ok"] == 1
    clock.now += 60
    assert board.totals() == dict.fromkeys(board.totals(), 0)
    board(TokenExchanged("a", "authorization_code", None, 0.004))  # reuses a stale slot
    assert board.totals()["exchanges_ok"] == 1


def test_missing_challenges_and_parameter_problems() -> None:
    board = StatusBoard(Clock())
    board(AuthorizationStarted("a", "openid", "", state_problem="mangled"))
    board(AuthorizationFailed("a", "invalid_request", True, True, challenge_problem="missing"))
    board(AuthorizationFailed("a", "invalid_request", True, False,
                              challenge_problem="method_plain"))
    totals = board.totals()
    assert totals["authorizations"] == 3
    assert totals["missing_challenges"] == 1
    assert totals["param_problems"] == 3
    assert totals["auth_errors"] == 2


@pytest.mark.parametrize(("counts", "q", "expected"), [
    ([0, 0, 0], 0.95, None),
    ([10, 0, 0], 0.5, 0.5),
    ([0, 10, 0], 0.5, 1.5),
    ([0, 0, 4], 0.95, 2.0),
])
def test_quantile_interpolates_inside_buckets(counts: list[int], q: float,
                                              expected: float | None) -> None:
    assert quantile(q, (1.0, 2.0), counts) == expected


def test_charts_draw_each_sli_and_leave_gaps_without_data() -> None:
    clock = Clock()
    board = StatusBoard(clock)
    for latency in (0.01, 0.02, 3.0):
        board(CodeIssued("a", "u", "fp", latency))
    board(TokenExchanged("a", "authorization_code", None, 0.004))
    board.count_redaction("handle")
    charts = {c.key: c for c in board.charts()}
    assert set(charts) == {"success", "exchanges", "mismatch", "auth_start", "token_latency",
                           "param_loss", "errors", "redactions"}
    success = charts["success"]
    assert success.lines[0].latest == "100 %"
    assert len(success.lines[0].segments) == 1  # one point, drawn as a short stub
    assert charts["auth_start"].lines[0].latest.endswith(" s")
    assert float(charts["auth_start"].top) <= AUTH_START_BUCKETS[-1]
    counts = charts["exchanges"].lines[0].segments
    assert len(counts) == 1
    assert len(counts[0].split()) == 60  # counts are zero, not missing, in idle minutes
    assert charts["redactions"].summary.startswith("1 ")
    for chart in charts.values():
        for line in chart.lines:
            for segment in line.segments:
                for point in segment.split():
                    x, y = (float(v) for v in point.split(","))
                    assert 0 <= x <= chart.width
                    assert 0 <= y <= chart.height
