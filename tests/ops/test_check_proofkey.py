"""``proofkey check`` against a real ``proofkey serve``: every check passes (the slow one with a
short code lifetime), by HTML form and in a real browser, in well under a minute; the CLI
writes JUnit XML and JSON for CI and exits 0."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from proofkey.ops.check_cli import check
from proofkey.ops.conformance import CheckConfig, all_checks, run_battery
from proofkey.ops.login_driver import LoginSettings
from tests.helpers import PASSWORD, PUBLIC_ID, PUBLIC_REDIRECT, USERNAME
from tests.process.conftest import ServerPool, ServerProcess, seed

pytestmark = pytest.mark.timeout(180)
LOGIN = LoginSettings(USERNAME, PASSWORD)
_LONG_VALUE = re.compile(r"[A-Za-z0-9_\-]{40,}")


def _serve(pool: ServerPool, data_dir: Path, **settings: str) -> ServerProcess:
    seed(data_dir, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    return pool.start(data_dir, settings=settings)


@pytest.fixture(scope="module")
def proofkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    pool = ServerPool()
    try:
        yield _serve(pool, tmp_path_factory.mktemp("check") / "data")
    finally:
        pool.stop_all()


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """proofkey, as far as this test needs it."""

    app.command("check")(check)
    return app


def args(server: ServerProcess, *extra: str) -> list[str]:
    return ["check", "--issuer", server.base_url, "--client-id", PUBLIC_ID, "--redirect-uri",
            PUBLIC_REDIRECT, "--username", USERNAME, "--password-stdin", *extra]


async def test_every_check_passes_on_proofkey_within_a_minute(proofkey: ServerProcess) -> None:
    report = await run_battery(CheckConfig(proofkey.base_url, PUBLIC_ID, PUBLIC_REDIRECT), LOGIN)
    assert report.failed == ()
    assert {r.id: r.result for r in report.results if r.result != "pass"} == {
        "code.lifetime_bounded": "skip"}
    assert report.seconds < 60
    assert report.by_id("code.concurrent_single_winner").evidence["winners"] == 1
    assert report.by_id("code.replay_revokes_tokens").evidence["userinfo"] == "revoked (401)"
    assert report.by_id("redirect_uri.loopback_any_port").evidence["redemption"] == "issued"
    text = json.dumps(report.to_dict())
    assert PASSWORD not in text
    assert not _LONG_VALUE.search(text), "evidence holds something that looks like a secret"


def test_the_cli_writes_junit_for_ci_and_exits_zero(proofkey: ServerProcess,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "check.xml"
    result = CliRunner().invoke(cli(), args(proofkey, "--format", "junit", "--output",
                                            str(out)), input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "flow.baseline" in result.stdout  # the table still goes to standard output
    suite = ET.fromstring(out.read_text()).find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        str(len(all_checks())), "0", "1")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names == [c.id for c in all_checks()]


def test_the_cli_prints_json(proofkey: ServerProcess) -> None:
    result = CliRunner().invoke(cli(), args(proofkey, "--format", "json"),
                                input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert body["counts"] == {"pass": len(all_checks()) - 1, "fail": 0, "warn": 0, "skip": 1}
    plain = next(c for c in body["checks"] if c["id"] == "pkce.plain_refused")
    assert plain["rfc"] == "RFC 9700 §2.1.1; RFC 7636 §7.2"
    assert plain["evidence"]["answer"].endswith("error=invalid_request")


def test_the_slow_check_sees_proofkeys_codes_expire(tmp_path: Path) -> None:
    pool = ServerPool()
    try:
        server = _serve(pool, tmp_path / "data", code_ttl_seconds="1")
        result = CliRunner().invoke(cli(), args(server, "--slow", "--code-lifetime", "2",
                                                "--format", "json"), input=f"{PASSWORD}\n")
    finally:
        pool.stop_all()
    assert result.exit_code == 0, result.output
    lifetime = next(c for c in json.loads(result.stdout)["checks"]
                    if c["id"] == "code.lifetime_bounded")
    assert lifetime["result"] == "pass"
    assert lifetime["evidence"] == {"waited": "3 s", "answer": "400 invalid_grant"}
    # The wait is announced (a bar with the time left on a terminal; a line in a log).
    assert ("proofkey check: code.lifetime_bounded: waiting 3 s for the code to expire "
            "(--code-lifetime)") in result.stderr


@pytest.mark.browser
def test_a_real_browser_signs_in_to_proofkey(proofkey: ServerProcess) -> None:
    result = CliRunner().invoke(cli(), args(proofkey, "--login", "browser", "--format",
                                            "json"), input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["counts"]["fail"] == 0
    assert body["seconds"] < 60
