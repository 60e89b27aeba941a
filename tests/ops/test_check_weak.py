"""The conformance battery catches each flaw of a deliberately weakened provider by the name of
exactly the check that covers it, while every other check still passes; and its evidence never
shows a code, token, verifier or password, even when the provider echoes them."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from proofkey.ops.check_cli import check
from proofkey.ops.conformance import Check, CheckConfig, Report, all_checks, run_battery
from proofkey.ops.login_driver import LoginSettings
from tests.ops.weak_servers import (
    CONFIDENTIAL_CLIENT,
    CONFIDENTIAL_SECRET,
    PASSWORD,
    PUBLIC_CLIENT,
    REDIRECT,
    USER,
    Provider,
    serve_provider,
)

LOGIN = LoginSettings(USER, PASSWORD)
REDIRECT_FLAWS = {"redirect_uri.trailing_slash_refused", "redirect_uri.extra_path_refused",
                  "redirect_uri.extra_query_refused"}
BRIEF_FLAWS = {  # the five flaws of issue #6
    "plain": {"pkce.plain_refused", "pkce.method_required"},
    "verifier_absent": {"token.verifier_required"},
    "replay": {"code.replay_refused", "code.concurrent_single_winner"},
    "prefix_redirect": REDIRECT_FLAWS,
    "no_iss": {"authz.iss_present"},
}
MORE_FLAWS = {
    "no_challenge": {"pkce.challenge_required"},
    "mangled_state": {"authz.state_echoed"},
    "cacheable": {"token.no_store"},
    "echo_secrets": {"errors.no_secret_echo"},
}
# Checks that skip by design: the slow one (no --slow); revocation after an accepted replay.
EXPECTED_SKIPS = {"code.lifetime_bounded"}


def assert_no_secrets(report: Report, provider: Provider) -> None:
    text = json.dumps(report.to_dict())
    for value in [*provider.issued, *provider.received, PASSWORD, CONFIDENTIAL_SECRET]:
        assert value not in text, "a secret value is in the report"


def assert_only(report: Report, failing: set[str], skips: set[str] = EXPECTED_SKIPS) -> None:
    assert set(report.failed) == failing, report.to_dict()
    for result in report.results:
        if result.id in failing:
            continue
        expected = "skip" if result.id in skips else "pass"
        assert result.result == expected, (result.id, result.evidence)


async def test_a_correct_provider_with_node_style_forms_passes_every_check() -> None:
    with serve_provider() as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT), LOGIN)
    assert_only(report, set())
    assert len(report.results) == len(all_checks()) == 26
    assert report.by_id("code.replay_revokes_tokens").evidence == {
        "userinfo": "revoked (401)", "refresh": "revoked (400)"}
    assert_no_secrets(report, provider)


@pytest.mark.parametrize(("flaw", "failing"), [*BRIEF_FLAWS.items(), *MORE_FLAWS.items()])
async def test_each_flaw_is_reported_by_its_check(flaw: str, failing: set[str]) -> None:
    with serve_provider({flaw}) as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT), LOGIN)
    skips = EXPECTED_SKIPS | ({"code.replay_revokes_tokens"} if flaw == "replay" else set())
    assert_only(report, failing, skips)
    assert_no_secrets(report, provider)


async def test_the_five_flaws_together_are_all_reported() -> None:
    with serve_provider(set(BRIEF_FLAWS)) as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT), LOGIN)
    assert_only(report, set().union(*BRIEF_FLAWS.values()),
                EXPECTED_SKIPS | {"code.replay_revokes_tokens"})
    assert_no_secrets(report, provider)


async def test_evidence_names_what_was_wrong_without_values() -> None:
    with serve_provider({"plain", "echo_secrets", "prefix_redirect"}) as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT), LOGIN)
    assert report.by_id("pkce.plain_refused").evidence == {
        "answer": "code issued for code_challenge_method=plain",
        "redemption": "issued for the plain verifier"}
    echoed = str(report.by_id("errors.no_secret_echo").evidence["echoed"])
    assert "code in token.wrong_verifier_refused" in echoed
    assert "code_verifier in token.wrong_verifier_refused" in echoed
    assert report.by_id("redirect_uri.extra_query_refused").evidence["answer"] == (
        "redirect to redirect_uri [code,iss,pk_variant,state]")
    assert_no_secrets(report, provider)


async def test_a_confidential_client_without_pkce_is_a_warning_not_a_failure() -> None:
    with serve_provider({"no_challenge"}) as provider:
        report = await run_battery(CheckConfig(
            provider.issuer, CONFIDENTIAL_CLIENT, REDIRECT, client_secret=CONFIDENTIAL_SECRET),
            LOGIN)
    assert report.ok, report.failed
    assert report.by_id("pkce.challenge_required").result == "warn"
    assert report.by_id("redirect_uri.loopback_any_port").result == "skip"
    assert report.by_id("flow.baseline").result == "pass"
    assert_no_secrets(report, provider)


async def test_a_failed_login_fails_the_baseline_and_skips_what_depends_on_it() -> None:
    with serve_provider() as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT),
                                   LoginSettings(USER, "not the password"))
    assert report.failed == ("flow.baseline",)
    assert "the login form came back" in str(report.by_id("flow.baseline").evidence)
    assert {r.result for r in report.results[4:-1]} == {"skip"}
    assert "not the password" not in json.dumps(report.to_dict())


async def test_without_credentials_the_baseline_says_what_is_missing() -> None:
    with serve_provider() as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT))
    assert report.failed == ("flow.baseline",)
    assert "no --username/--password" in str(report.by_id("flow.baseline").evidence)


def _subset(*ids: str) -> list[Check]:
    return [c for c in all_checks() if c.id in {"metadata.discovery", "flow.baseline", *ids}]


@pytest.mark.parametrize(("ttl", "bound", "result"), [(1.0, 2, "pass"), (30.0, 1, "fail")])
async def test_the_slow_check_bounds_the_code_lifetime(ttl: float, bound: int,
                                                       result: str) -> None:
    with serve_provider(code_ttl=ttl) as provider:
        config = CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT, slow=True,
                             code_lifetime=bound)
        report = await run_battery(config, LOGIN, checks=_subset("code.lifetime_bounded"))
    assert report.by_id("code.lifetime_bounded").result == result
    assert report.by_id("code.lifetime_bounded").evidence["waited"] == f"{bound + 1} s"


def test_the_cli_exits_non_zero_and_names_the_failing_checks() -> None:
    app = typer.Typer()
    app.command()(check)
    with serve_provider({"no_iss", "replay"}) as provider:
        result = CliRunner().invoke(app, [
            "--issuer", provider.issuer, "--client-id", PUBLIC_CLIENT, "--redirect-uri",
            REDIRECT, "--username", USER, "--password-stdin", "--username-field", "login",
            "--format", "json"], input=f"{PASSWORD}\n")
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert {c["id"] for c in body["checks"] if c["result"] == "fail"} == {
        "authz.iss_present", "code.replay_refused", "code.concurrent_single_winner"}


@pytest.mark.browser
async def test_a_real_browser_logs_in_through_node_style_forms_and_captures_redirects(
) -> None:
    from proofkey.ops.browser_login import BrowserNavigator

    with serve_provider({"prefix_redirect"}) as provider:
        report = await run_battery(CheckConfig(provider.issuer, PUBLIC_CLIENT, REDIRECT),
                                   navigator=BrowserNavigator(LOGIN))
    assert_only(report, REDIRECT_FLAWS)
    assert_no_secrets(report, provider)
