"""The report renders as a table, JSON and JUnit XML (failures as failures, skips as skipped,
text escaped); the CLI refuses bad usage with status 2 and fails, without crashing, against a
provider that cannot be reached."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET

import httpx
import typer
from typer.testing import CliRunner

from proofkey.ops.check_cli import check
from proofkey.ops.conformance import CheckConfig, CheckResult, Report, all_checks, run_battery
from proofkey.ops.report import render

REPORT = Report("https://id.example", "app", "https://app.example/cb", (
    CheckResult("pkce.plain_refused", "plain is refused", "RFC 9700 §2.1.1", "fail",
                {"answer": "code issued <&> \"plain\""}, 0.01),
    CheckResult("code.lifetime_bounded", "bounded", "RFC 6749 §4.1.2", "skip",
                {"reason": "slow"}, 0.0),
    CheckResult("authz.iss_present", "iss", "RFC 9207 §2", "warn", {"advertised": False}, 0.02),
    CheckResult("flow.baseline", "works", "RFC 7636 §4.5", "pass", {"redemption": "200"}, 0.1),
), 1.5)


def test_junit_marks_failures_and_skips_and_escapes_evidence() -> None:
    root = ET.fromstring(render(REPORT, "junit"))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["pkce.plain_refused"].find("failure")
    assert failure is not None
    assert failure.get("message") == 'pkce.plain_refused: answer=code issued <&> "plain"'
    assert cases["code.lifetime_bounded"].find("skipped") is not None
    assert "WARN" in (cases["authz.iss_present"].findtext("system-out") or "")
    assert cases["flow.baseline"].get("classname") == "proofkey.check.flow"


def test_json_and_table_carry_every_check() -> None:
    body = json.loads(render(REPORT, "json"))
    assert body["ok"] is False
    assert body["counts"] == {"pass": 1, "fail": 1, "warn": 1, "skip": 1}
    assert [c["id"] for c in body["checks"]] == [r.id for r in REPORT.results]
    table = render(REPORT, "table")
    assert "FAIL" in table
    assert "pkce.plain_refused" in table
    assert "1 passed, 1 failed, 1 warnings, 1 skipped" in table


def test_check_ids_are_unique_and_stable() -> None:
    ids = [c.id for c in all_checks()]
    assert len(ids) == len(set(ids))
    assert ids[:4] == ["metadata.discovery", "metadata.s256_advertised",
                       "metadata.plain_not_advertised", "flow.baseline"]
    assert all(c.rfc for c in all_checks())


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(check)
    return app


BASIC = ["--issuer", "http://127.0.0.1:9", "--client-id", "c", "--redirect-uri",
         "http://127.0.0.1/cb"]


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    empty = runner.invoke(_app(), [*BASIC, "--username", "u", "--password-stdin"], input="")
    assert empty.exit_code == 2
    assert "standard input held no password" in empty.stderr
    assert runner.invoke(_app(), [*BASIC, "--username", "u"]).exit_code == 2
    issuer = ["--issuer", "ftp://x", *BASIC[2:]]
    assert runner.invoke(_app(), issuer).exit_code == 2


def test_an_unreachable_provider_fails_discovery_and_skips_the_rest() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = CliRunner().invoke(_app(), ["--issuer", f"http://127.0.0.1:{port}",
                                             *BASIC[2:], "--format", "json"])
    assert result.exit_code == 1, result.output
    checks = json.loads(result.stdout)["checks"]
    assert checks[0]["result"] == "fail"
    assert checks[0]["evidence"]["error"].startswith("ConnectError")
    assert {c["result"] for c in checks[1:]} == {"skip"}


async def test_checks_left_when_the_time_budget_is_spent_fail_rather_than_pass() -> None:
    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    config = CheckConfig("http://127.0.0.1:9", "c", "http://127.0.0.1/cb", budget=0.0)
    report = await run_battery(config, transport=httpx.MockTransport(provider))
    assert len(report.failed) == len(all_checks())
    assert "time budget (0 s) is spent" in str(report.results[-1].evidence)
