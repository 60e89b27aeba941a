"""``proofkey client-check`` as a process: our SDK passes; each deliberately broken client
(tests/ops/client_check/clients/raw_client.py FLAW) fails, naming the check it breaks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

CLIENTS = Path(__file__).parent / "clients"
SDK_CLIENT = [sys.executable, str(CLIENTS / "sdk_client.py")]
RAW_CLIENT = [sys.executable, str(CLIENTS / "raw_client.py")]
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def client_check(tmp_path: Path, *args: str, command: list[str],
                 fmt: str = "json") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proofkey", "client-check", "--format", fmt,
         "--state", str(tmp_path / "state"), *args, "--", *command],
        capture_output=True, text=True, timeout=180, check=False)


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def failed_checks(done: subprocess.CompletedProcess[str]) -> set[str]:
    return {f["check"] for f in report(done)["findings"]}


def test_our_sdk_signing_in_through_the_login_form_passes_every_check(tmp_path: Path) -> None:
    done = client_check(tmp_path, "--attempts", "5", command=SDK_CLIENT)
    assert done.returncode == 0, done.stdout + done.stderr
    data = report(done)
    assert data["passed"] is True
    assert data["attempts"] == 5
    assert {c["id"] for c in data["checks"]} == {
        "attempts", "pkce-s256", "challenge-fresh", "state", "nonce", "verifier-confined",
        "code-single-use", "code-redirect-uri", "refresh-rotation", "iss-mixup",
        "error-refused", "redirect-not-followed", "token-in-url", "command-exit"}
    assert [c["id"] for c in data["skipped"]] == ["par-required", "par-only"]
    assert "attempt 1 signed in" in done.stderr
    assert "attempt 2 refused: iss_mismatch" in done.stderr  # the mix-up attempt
    assert "attempt 3 refused: access_denied" in done.stderr  # the error beside a code
    assert "attempt 4 refused: invalid_response" in done.stderr  # the 307 from /token
    assert "attempt 5 signed in" in done.stderr


def test_a_careful_hand_written_client_passes_too(tmp_path: Path) -> None:
    done = client_check(tmp_path, command=[*RAW_CLIENT, "none"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 attempt(s); 14 check(s) passed, 0 failed, 2 skipped" in client_check(
        tmp_path, command=[*RAW_CLIENT, "none"], fmt="table").stdout


@pytest.mark.parametrize(("flaw", "check"), [
    ("plain", "pkce-s256"),
    ("missing-pkce", "pkce-s256"),
    ("fixed-verifier", "challenge-fresh"),
    ("reused-state", "state"),
    ("weak-state", "state"),
    ("no-nonce", "nonce"),
    ("verifier-in-query", "verifier-confined"),
    ("redeems-twice", "code-single-use"),
    ("wrong-redirect", "code-redirect-uri"),
    ("old-refresh", "refresh-rotation"),
    ("ignores-iss", "iss-mixup"),
    ("ignores-error", "error-refused"),
    ("token-in-url", "token-in-url"),
    ("follows-redirect", "redirect-not-followed"),
    ("no-state", "state"),
])
def test_a_broken_client_fails_naming_the_check_it_breaks(tmp_path: Path, flaw: str,
                                                           check: str) -> None:
    done = client_check(tmp_path, command=[*RAW_CLIENT, flaw])
    assert done.returncode == 1, done.stdout + done.stderr
    assert failed_checks(done) == {check}
    for finding in report(done)["findings"]:
        assert finding["evidence"]


def test_findings_name_the_attempt_and_show_no_whole_secret(tmp_path: Path) -> None:
    done = client_check(tmp_path, command=[*RAW_CLIENT, "constant-verifier"], fmt="table")
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert [line.split()[:3] for line in lines] == [["challenge-fresh", "FAIL", "2"],
                                                    ["challenge-fresh", "FAIL", "3"],
                                                    ["challenge-fresh", "FAIL", "4"]]
    assert "was sent in attempt 1" in lines[0]
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B
    assert challenge[:4] + "…" in lines[0]
    assert challenge not in done.stdout + done.stderr
    assert RFC7636_VERIFIER not in done.stdout + done.stderr


def test_a_challenge_from_an_earlier_run_in_the_same_job_fails(tmp_path: Path) -> None:
    first = client_check(tmp_path, "--attempts", "1", command=[*RAW_CLIENT,
                                                               "constant-verifier"])
    assert first.returncode == 0, first.stdout + first.stderr
    second = client_check(tmp_path, "--attempts", "1", command=[*RAW_CLIENT,
                                                                "constant-verifier"])
    assert second.returncode == 1
    [finding] = report(second)["findings"]
    assert (finding["check"], finding["attempt"]) == ("challenge-fresh", 1)
    assert finding["evidence"].startswith("code_challenge E9Me… (sha256:")
    assert finding["evidence"].endswith(") was sent in an earlier run")


def test_the_sdk_passes_when_par_is_required_and_a_client_without_par_fails(
        tmp_path: Path) -> None:
    done = client_check(tmp_path, "--require-par", command=SDK_CLIENT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "par-required" in {c["id"] for c in report(done)["checks"]}
    done = client_check(tmp_path, "--require-par", command=[*RAW_CLIENT, "none"])
    assert done.returncode == 1
    assert "par-required" in failed_checks(done)


def test_auto_approve_answers_the_authorization_request_with_the_code(tmp_path: Path) -> None:
    done = client_check(tmp_path, "--auto-approve", "--mixup-attempt", "0",
                        "--error-attempt", "0", "--redirect-attempt", "0",
                        command=[*RAW_CLIENT, "none"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert report(done)["attempts"] == 4
    assert "refused" not in done.stderr


def test_too_few_sign_ins_and_a_failing_command_fail(tmp_path: Path) -> None:
    done = client_check(tmp_path, "--attempts", "2",
                        command=[sys.executable, "-c", "raise SystemExit(3)"])
    assert done.returncode == 1
    assert {(f["check"], f["evidence"]) for f in report(done)["findings"]} == {
        ("attempts", "0 authorization request(s), 2 expected"),
        ("command-exit", "the command exited with 3")}


def test_junit_output_has_a_test_case_per_check_and_a_failure_per_broken_one(
        tmp_path: Path) -> None:
    out = tmp_path / "client-check.xml"
    done = client_check(tmp_path, "--output", str(out), command=[*RAW_CLIENT, "plain"],
                        fmt="junit")
    assert done.returncode == 1
    assert done.stdout == ""
    suite = ET.fromstring(out.read_text())  # noqa: S314 - our own report
    failed = [case.get("name") for case in suite if case.find("failure") is not None]
    assert failed == ["pkce-s256"]
    skipped = [case.get("name") for case in suite if case.find("skipped") is not None]
    assert skipped == ["par-required", "iss-mixup", "error-refused", "redirect-not-followed",
                       "par-only"]  # no code was issued
    assert len(suite) == int(suite.get("tests", "0")) == 16


def test_a_command_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    done = client_check(tmp_path, command=["/nonexistent/app"])
    assert done.returncode == 2
    assert "command not found: /nonexistent/app" in done.stderr


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    done = client_check(tmp_path, command=[*RAW_CLIENT, "none"], fmt="xml")
    assert done.returncode == 2
    assert "must be table, json, junit or sarif" in done.stderr


def test_a_state_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proofkey", "client-check", "--state", str(tmp_path), "--",
         *RAW_CLIENT, "none"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"cannot read {tmp_path}: Is a directory" in done.stderr
