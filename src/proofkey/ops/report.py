"""Render a conformance report: a rich table for people, JSON for programs, JUnit XML for CI
(each check a test case; ``fail`` a failure, ``skip`` skipped, ``warn`` a pass with output).
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .conformance import CheckResult, Report

__all__ = ["Format", "evidence_line", "render", "to_json", "to_junit", "to_table"]

Format = Literal["table", "json", "junit"]
_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def evidence_line(result: CheckResult) -> str:
    return "; ".join(f"{k}={v}" for k, v in result.evidence.items())


def to_table(report: Report) -> Table:
    counts = report.counts()
    table = Table(title=f"proofkey check: {report.issuer} (client {report.client_id})",
                  caption=f"{counts['pass']} passed, {counts['fail']} failed, "
                          f"{counts['warn']} warnings, {counts['skip']} skipped "
                          f"in {report.seconds:.1f} s",
                  show_lines=False, expand=False)
    table.add_column("result", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("spec", overflow="fold")
    table.add_column("evidence", overflow="fold")
    for r in report.results:
        table.add_row(Text(r.result.upper(), style=_STYLE[r.result]), r.id, r.rfc,
                      Text(evidence_line(r)))
    return table


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def to_junit(report: Report) -> str:
    counts = report.counts()
    suites = ET.Element("testsuites", name="proofkey check")
    suite = ET.SubElement(suites, "testsuite", {
        "name": f"proofkey check {report.issuer}", "tests": str(len(report.results)),
        "failures": str(counts["fail"]), "errors": "0", "skipped": str(counts["skip"]),
        "time": f"{report.seconds:.3f}"})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("issuer", report.issuer), ("client_id", report.client_id),
                        ("redirect_uri", report.redirect_uri)):
        ET.SubElement(properties, "property", name=name, value=value)
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"proofkey.check.{r.id.split('.')[0]}", "name": r.id,
            "time": f"{r.seconds:.3f}"})
        detail = f"{r.title} ({r.rfc})\n{evidence_line(r)}"
        if r.result == "fail":
            ET.SubElement(case, "failure", message=f"{r.id}: {evidence_line(r)}",
                          type="conformance").text = detail
        elif r.result == "skip":
            ET.SubElement(case, "skipped", message=evidence_line(r))
        else:
            ET.SubElement(case, "system-out").text = f"{r.result.upper()}: {detail}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render(report: Report, fmt: Format | str, console: Console | None = None) -> str:
    """The report as text in ``fmt`` (the table as plain text, sized for ``console``)."""
    if fmt == "json":
        return to_json(report) + "\n"
    if fmt == "junit":
        return to_junit(report)
    console = console or Console(width=160, no_color=True, file=io.StringIO())
    with console.capture() as capture:
        console.print(to_table(report))
    return capture.get()
