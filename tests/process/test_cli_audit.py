"""Administrative changes leave one JSON audit line each on stderr; secrets never appear."""

from __future__ import annotations

import json
from pathlib import Path

from tests.process.conftest import clean_env, run_cli


def _audit_lines(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line["audit"] for line in lines if line.get("logger") == "proofkey.audit"]  # type: ignore[misc]


def test_client_user_and_key_changes_are_audited_without_secrets(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    added = run_cli(["client", "add", "svc", "--confidential", "--redirect-uri",
                     "https://svc.example/cb", "--json"], env)
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["client_secret"]
    assert secret not in added.stderr
    assert _audit_lines(added.stderr) == [
        {**_audit_lines(added.stderr)[0], "action": "client_registered", "subject": "svc"}]

    password = "a long enough password"
    user = run_cli(["user", "add", "bob", "--password-stdin"], env, stdin=password + "\n")
    assert password not in user.stderr
    assert [a["action"] for a in _audit_lines(user.stderr)] == ["user_added"]

    rotated = run_cli(["keys", "rotate"], env)
    assert [a["action"] for a in _audit_lines(rotated.stderr)] == ["keys_rotated"]

    removed = run_cli(["client", "remove", "svc"], env)
    assert [(a["action"], a["subject"]) for a in _audit_lines(removed.stderr)] == [
        ("client_removed", "svc")]
