"""The ``proofkey_test_server`` pytest fixture, in a pytest run of its own (pytester): an app
that signs in well passes ``assert_passed()``; one with plain PKCE fails it with the report;
a verifier reused by a later test of the same session fails there."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
pytest_plugins = ["proofkey.testing.pytest_plugin"]
'''

APP = '''
import asyncio
import json

import httpx
import pytest

from proofkey.ops.login_driver import FormNavigator, LoginSettings
from proofkey.protocol import pkce
from proofkey.sdk import OAuthClient, OAuthClientError

FIXED = pkce.new_verifier()


def sign_in(server, url):
    """The person: sign in and consent through the server's forms."""
    async def run():
        async with httpx.AsyncClient() as http:
            outcome = await FormNavigator(
                http, LoginSettings(server.username, server.password)).authorize(
                url, lambda target: not target.startswith(server.issuer + "/"))
        return outcome.redirect
    return asyncio.run(run())


def the_app_signs_in(server, **extra):
    with OAuthClient(server.issuer, server.client_id, server.redirect_uri,
                     scope="openid offline_access") as client:
        request = client.authorization_request()
        url = request.url
        for name, value in extra.items():
            url = url + f"&{name}={value}"
        try:
            tokens = client.complete(sign_in(server, url), request)
        except OAuthClientError:
            return False
        client.refresh(tokens.refresh_token)
        return True


def test_the_app_passes(proofkey_test_server):
    server = proofkey_test_server
    results = [the_app_signs_in(server) for _ in range(server.attempts)]
    assert results == [True, False, False, False]  # the mix-up, error and redirect attempts
    server.assert_passed()
    assert json.loads(server.report("json"))["passed"] is True  # grading again: the same
    assert server.grading().passed


@pytest.mark.proofkey_client_check(attempts=2, mixup_attempt=0, error_attempt=0,
                                   redirect_attempt=0)
def test_the_marker_sets_the_options(proofkey_test_server):
    assert proofkey_test_server.env["PROOFKEY_TEST_ATTEMPTS"] == "2"
    assert the_app_signs_in(proofkey_test_server)
    assert the_app_signs_in(proofkey_test_server)
    proofkey_test_server.assert_passed()


@pytest.mark.proofkey_client_check(attempts=1)
def test_a_broken_app_fails(proofkey_test_server):
    server = proofkey_test_server
    verifier = pkce.new_verifier()
    sign_in(server, f"{server.issuer}/authorize?response_type=code&client_id={server.client_id}"
                    f"&redirect_uri={server.redirect_uri}&scope=openid&state={pkce.new_verifier()}"
                    f"&nonce={pkce.new_verifier()}&code_challenge={verifier}"
                    "&code_challenge_method=plain")
    server.assert_passed()
'''


def test_the_fixture_grades_the_app_and_fails_a_broken_one(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_app=APP)
    result = pytester.runpytest_subprocess("-p", "no:proofkey", "-p", "no:randomly",
                                           "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: proofkey client-check failed:*",
        "*pkce-s256 * FAIL * 1 * code_challenge_method=plain*",
    ])


def test_a_verifier_reused_in_a_later_test_of_the_session_fails(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_app='''
import httpx
import pytest

from proofkey.protocol import pkce

VERIFIER = pkce.new_verifier()


@pytest.mark.parametrize("run", [1, 2])
@pytest.mark.proofkey_client_check(attempts=1)
def test_sign_in(proofkey_test_server, run):
    url = (f"{proofkey_test_server.issuer}/authorize?response_type=code&scope=openid"
           f"&client_id={proofkey_test_server.client_id}"
           f"&redirect_uri={proofkey_test_server.redirect_uri}&state={'s' * 20}{run}x"
           f"Q9v2Lk8Rt3Wz7Yb&nonce=n{run}&code_challenge_method=S256"
           f"&code_challenge={pkce.challenge_s256(VERIFIER)}")
    httpx.get(url)
    proofkey_test_server.assert_passed()
''')
    result = pytester.runpytest_subprocess("-p", "no:proofkey", "-p", "no:randomly",
                                           "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*challenge-fresh * FAIL * 1 * was sent in an earlier run*"])


def test_an_unknown_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_app='''
import pytest


@pytest.mark.proofkey_client_check(attemps=1)
def test_it(proofkey_test_server):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:proofkey", "-p", "no:randomly",
                                           timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) attemps*"])
