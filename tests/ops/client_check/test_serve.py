"""``proofkey client-check --serve``, as a browser suite uses it: start it, read the issuer
and test values from its first line, sign in (here with httpx playing the browser), stop it
(SIGTERM, or closing its standard input) and read the report."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx

from proofkey.ops.login_driver import FormNavigator, LoginSettings
from proofkey.sdk import OAuthClient


def serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "proofkey", "client-check", "--serve", "--state",
         str(tmp_path / "state"), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first, process.communicate(timeout=30)
    return process, json.loads(first)


def browser_signs_in(info: dict[str, Any]) -> None:
    """What a Playwright test would do: the app sends the browser to the server, the person
    signs in, the app redeems the code."""
    with OAuthClient(info["issuer"], info["client_id"], info["redirect_uri"],
                     scope="openid offline_access") as client:
        request = client.authorization_request()

        async def person() -> str:
            async with httpx.AsyncClient() as http:
                outcome = await FormNavigator(
                    http, LoginSettings(info["username"], info["password"])).authorize(
                    request.url, lambda url: not url.startswith(info["issuer"] + "/"))
            assert outcome.redirect, outcome.note
            return outcome.redirect

        tokens = client.complete(asyncio.run(person()), request)
        assert tokens.refresh_token
        client.refresh(tokens.refresh_token)


def test_serve_prints_the_issuer_grades_on_sigterm_and_writes_the_report(
        tmp_path: Path) -> None:
    report = tmp_path / "client-check.xml"
    process, info = serve(tmp_path, "--attempts", "2", "--mixup-attempt", "0",
                          "--error-attempt", "0", "--redirect-attempt", "0",
                          "--format", "junit", "--output", str(report))
    try:
        assert info["issuer"].startswith("http://127.0.0.1:")
        assert info["env"]["PROOFKEY_TEST_ISSUER"] == info["issuer"]
        assert info["env"]["PROOFKEY_TEST_PASSWORD"] == info["password"]
        assert httpx.get(f"{info['issuer']}/.well-known/openid-configuration").status_code == 200
        browser_signs_in(info)
        browser_signs_in(info)
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    suite = ET.fromstring(report.read_text())  # noqa: S314 - our own report
    assert not [case for case in suite if case.find("failure") is not None]
    assert int(suite.get("tests", "0")) == 16


def test_serve_stops_at_the_end_of_stdin_and_fails_a_run_without_sign_ins(
        tmp_path: Path) -> None:
    process, _ = serve(tmp_path, "--attempts", "1", "--format", "json")
    out, errors = process.communicate("", timeout=60)  # closes stdin
    assert process.returncode == 1, errors
    data = json.loads(out)
    assert [(f["check"], f["evidence"]) for f in data["findings"]] == [
        ("attempts", "0 authorization request(s), 1 expected")]


def test_serve_and_a_command_together_are_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "proofkey", "client-check", "--serve", "--",
                           "true"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "give a command after --, or --serve (not both)" in done.stderr
