"""``proofkey connector``: what it refuses, in one line and exit code 1 or 2, storing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import ISSUER
from tests.process.conftest import clean_env, run_cli


@pytest.mark.parametrize(("args", "stdin", "says"), [
    (["Bad Name", "--issuer", "https://x.test", "--client-id", "c"], None, "connector names"),
    (["x", "--issuer", "http://x.test", "--client-id", "c"], None, "https"),
    (["x", "--issuer", "https://x.test", "--client-id", "c", "--client-secret-stdin"], "",
     "no client secret"),
    (["x", "--issuer", "https://x.test", "--client-id", "c", "--kind", "oauth2"], None,
     "authorization_endpoint"),
    (["x", "--issuer", "https://x.test", "--client-id", "c", "--scope", "profile"], None,
     "openid"),
])
def test_connector_add_refuses_what_cannot_work(tmp_path: Path, args: list[str],
                                                stdin: str | None, says: str) -> None:
    env = clean_env(tmp_path, issuer=ISSUER)
    done = run_cli(["connector", "add", *args], env, stdin=stdin)
    assert done.returncode in (1, 2)
    assert says in done.stderr + done.stdout
    listed = run_cli(["connector", "list", "--json"], env)
    assert json.loads(listed.stdout) == []


def test_a_name_is_added_once_and_removed_once(tmp_path: Path) -> None:
    env = clean_env(tmp_path, issuer=ISSUER)
    add = ["connector", "add", "corp", "--issuer", "https://x.test", "--client-id", "c"]
    assert run_cli(add, env).returncode == 0
    again = run_cli(add, env)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    assert run_cli(["connector", "remove", "corp"], env).returncode == 0
    gone = run_cli(["connector", "remove", "corp"], env)
    assert gone.returncode == 1
    assert "no connector" in gone.stderr
    assert run_cli(["connector", "show", "corp"], env).returncode == 1
