"""``proofkey client-check`` reports: a table for people, JSON for scripts, JUnit XML for CI
(one test case per check, a failure per finding)."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from proofkey.ops.client_check_grades import CHECKS, Grading

__all__ = ["render"]


def _table(grading: Grading) -> str:
    lines = [f"{'check':<20} {'result':<6} attempt  evidence"]
    for check in grading.checks:
        found = [f for f in grading.findings if f.check == check]
        if not found:
            lines.append(f"{check:<20} {'pass':<6} {'-':<8} {CHECKS[check]}")
        for finding in found:
            attempt = str(finding.attempt) if finding.attempt is not None else "-"
            lines.append(f"{check:<20} {'FAIL':<6} {attempt:<8} {finding.evidence}")
    failed = len({f.check for f in grading.findings})
    lines.append(f"{grading.attempts} attempt(s); {len(grading.checks) - failed} check(s) "
                 f"passed, {failed} failed")
    return "\n".join(lines)


def _json(grading: Grading) -> str:
    return json.dumps({
        "passed": grading.passed,
        "attempts": grading.attempts,
        "checks": [{"id": c, "description": CHECKS[c],
                    "passed": not any(f.check == c for f in grading.findings)}
                   for c in grading.checks],
        "findings": [{"check": f.check, "attempt": f.attempt, "evidence": f.evidence}
                     for f in grading.findings],
    }, indent=2)


def _junit(grading: Grading) -> str:
    suite = ET.Element("testsuite", name="proofkey client-check",
                       tests=str(len(grading.checks)),
                       failures=str(len({f.check for f in grading.findings})))
    for check in grading.checks:
        case = ET.SubElement(suite, "testcase", classname="client-check", name=check)
        found = [f for f in grading.findings if f.check == check]
        if found:
            failure = ET.SubElement(case, "failure", message=CHECKS[check])
            failure.text = "\n".join(
                f"attempt {f.attempt if f.attempt is not None else '-'}: {f.evidence}"
                for f in found)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def render(grading: Grading, fmt: str) -> str:
    return {"table": _table, "json": _json, "junit": _junit}[fmt](grading)
