"""pytest plugin: the ``proofkey_test_server`` fixture, ``proofkey client-check`` for a Python
app's own test suite.

The fixture starts the strict, recording test server (see ``docs/client-check.md``) and yields
a ``ProofkeyTestServer``: the app under test signs in with its ``issuer``, ``client_id``,
``redirect_uri``, ``username`` and ``password``; ``assert_passed()`` then grades what the app
sent and fails the test with the report. Options of ``proofkey client-check`` are set per test
with a marker::

    @pytest.mark.proofkey_client_check(attempts=1, mixup_attempt=0, error_attempt=0,
                                        redirect_attempt=0, profile="fapi2")

Challenges are remembered across the tests of one pytest session (a reused one fails in the
later test). This module imports nothing heavy: the server is imported when the fixture runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from proofkey.cli.client_check_session import StrictServer
    from proofkey.ops.client_check_grades import Grading

__all__ = ["ProofkeyTestServer", "proofkey_test_server"]

MARKER = "proofkey_client_check"


class ProofkeyTestServer:
    """A running strict test server, seen from the test."""

    def __init__(self, server: StrictServer) -> None:
        self._server = server
        self.issuer = server.issuer
        self.client_id = server.client_id
        self.redirect_uri = server.redirect_uri
        self.username = server.username
        self.password = server.password
        self.attempts = server.options.attempts

    def __repr__(self) -> str:
        return f"ProofkeyTestServer(issuer={self.issuer!r}, client_id={self.client_id!r})"

    @property
    def env(self) -> dict[str, str]:
        """The ``PROOFKEY_TEST_*`` variables, for an app started as a subprocess."""
        return self._server.env()

    def grading(self) -> Grading:
        """Grade what the app sent so far (its challenges join the session's memory)."""
        grading, _warning = self._server.grade()
        return grading

    def report(self, fmt: str = "table") -> str:
        """The report of ``grading()`` in ``fmt``: table, json, junit or sarif."""
        from proofkey.ops.client_check_report import render

        return render(self.grading(), fmt)

    def assert_passed(self) -> None:
        """Fail the test, with the table report, unless every check passed."""
        from proofkey.ops.client_check_report import render

        grading = self.grading()
        if not grading.passed:
            raise AssertionError("proofkey client-check failed:\n" + render(grading, "table"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**options): options of the proofkey_test_server fixture "
                   "(attempts, profile, require_par, auto_approve, mixup_attempt, "
                   "error_attempt, redirect_attempt)")


@pytest.fixture
def proofkey_test_server(request: pytest.FixtureRequest,
                         tmp_path_factory: pytest.TempPathFactory,
                         ) -> Iterator[ProofkeyTestServer]:
    """A strict proofkey on loopback that records and grades the app under test."""
    from proofkey.cli.client_check_session import Options, strict_server
    from proofkey.ops.client_check_profiles import PROFILES

    marker = request.node.get_closest_marker(MARKER)
    chosen: dict[str, Any] = dict(marker.kwargs) if marker else {}
    known = {f.name for f in fields(Options)} - {"state"}
    if unknown := set(chosen) - known:
        raise pytest.UsageError(f"{MARKER}: unknown option(s) {', '.join(sorted(unknown))}")
    if chosen.get("profile", "oauth2.1") not in PROFILES:
        raise pytest.UsageError(f"{MARKER}: profile must be one of {', '.join(PROFILES)}")
    state = tmp_path_factory.getbasetemp() / "proofkey-client-check.state"
    with strict_server(Options(**chosen, state=state)) as server:
        yield ProofkeyTestServer(server)
