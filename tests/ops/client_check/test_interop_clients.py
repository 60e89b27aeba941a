"""The gate passes real clients: our SDK, ``proofkey login``, Authlib, requests-oauthlib and
openid-client (npm), each driven by a small script in ``clients/`` or ``tests/interop/node/``
that signs in PROOFKEY_TEST_ATTEMPTS times and refreshes. Each refuses the three attempts the
server answers as an attacker would, for the right reason: attempt 2 (wrong ``iss``), 3
(``error`` beside the code), 4 (a 307 from the token endpoint to an unregistered URI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import NODE_DIR, ensure_node_packages

pytestmark = pytest.mark.interop

CLIENTS = Path(__file__).parent / "clients"
PYTHON_CLIENTS = {
    "sdk": ("sdk_client.py", ["iss_mismatch", "access_denied", "invalid_response"]),
    "proofkey login": ("cli_login_client.py", ["iss_mismatch", "sign-in was denied",
                                               "invalid_response"]),
    "authlib": ("authlib_client.py", ["iss does not match", "access_denied",
                                      "token endpoint (ValueError)"]),
    "requests-oauthlib": ("requests_oauthlib_client.py", [
        "iss does not match", "access_denied", "token endpoint (TooManyRedirects)"]),
}
OPENID_CLIENT_REFUSALS = ['unexpected "iss"', "access_denied",
                          "unexpected HTTP response status code"]


def client_check(tmp_path: Path, *args: str,
                 command: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Run the gate; its JSON report and the lines the client printed about its attempts."""
    done = subprocess.run(
        [sys.executable, "-m", "proofkey", "client-check", "--format", "json",
         "--state", str(tmp_path / "state"), *args, "--", *command],
        capture_output=True, text=True, timeout=240, check=False)
    assert done.stdout, done.stderr
    attempts = [line for line in done.stderr.splitlines() if line.startswith("attempt ")]
    return {"exit": done.returncode, **json.loads(done.stdout)}, attempts


def assert_passed_and_refused_for_the_right_reasons(report: dict[str, Any],
                                                    attempts: list[str],
                                                    refusals: list[str]) -> None:
    assert report["exit"] == 0, report
    assert report["passed"] is True
    assert report["findings"] == []
    assert len(report["checks"]) == 14
    assert attempts[0] == "attempt 1 signed in"
    for line, reason in zip(attempts[1:], refusals, strict=True):
        assert line.split()[2] == "refused:", attempts
        assert reason in line, (reason, attempts)


@pytest.mark.parametrize("name", list(PYTHON_CLIENTS))
def test_a_real_python_client_passes_every_check(tmp_path: Path, name: str) -> None:
    script, refusals = PYTHON_CLIENTS[name]
    report, attempts = client_check(tmp_path, command=[sys.executable, str(CLIENTS / script)])
    assert_passed_and_refused_for_the_right_reasons(report, attempts, refusals)


def test_openid_client_passes_every_check(tmp_path: Path) -> None:
    node = ensure_node_packages()
    report, attempts = client_check(
        tmp_path, "--auto-approve",
        command=[node, str(NODE_DIR / "client_check_openid_client.mjs")])
    assert_passed_and_refused_for_the_right_reasons(report, attempts, OPENID_CLIENT_REFUSALS)


def test_openid_client_with_par_passes_the_fapi2_profile(tmp_path: Path) -> None:
    node = ensure_node_packages()
    report, attempts = client_check(
        tmp_path, "--auto-approve", "--profile", "fapi2",
        command=[node, str(NODE_DIR / "client_check_openid_client.mjs"), "--par"])
    assert report["exit"] == 0, report
    assert {c["id"] for c in report["checks"]} >= {"par-required", "par-only"}
    assert report["skipped"] == []
    assert attempts[0] == "attempt 1 signed in"


def test_our_sdk_passes_the_fapi2_profile_and_a_client_without_par_does_not(
        tmp_path: Path) -> None:
    report, _ = client_check(tmp_path, "--profile", "fapi2",
                             command=[sys.executable, str(CLIENTS / "sdk_client.py")])
    assert report["exit"] == 0, report
    report, _ = client_check(tmp_path, "--profile", "fapi2",
                             command=[sys.executable, str(CLIENTS / "authlib_client.py")])
    assert report["exit"] == 1
    assert {f["check"] for f in report["findings"]} == {"par-required"}


def test_requests_oauthlib_with_its_defaults_follows_the_token_endpoint_redirect(
        tmp_path: Path) -> None:
    """requests follows a 307 and posts the form again: the code and verifier go wherever the
    token endpoint points. The driver above turns that off (max_redirects = 0)."""
    report, attempts = client_check(
        tmp_path, command=[sys.executable, str(CLIENTS / "requests_oauthlib_client.py"),
                           "--defaults"])
    assert report["exit"] == 1
    [finding] = report["findings"]
    assert (finding["check"], finding["attempt"]) == ("redirect-not-followed", 4)
    assert "code, code_verifier" in finding["evidence"]
    assert attempts[3] == "attempt 4 refused: invalid_request"  # the decoy's answer
