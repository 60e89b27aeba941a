"""Every query in deploy/grafana/ and deploy/prometheus/ names only metrics and labels the server
really exports (or that a recording rule produces): the app runs a mix of flows, /metrics is
scraped, and the PromQL is checked against what came back.

The PromQL reading is deliberately simple (regular expressions): selectors ``name{l="v"}``,
grouping clauses ``by (…)`` / ``on (…)``, and bare identifiers that are not functions or
keywords. Recording rules export the labels of their outermost ``by (…)`` (minus ``le`` after
``histogram_quantile``); Prometheus adds the target labels ``job`` and ``instance``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from proofkey.protocol import pkce
from tests.helpers import (
    WEB_ID,
    WEB_REDIRECT,
    authorize_params,
    exchange,
    get_code,
    new_flow,
)
from tests.observability.scrape import quiet_test_client

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RULE_FILES = sorted((ROOT / "deploy" / "prometheus").glob("*.yml"))
TARGET_LABELS = frozenset({"job", "instance"})
KEYWORDS = frozenset({
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan", "le",
})
_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(rf"({_IDENT})?\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


@dataclass
class Query:
    """What one PromQL expression references."""

    where: str
    metrics: set[str] = field(default_factory=set)
    selector_labels: list[tuple[str, str]] = field(default_factory=list)  # (metric, label)
    grouping_labels: set[str] = field(default_factory=set)


def read(expr: str, where: str) -> Query:
    query = Query(where)
    for name, body in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(_STRING.sub('""', body)):
            query.selector_labels.append((name, label))
    text = _STRING.sub('""', expr)
    for _, labels in _GROUPING.findall(text):
        query.grouping_labels |= {x.strip() for x in labels.split(",") if x.strip()}
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    for match in re.finditer(rf"(?<![\w.])({_IDENT})(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS or re.fullmatch(r"\d+(e\d+)?", name):
            continue
        query.metrics.add(name)
    query.metrics |= {name for name, _ in query.selector_labels if name}
    return query


def dashboard_queries() -> Iterator[Query]:
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield read(target["expr"], f"{path.name}: {panel['title']}")
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                                             variable["definition"]).groups()  # type: ignore[union-attr]
                yield Query(f"{path.name}: ${variable['name']}", {metric}, [(metric, label)])


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]]


def recorded_labels() -> dict[str, set[str]]:
    """Each recording rule's name and the labels its series carry."""
    out = {}
    for rule in rules():
        if "record" not in rule:
            continue
        grouping = _GROUPING.search(_STRING.sub('""', rule["expr"]))
        labels = {x.strip() for x in grouping.group(2).split(",")} if grouping else set()
        if rule["expr"].lstrip().startswith("histogram_quantile"):
            labels.discard("le")
        out[rule["record"]] = labels
    return out


async def drive_every_family(http: httpx.AsyncClient, web_secret: str) -> None:
    """One of everything, so every metric family has samples with all its labels."""
    flow = new_flow()
    tokens = (await exchange(http, flow, await get_code(http, flow))).json()
    await http.post("/token", data={"grant_type": "refresh_token", "client_id": flow.client_id,
                                    "refresh_token": tokens["refresh_token"]})
    wrong = new_flow()
    await exchange(http, wrong, await get_code(http, wrong), code_verifier=pkce.new_verifier())
    await http.get("/authorize", params=authorize_params(new_flow(), code_challenge=None))
    await http.get("/authorize", params=authorize_params(flow))  # a reused challenge
    web = new_flow(WEB_ID, WEB_REDIRECT)
    response = await http.post("/token", auth=(WEB_ID, web_secret), data={
        "grant_type": "authorization_code", "code": await get_code(http, web),
        "redirect_uri": WEB_REDIRECT, "code_verifier": web.verifier})
    await http.post("/revoke", auth=(WEB_ID, web_secret),
                    data={"token": response.json()["refresh_token"]})
    account = await http.get("/account")
    csrf = re.search(r'name="csrf" value="([^"]+)"', account.text)
    assert csrf
    await http.post("/account/login", data={"csrf": csrf.group(1), "username": "alice",
                                            "password": "wrong password"})
    logging.getLogger("proofkey.test").info("masked on purpose: %s", pkce.new_verifier())


@pytest.fixture
async def exported(http: httpx.AsyncClient, web_secret: str) -> dict[str, set[str]]:
    """Sample name → label names, from a real scrape after a mix of flows."""
    await drive_every_family(http, web_secret)
    text = (await http.get("/metrics")).text
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        name = name.split()[0]
        labels = set(re.findall(r'([a-zA-Z_]\w*)="', rest.rpartition("}")[0])) if rest else set()
        out.setdefault(name, set()).update(labels)
    return out


def test_the_dashboards_exist_and_parse() -> None:
    names = {path.stem for path in DASHBOARDS}
    assert names == {"proofkey-executive", "proofkey-oncall", "proofkey-debug"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] == path.stem
        assert [p for p in board["panels"] if p["type"] != "row"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))


def test_the_query_reader_finds_metrics_and_labels() -> None:
    query = read('sum by (client_id) (rate(a_total{outcome!="x", g=~"$v"}[5m])) / '
                 'sum(rate(b:c:d[1h])) and on (job) histogram_quantile(0.9, e_bucket)', "t")
    assert query.metrics == {"a_total", "b:c:d", "e_bucket"}
    assert query.selector_labels == [("a_total", "outcome"), ("a_total", "g")]
    assert query.grouping_labels == {"client_id", "job"}


async def test_every_query_uses_only_exported_metrics_and_labels(
        exported: dict[str, set[str]]) -> None:
    recorded = recorded_labels()
    known: dict[str, set[str]] = {**exported, **recorded}
    queries = list(dashboard_queries())
    queries += [read(rule["expr"], rule.get("record") or rule["alert"]) for rule in rules()]
    assert len(queries) > 40
    problems = []
    for query in queries:
        for metric in query.metrics:
            if metric not in known:
                problems.append(f"{query.where}: unknown metric {metric}")
        for metric, label in query.selector_labels:
            if metric in known and label not in known[metric] | TARGET_LABELS:
                problems.append(f"{query.where}: {metric} has no label {label}")
        available = set().union(*(known.get(m, set()) for m in query.metrics)) | TARGET_LABELS
        for label in query.grouping_labels - available:
            problems.append(f"{query.where}: grouping by {label}, which none of "
                            f"{sorted(query.metrics)} has")
    assert not problems, "\n".join(problems)
    # And the six SLIs are all on the on-call dashboard.
    oncall = " ".join(t["expr"] for p in json.loads(
        (ROOT / "deploy/grafana/proofkey-oncall.json").read_text())["panels"]
        for t in p.get("targets", []))
    for sli in ("token_exchange", "pkce_verifier_mismatch", "auth_start_duration",
                "authorization_missing_challenge", "auth_errors", "log_redactions"):
        assert sli in oncall, sli


__all__ = ["quiet_test_client"]
