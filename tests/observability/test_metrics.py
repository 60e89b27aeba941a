"""Metrics from events: closed label sets whatever the input, and the M1–M6 mapping."""

from __future__ import annotations

import pytest

from proofkey.observability.events import (
    AuthorizationFailed,
    AuthorizationStarted,
    CodeIssued,
    DpopRefused,
    LoginFailed,
    LoginThrottled,
    TokenExchanged,
    TokenExchangeFailed,
    TokenRevoked,
    challenge_problem,
    state_problem,
)
from proofkey.observability.metrics import DPOP_REFUSALS, OUTCOMES, Metrics
from tests.observability.scrape import key, parse


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse(metrics.render()[0].decode())


def label_values(metrics: Metrics, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (sample, labels) in samples(metrics) if sample == name}


@pytest.mark.parametrize("outcome", ["unknown_client", "method x not registered",
                                     "<script>", "authorization_pending"])
def test_an_outcome_outside_the_closed_set_counts_as_other(outcome: str) -> None:
    # The token flow emits only TokenOutcome values (typed); a stray string is still no label.
    metrics = Metrics(process_collectors=False)
    metrics(TokenExchangeFailed("c", "authorization_code", outcome,  # type: ignore[arg-type]
                                "invalid_client", 0.001))
    assert label_values(metrics, "proofkey_token_exchanges_total", "outcome") == {"other"}
    assert "other" in OUTCOMES


def test_client_labels_are_the_first_registered_ids_then_other() -> None:
    metrics = Metrics(max_clients=3, process_collectors=False)
    for index in range(10):
        metrics(TokenExchanged(f"client-{index}", "authorization_code", None, 0.01))
    metrics(TokenExchangeFailed(None, None, "invalid_client", "invalid_client", 0.001,
                                "unknown_client"))
    values = label_values(metrics, "proofkey_token_exchanges_total", "client_id")
    assert values == {"client-0", "client-1", "client-2", "other", "unknown"}
    assert samples(metrics)[key("proofkey_token_exchanges_total", client_id="other",
                                grant_type="authorization_code", outcome="success")] == 7


def test_hostile_values_never_become_labels() -> None:
    metrics = Metrics(process_collectors=False)
    metrics(TokenExchangeFailed("c", "x" * 500, "method " + "y" * 300 + " not registered",
                                "invalid_client", 0.001))
    metrics(TokenExchangeFailed("c", None, "\n\"evil\"", "not-an-error", 0.001))
    metrics(AuthorizationFailed(None, "weird<error>", False, False))
    metrics(TokenRevoked("c", "id_token?", None))
    metrics(CodeIssued("y" * 129, "u", "fp", 0.2))
    allowed = {"c", "unknown", "other", "invalid_client", "authorization_code", "error",
               "token", "authorize", "started", "0.1.0"}
    for (name, labels) in samples(metrics):
        if name.startswith("proofkey_") and "build_info" not in name:
            for label, value in labels:
                if label == "reason":  # DPoP failures: the closed set, every value from the start
                    assert value in DPOP_REFUSALS, (name, label, value)
                elif label not in {"le", "kind", "result"}:
                    assert value in allowed, (name, label, value)


def test_each_event_feeds_its_sli() -> None:
    m = Metrics(process_collectors=False)
    m(AuthorizationStarted("app", "openid", "", state_problem=state_problem("a b")))
    m(AuthorizationFailed("app", "invalid_request", True, True,
                          challenge_problem=challenge_problem(None, None)))
    m(AuthorizationFailed("app", "invalid_request", True, False,
                          challenge_problem=challenge_problem("abc", "S256")))
    m(AuthorizationFailed("app", "invalid_request", True, False,
                          challenge_problem=challenge_problem("x" * 43, "plain")))
    m(AuthorizationFailed("app", "invalid_request", False, False))
    m(CodeIssued("app", "u", "fp", 0.3))
    m(TokenExchangeFailed("app", "authorization_code", "verifier_mismatch", "invalid_grant",
                          0.004))
    m(LoginFailed("fp", "app"))
    m(LoginThrottled("fp", "user"))
    m.count_redaction("handle")
    got = samples(m)
    problem = "proofkey_authorization_param_problems_total"
    assert got[key(problem, client_id="app", parameter="state", problem="mangled")] == 1
    assert got[key(problem, client_id="app", parameter="code_challenge", problem="missing")] == 1
    assert got[key(problem, client_id="app", parameter="code_challenge",
                   problem="truncated")] == 1
    assert got[key(problem, client_id="app", parameter="code_challenge",
                   problem="method_plain")] == 1
    assert got[key(problem, client_id="app", parameter="redirect_uri", problem="rejected")] == 1
    assert got[key("proofkey_authorization_requests_total", client_id="app",
                   result="error")] == 4
    assert got[key("proofkey_auth_start_duration_seconds_bucket", client_id="app",
                   le="0.25")] == 0
    assert got[key("proofkey_auth_start_duration_seconds_bucket", client_id="app",
                   le="0.5")] == 1
    assert got[key("proofkey_pkce_verifier_mismatches_total", client_id="app")] == 1
    assert got[key("proofkey_auth_errors_total", endpoint="authorize",
                   error="invalid_request")] == 4
    assert got[key("proofkey_auth_errors_total", endpoint="token", error="invalid_grant")] == 1
    assert got[key("proofkey_auth_errors_total", endpoint="login",
                   error="invalid_credentials")] == 1
    assert got[key("proofkey_auth_errors_total", endpoint="login", error="slow_down")] == 1
    assert got[key("proofkey_log_redactions_total", kind="handle")] == 1


def test_every_redaction_kind_is_exported_from_the_start() -> None:
    kinds = label_values(Metrics(process_collectors=False), "proofkey_log_redactions_total",
                         "kind")
    assert {"jwt", "password", "handle", "verifier", "authorization"} <= kinds


def test_apps_in_one_process_keep_separate_registries() -> None:
    a, b = Metrics(), Metrics()
    a(TokenExchanged("c", "refresh_token", "g", 0.01))
    assert key("proofkey_token_exchanges_total", client_id="c", grant_type="refresh_token",
               outcome="success") not in samples(b)


def test_dpop_refusals_are_counted_by_their_closed_reason() -> None:
    m = Metrics(process_collectors=False)
    m(DpopRefused("app", "replay", "fp"))
    m(DpopRefused("app", "made-up", None))  # type: ignore[arg-type]
    assert samples(m)[key("proofkey_dpop_failures_total", reason="replay")] == 1
    assert samples(m)[key("proofkey_dpop_failures_total", reason="iat")] == 0
    assert label_values(m, "proofkey_dpop_failures_total", "reason") == DPOP_REFUSALS | {"other"}
