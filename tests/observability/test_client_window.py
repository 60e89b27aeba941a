"""The console's per-client day: exchanges per client in hourly slots over the last 24 hours,
in process memory, with a bounded number of clients."""

from __future__ import annotations

from proofkey.observability.client_window import ClientDay
from proofkey.observability.events import TokenExchanged, TokenExchangeFailed


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def ok(client: str) -> TokenExchanged:
    return TokenExchanged(client, "authorization_code", "g", 0.01)


def mismatch(client: str | None) -> TokenExchangeFailed:
    return TokenExchangeFailed(client, "authorization_code", "verifier_mismatch",
                               "invalid_grant", 0.01)


def test_exchanges_and_mismatches_are_counted_per_client_for_a_day() -> None:
    clock = Clock()
    day = ClientDay(clock)
    day(ok("a"))
    day(mismatch("a"))
    day(mismatch(None))  # no client identified: not counted per client
    clock.now += 23 * 3600
    day(ok("a"))
    counts = day.day()["a"]
    assert (counts.ok, counts.failed, counts.code_exchanges, counts.verifier_mismatches) == (
        2, 1, 3, 1)
    clock.now += 3600  # the first hour leaves the window
    counts = day.day()["a"]
    assert (counts.ok, counts.failed) == (1, 0)
    clock.now += 24 * 3600
    assert day.day() == {}


def test_the_number_of_clients_is_bounded() -> None:
    day = ClientDay(Clock(), max_clients=2)
    for client in ("a", "b", "c", "d", "https://app.example.com/client.json"):
        day(ok(client))
    assert set(day.day()) == {"a", "b", "other", "metadata_document"}
    assert day.day()["other"].ok == 2
