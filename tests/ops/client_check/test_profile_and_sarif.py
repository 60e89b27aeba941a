"""``--profile fapi2`` (PAR required, nothing but client_id and request_uri at /authorize,
state and nonce optional) and ``--format sarif`` (SARIF 2.1.0: a rule per check, a result per
finding with its attempt and evidence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ops.client_check.test_client_check import RAW_CLIENT, client_check, failed_checks


@pytest.mark.parametrize(("flaws", "failed"), [
    (["none", "par"], set()),
    (["no-state", "par"], set()),  # FAPI 2.0: PKCE carries the CSRF protection
    (["reused-state", "par"], {"state"}),  # a state that is sent is still graded
    (["par-leaky"], {"par-only"}),
    (["none"], {"par-required"}),
    (["plain", "par"], {"pkce-s256"}),
    (["ignores-iss", "par"], {"iss-mixup"}),
    (["old-refresh", "par"], {"refresh-rotation"}),
])
def test_the_fapi2_profile(tmp_path: Path, flaws: list[str],
                           failed: set[str]) -> None:
    done = client_check(tmp_path, "--profile", "fapi2", command=[*RAW_CLIENT, *flaws])
    assert done.returncode == (1 if failed else 0), done.stdout + done.stderr
    assert failed_checks(done) == failed
    if not failed & {"par-required", "pkce-s256"}:  # else the server refused them: no codes
        assert json.loads(done.stdout)["skipped"] == []


def test_an_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    done = client_check(tmp_path, "--profile", "fapi1", command=[*RAW_CLIENT, "none"])
    assert done.returncode == 2
    assert "must be one of oauth2.1, fapi2" in done.stderr


def test_sarif_has_a_rule_per_check_and_a_result_per_finding(tmp_path: Path) -> None:
    from proofkey.ops.client_check_grades import CHECKS

    done = client_check(tmp_path, command=[*RAW_CLIENT, "fixed-verifier"], fmt="sarif")
    assert done.returncode == 1, done.stderr
    log = json.loads(done.stdout)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "proofkey client-check"
    rules = [rule["id"] for rule in driver["rules"]]
    assert rules == list(CHECKS)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] == CHECKS[rule["id"]]
    results = run["results"]
    assert [(r["ruleId"], r["properties"]["attempt"]) for r in results] == [
        ("challenge-fresh", 2), ("challenge-fresh", 3), ("challenge-fresh", 4)]
    for result in results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        assert result["message"]["text"].endswith(result["properties"]["evidence"])
        assert "was sent in attempt 1" in result["properties"]["evidence"]
        [location] = result["locations"]
        attempt = result["properties"]["attempt"]
        assert location["logicalLocations"][0]["name"] == f"attempt {attempt}"
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["properties"]["passed"] is False
    assert {s["id"] for s in run["properties"]["checksSkipped"]} == {"par-required", "par-only"}


def test_a_passing_run_has_no_sarif_result(tmp_path: Path) -> None:
    done = client_check(tmp_path, command=[*RAW_CLIENT, "none"], fmt="sarif")
    assert done.returncode == 0, done.stderr
    [run] = json.loads(done.stdout)["runs"]
    assert run["results"] == []
    assert run["properties"]["passed"] is True
    assert len(run["properties"]["checksPassed"]) == 14
