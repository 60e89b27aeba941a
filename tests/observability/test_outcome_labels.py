"""Every value a flow can emit has its own metric label: the label sets come from the same
``Literal``s (proofkey.outcomes) the flows and events are typed with, so none can go missing."""

from __future__ import annotations

from typing import get_args

import pytest

from proofkey.observability.events import (
    AuthorizationFailed,
    AuthorizationStarted,
    TokenExchanged,
    TokenExchangeFailed,
)
from proofkey.observability.metrics import Metrics
from proofkey.outcomes import (
    ChallengeProblem,
    GrantRefusal,
    GrantType,
    StateProblem,
    TokenErrorOutcome,
    TokenOutcome,
    error_outcome,
)
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from tests.observability.scrape import key, parse

EXCHANGES = "proofkey_token_exchanges_total"
PROBLEMS = "proofkey_authorization_param_problems_total"


def scraped(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse(metrics.render()[0].decode())


@pytest.mark.parametrize("outcome", [o for o in get_args(TokenOutcome) if o != "success"])
def test_every_refusal_a_flow_can_emit_is_counted_under_its_own_label(outcome: str) -> None:
    metrics = Metrics(process_collectors=False)
    metrics(TokenExchangeFailed("app", "authorization_code", outcome, "invalid_grant", 0.01))
    assert scraped(metrics)[key(EXCHANGES, client_id="app", grant_type="authorization_code",
                                outcome=outcome)] == 1


@pytest.mark.parametrize("grant_type", get_args(GrantType))
def test_every_grant_type_is_counted_under_its_own_label(grant_type: str) -> None:
    metrics = Metrics(process_collectors=False)
    metrics(TokenExchanged("app", grant_type, None, 0.01))
    assert scraped(metrics)[key(EXCHANGES, client_id="app", grant_type=grant_type,
                                outcome="success")] == 1


def test_the_device_grant_type_is_the_rfc_8628_urn() -> None:
    assert DEVICE_GRANT_TYPE in get_args(GrantType)


@pytest.mark.parametrize("problem", get_args(ChallengeProblem))
def test_every_challenge_problem_is_counted_under_its_own_label(problem: str) -> None:
    metrics = Metrics(process_collectors=False)
    metrics(AuthorizationFailed("app", "invalid_request", True, False,
                                challenge_problem=problem))  # type: ignore[arg-type]
    assert scraped(metrics)[key(PROBLEMS, client_id="app", parameter="code_challenge",
                                problem=problem)] == 1


@pytest.mark.parametrize("problem", get_args(StateProblem))
def test_every_state_problem_is_counted_under_its_own_label(problem: str) -> None:
    metrics = Metrics(process_collectors=False)
    metrics(AuthorizationStarted("app", "openid", "", state_problem=problem))  # type: ignore[arg-type]
    assert scraped(metrics)[key(PROBLEMS, client_id="app", parameter="state",
                                problem=problem)] == 1


def test_refusals_and_error_codes_are_disjoint_outcomes() -> None:
    assert not set(get_args(GrantRefusal)) & set(get_args(TokenErrorOutcome))


@pytest.mark.parametrize("code", get_args(TokenErrorOutcome))
def test_an_error_code_is_its_own_outcome(code: str) -> None:
    assert error_outcome(code) == code


def test_an_error_code_outside_the_set_is_other() -> None:
    assert error_outcome("authorization_pending") == "other"
    assert error_outcome("<script>") == "other"
