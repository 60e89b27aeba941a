"""``GET /admin/api/v1/audit`` over HTTP: the console's audit flow (``read_audit``) by API,
newest first, filtered by event and words, in cursor pages that reach past the console's tail;
scope ``audit:read``; a problem when no audit file is configured."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from proofkey.flows.console_audit import read_audit
from proofkey.settings import Settings

from .admin_api import admin_token, conforms, problem, send


def _line(n: int, event: str = "AdminChange", **fields: object) -> str:
    return json.dumps({"ts": f"2026-01-01T00:00:{n:02d}.000Z", "logger": "proofkey.audit",
                       "audit": {"ts": n, "event": event, "subject": f"u-{n}", **fields}})


LINES = [_line(n, "LoginFailed" if n % 3 == 0 else "AdminChange",
               action="user_added" if n % 2 else "user_removed") for n in range(120)]


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "audit" / "audit.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join([LINES[0], "not json", *LINES[1:]]) + "\n")
    return {"audit_log": str(path)}


@pytest.fixture
async def token(settings: Settings) -> str:
    return (await admin_token(settings, ["audit:read"]))[0]


async def _all(http: httpx.AsyncClient, token: str, **params: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    for _ in range(50):
        query = urlencode({**params, **({"cursor": cursor} if cursor else {})})
        answer = await send(http, "GET", "/audit?" + query, token)
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursors never ended")


async def test_lines_come_newest_first_in_pages(http: httpx.AsyncClient, token: str) -> None:
    first = await send(http, "GET", "/audit?limit=10", token)
    assert first.status_code == 200, first.text
    await conforms(http, first, "listAudit")
    assert first.headers["cache-control"] == "no-store"
    subjects = [dict((f["name"], f["value"]) for f in e["fields"]).get("subject")
                for e in first.json()["items"]]
    assert subjects[:3] == ["u-119", "u-118", "u-117"]
    every = await _all(http, token, limit="7")
    seen = [dict((f["name"], f["value"]) for f in e["fields"]).get("subject") for e in every]
    ours = [s for s in seen if s is not None]
    assert ours == [f"u-{n}" for n in reversed(range(120))]  # each once, none skipped


async def test_filters_are_the_consoles(http: httpx.AsyncClient, token: str) -> None:
    failed = await _all(http, token, event="LoginFailed", limit="9")
    assert len(failed) == 40
    assert {e["event"] for e in failed} == {"LoginFailed"}
    words = await _all(http, token, event="AdminChange", q="USER_ADDED u-11")
    assert [e["ts"] for e in words] == [
        "2026-01-01T00:00:119.000Z", "2026-01-01T00:00:115.000Z", "2026-01-01T00:00:113.000Z",
        "2026-01-01T00:00:11.000Z"]


async def test_the_api_call_itself_is_in_the_audit_log(http: httpx.AsyncClient,
                                                       token: str) -> None:
    await send(http, "GET", "/audit", token)
    calls = (await send(http, "GET", "/audit?event=AdminApiCall", token)).json()["items"]
    assert calls
    assert token not in json.dumps(calls)


async def test_a_bad_cursor_or_scope_is_a_problem(http: httpx.AsyncClient, token: str,
                                                  settings: Settings) -> None:
    problem(await send(http, "GET", "/audit?cursor=bm9wZQ", token), 400, "invalid-cursor")
    problem(await send(http, "GET", "/audit?cursor=eyJhZnRlciI6ICJ4In0", token), 400,
            "invalid-cursor")  # {"after": "x"}: not a position
    problem(await send(http, "GET", "/audit?limit=0", token), 400, "invalid-query")
    problem(await send(http, "GET", "/audit?who=me", token), 400, "invalid-query")
    other = (await admin_token(settings, ["clients:read"]))[0]
    problem(await send(http, "GET", "/audit", other), 403, "insufficient-scope")


class TestWithoutAnAuditFile:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"audit_log": ""}

    async def test_it_is_a_problem(self, http: httpx.AsyncClient, token: str) -> None:
        body = problem(await send(http, "GET", "/audit", token), 409, "no-audit-file")
        assert "PROOFKEY_AUDIT_LOG" in body["detail"]


async def test_pages_reach_past_the_tail_a_read_looks_at(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    seen: list[int] = []
    before = None
    for _ in range(200):
        view = await read_audit(audit_log=str(path), data_dir=tmp_path, limit=5,
                                max_bytes=700, before=before)
        seen += [int(dict(e.fields)["subject"][2:]) for e in view.entries]
        before = view.next_before
        if before is None:
            break
    assert seen == list(reversed(range(120)))
