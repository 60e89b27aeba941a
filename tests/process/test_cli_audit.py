"""Administrative changes leave one JSON audit line each in the audit log (PROOFKEY_AUDIT_LOG,
else <data_dir>/audit.log), 0600; the terminal gets a sentence; secrets never appear."""

from __future__ import annotations

import json
from pathlib import Path

from tests.process.conftest import clean_env, run_cli


class AuditFile:
    """The audit lines a file gained since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def new(self) -> list[dict[str, object]]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        fresh, self.seen = lines[self.seen:], len(lines)
        records = [json.loads(line) for line in fresh]
        assert all(r["logger"] == "proofkey.audit" for r in records)
        return [r["audit"] for r in records]


def test_client_user_and_key_changes_are_audited_without_secrets(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    audit = AuditFile(tmp_path / "data" / "audit.log")
    added = run_cli(["client", "add", "svc", "--confidential", "--redirect-uri",
                     "https://svc.example/cb", "--json"], env)
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["client_secret"]
    assert "{" not in added.stderr  # no JSON log line on the terminal
    lines = audit.new()
    assert lines == [{**lines[0], "action": "client_registered", "subject": "svc"}]
    assert audit.path.stat().st_mode & 0o777 == 0o600

    password = "a long enough password"
    user = run_cli(["user", "add", "bob", "--password-stdin"], env, stdin=password + "\n")
    assert user.returncode == 0, user.stderr
    assert "{" not in user.stderr
    assert "bob" in user.stdout  # a sentence for the person at the terminal
    assert [a["action"] for a in audit.new()] == ["user_added"]

    rotated = run_cli(["keys", "rotate"], env)
    assert [a["action"] for a in audit.new()] == ["keys_rotated"]
    assert "{" not in rotated.stderr

    removed = run_cli(["client", "remove", "svc"], env)
    assert [(a["action"], a["subject"]) for a in audit.new()] == [("client_removed", "svc")]
    assert "removed client svc" in removed.stdout
    text = audit.path.read_text()
    assert secret not in text
    assert password not in text


def test_the_audit_log_setting_moves_the_lines(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "proofkey-audit.jsonl"
    env = clean_env(tmp_path / "data", PROOFKEY_AUDIT_LOG=str(target))
    added = run_cli(["client", "add", "svc", "--public", "--redirect-uri",
                     "http://127.0.0.1/cb"], env)
    assert added.returncode == 0, added.stderr
    assert [a["action"] for a in AuditFile(target).new()] == ["client_registered"]
    assert not (tmp_path / "data" / "audit.log").exists()
