"""``proofkey client-check`` reports: a table for people, JSON for scripts, JUnit XML for CI
(one test case per check, a failure per finding) and SARIF 2.1.0 for code-scanning dashboards
(one rule per check, a result per finding with its attempt and evidence)."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from proofkey.ops.client_check_grades import CHECKS, Grading

__all__ = ["FORMATS", "render"]

FORMATS = ("table", "json", "junit", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _table(grading: Grading) -> str:
    lines = [f"{'check':<22} {'result':<6} attempt  evidence"]
    for check in grading.checks:
        found = [f for f in grading.findings if f.check == check]
        if not found:
            lines.append(f"{check:<22} {'pass':<6} {'-':<8} {CHECKS[check]}")
        for finding in found:
            attempt = str(finding.attempt) if finding.attempt is not None else "-"
            lines.append(f"{check:<22} {'FAIL':<6} {attempt:<8} {finding.evidence}")
    lines += [f"{check:<22} {'skip':<6} {'-':<8} {why}" for check, why in grading.skipped]
    failed = len({f.check for f in grading.findings})
    lines.append(f"{grading.attempts} attempt(s); {len(grading.checks) - failed} check(s) "
                 f"passed, {failed} failed, {len(grading.skipped)} skipped")
    return "\n".join(lines)


def _json(grading: Grading) -> str:
    return json.dumps({
        "passed": grading.passed,
        "attempts": grading.attempts,
        "checks": [{"id": c, "description": CHECKS[c],
                    "passed": not any(f.check == c for f in grading.findings)}
                   for c in grading.checks],
        "skipped": [{"id": c, "description": CHECKS[c], "reason": why}
                    for c, why in grading.skipped],
        "findings": [{"check": f.check, "attempt": f.attempt, "evidence": f.evidence}
                     for f in grading.findings],
    }, indent=2)


def _junit(grading: Grading) -> str:
    suite = ET.Element("testsuite", name="proofkey client-check",
                       tests=str(len(grading.checks) + len(grading.skipped)),
                       failures=str(len({f.check for f in grading.findings})),
                       skipped=str(len(grading.skipped)))
    for check in grading.checks:
        case = ET.SubElement(suite, "testcase", classname="client-check", name=check)
        found = [f for f in grading.findings if f.check == check]
        if found:
            failure = ET.SubElement(case, "failure", message=CHECKS[check])
            failure.text = "\n".join(
                f"attempt {f.attempt if f.attempt is not None else '-'}: {f.evidence}"
                for f in found)
    for check, why in grading.skipped:
        case = ET.SubElement(suite, "testcase", classname="client-check", name=check)
        ET.SubElement(case, "skipped", message=why)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _sarif(grading: Grading) -> str:
    """SARIF 2.1.0: every check is a rule (``ruleIndex`` into ``tool.driver.rules``); a
    finding is an ``error`` result whose logical location is the attempt; the checks that ran
    and passed are listed in the run's properties, the skipped ones with their reason."""
    rules = list(CHECKS)
    results = []
    for finding in grading.findings:
        where = f"attempt {finding.attempt}" if finding.attempt is not None else "run"
        results.append({
            "ruleId": finding.check, "ruleIndex": rules.index(finding.check), "level": "error",
            "message": {"text": f"{CHECKS[finding.check]}: {finding.evidence}"},
            "locations": [{"logicalLocations": [{"name": where, "kind": "module"}]}],
            "properties": {"attempt": finding.attempt, "evidence": finding.evidence},
        })
    failed = {f.check for f in grading.findings}
    run = {
        "tool": {"driver": {
            "name": "proofkey client-check",
            "rules": [{"id": check, "name": check, "shortDescription": {"text": text},
                       "help": {"text": "See docs/client-check.md, the checks table."},
                       "defaultConfiguration": {"level": "error"}}
                      for check, text in CHECKS.items()]}},
        "invocations": [{"executionSuccessful": True}],
        "results": results,
        "properties": {"attempts": grading.attempts, "passed": grading.passed,
                       "checksPassed": [c for c in grading.checks if c not in failed],
                       "checksSkipped": [{"id": c, "reason": why} for c, why in grading.skipped]},
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


def render(grading: Grading, fmt: str) -> str:
    """The report in ``fmt``, one of ``FORMATS``."""
    return {"table": _table, "json": _json, "junit": _junit, "sarif": _sarif}[fmt](grading)
