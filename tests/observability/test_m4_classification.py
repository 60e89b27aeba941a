"""M4: what was wrong with an authorization request's PKCE and state parameters."""

from __future__ import annotations

import pytest

from proofkey.observability.events import challenge_problem, state_problem
from proofkey.protocol import pkce

CHALLENGE = pkce.challenge_s256("a" * 43)


@pytest.mark.parametrize(("challenge", "method", "expected"), [
    (CHALLENGE, "S256", None),
    (None, "S256", "missing"),
    (None, None, "missing"),
    (CHALLENGE, None, "method_missing"),
    ("a" * 43, "plain", "method_plain"),
    (CHALLENGE, "s256", "method_unsupported"),
    (CHALLENGE[:30], "S256", "truncated"),
    (CHALLENGE[:42], "S256", "truncated"),
    (CHALLENGE.replace("-", "+").replace("_", "/") + "=", "S256", "malformed"),
    (CHALLENGE + "AAAA", "S256", "malformed"),
    (CHALLENGE[:20] + " " + CHALLENGE[21:], "S256", "malformed"),
])
def test_challenge_problems(challenge: str | None, method: str | None,
                            expected: str | None) -> None:
    assert challenge_problem(challenge, method) == expected


@pytest.mark.parametrize(("state", "expected"), [
    (None, None),
    ("af0ifjsldkj", None),
    ("eyJ0eXAi~._-", None),
    ("x" * 2049, "too_long"),
    ("abc%3Ddef", "double_encoded"),
    ("ab cd", "mangled"),
])
def test_state_problems(state: str | None, expected: str | None) -> None:
    assert state_problem(state) == expected
