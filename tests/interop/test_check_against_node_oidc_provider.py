"""`proofkey check` run against node-oidc-provider (the certified reference server).

The battery must finish against a provider that is not proofkey and report what it really
does: this test records the table (in test-artifacts/) and pins the verdicts that matter for
PKCE. node-oidc-provider is configured here with PKCE required, as OAuth 2.1 asks.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import (
    PASSWORD,
    USERNAME,
    ensure_node_packages,
    running_node_oidc_provider,
)
from tests.process.conftest import PROOFKEY

pytestmark = pytest.mark.interop


def test_check_runs_against_node_oidc_provider_and_reports_what_it_does(
    tmp_path: Path, artifacts: Path,
) -> None:
    node = ensure_node_packages()
    with running_node_oidc_provider(node, tmp_path) as provider:
        report = tmp_path / "report.json"
        args = ["check", "--issuer", provider.issuer, "--client-id", provider.client_id,
                "--redirect-uri", "http://127.0.0.1/callback", "--scope", "openid",
                "--username", USERNAME, "--password-stdin", "--format", "json",
                "--output", str(report)]
        table = subprocess.run([PROOFKEY, *args[:-4], "--format", "table"],
                               input=PASSWORD + "\n", capture_output=True, text=True,
                               timeout=120, check=False)
        (artifacts / "check-node-oidc-provider.txt").write_text(table.stdout + table.stderr)
        run = subprocess.run([PROOFKEY, *args], input=PASSWORD + "\n", capture_output=True,
                             text=True, timeout=120, check=False)
    assert report.exists(), run.stderr
    results = {r["id"]: r["result"] for r in json.loads(report.read_text())["checks"]}
    # The battery got through a real foreign provider: signed in, redeemed, probed PKCE.
    assert results["metadata.discovery"] == "pass"
    assert results["flow.baseline"] == "pass", table.stdout
    for check_id in ("pkce.challenge_required", "pkce.plain_refused",
                     "token.wrong_verifier_refused", "code.replay_refused",
                     "code.concurrent_single_winner", "authz.iss_present"):
        assert results[check_id] == "pass", (check_id, table.stdout)
    assert PASSWORD not in table.stdout + run.stdout
