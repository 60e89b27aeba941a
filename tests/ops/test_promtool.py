"""The Prometheus rules in deploy/prometheus/ are valid and every alert is unit-tested by
``promtool test rules`` (Debian package ``prometheus``): each alert fires in at least one test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted(RULES.glob("*.yml"))
TEST_FILES = sorted((RULES / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = ("promtool is not installed (apt-get install -y --no-install-recommends "
                   "prometheus ships it)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the alert unit tests")
        pytest.skip(message)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)


def test_the_rule_files_are_valid(promtool: str) -> None:
    assert RULE_FILES
    result = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_unit_tests_pass(promtool: str) -> None:
    assert TEST_FILES
    result = run(promtool, "test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_every_alert_fires_in_some_unit_test() -> None:
    alerts = {rule["alert"] for path in RULE_FILES for group in _load(path)["groups"]
              for rule in group["rules"] if "alert" in rule}
    fired = {case["alertname"] for path in TEST_FILES for test in _load(path)["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts
    assert alerts <= fired, f"alerts without a firing test: {sorted(alerts - fired)}"


def test_every_alert_names_a_runbook_that_exists() -> None:
    for path in RULE_FILES:
        for group in _load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                runbook = rule["annotations"]["runbook_url"].split("#", 1)[0]
                assert (ROOT / runbook).is_file(), (rule["alert"], runbook)
                assert rule["labels"]["severity"] in {"page", "ticket"}
