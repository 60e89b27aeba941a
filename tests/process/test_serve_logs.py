"""``proofkey serve`` writes its log from a writer thread (issue #16): a clean stop (SIGTERM)
still gets every audit line out, on stderr or in the audit file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.process.conftest import STOPPED_BY_SIGTERM, start_server

REQUESTS = 40


def audit_events(text: str) -> list[str]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]
    return [str(line["audit"]["event"]) for line in lines if line["logger"] == "proofkey.audit"]


@pytest.mark.parametrize("to_file", [False, True], ids=["stderr", "audit-file"])
def test_every_audit_line_is_written_by_a_clean_stop(tmp_path: Path, to_file: bool) -> None:
    audit_file = tmp_path / "audit.jsonl"
    server = start_server(tmp_path / "data",
                          settings={"audit_log": str(audit_file)} if to_file else None)
    try:
        with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
            for i in range(REQUESTS):
                refused = http.post("/token", data={
                    "grant_type": "authorization_code", "code": f"code-{i}",
                    "client_id": f"nobody-{i}", "code_verifier": "v" * 43,
                    "redirect_uri": "https://nowhere.example/cb"})
                assert refused.status_code in (400, 401), refused.text
    finally:
        assert server.stop() in STOPPED_BY_SIGTERM, server.output()
    text = audit_file.read_text() if to_file else server.output()
    assert audit_events(text).count("TokenExchangeFailed") == REQUESTS, server.output()
    assert "dropped" not in server.output()
    # uvicorn's last lines come after the app's shutdown stopped the writer: written directly.
    messages = [json.loads(line).get("msg") for line in server.output().splitlines()
                if line.startswith('{"ts"')]
    assert messages[-2] == "Application shutdown complete."
    assert str(messages[-1]).startswith("Finished server process")

