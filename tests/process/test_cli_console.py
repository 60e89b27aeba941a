"""``proofkey user set NAME --role`` and ``user add --role``: who may enter the operator
console, changed from the command line and audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.process.conftest import clean_env, run_cli
from tests.process.test_cli import CLI_PASSWORD, get_user, ok


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_a_role_is_given_on_add_or_set_and_listed(env: dict[str, str], data_dir: Path) -> None:
    ok(run_cli(["user", "add", "root", "--password-stdin", "--role", "admin"], env,
               stdin=CLI_PASSWORD + "\n"))
    ok(run_cli(["user", "add", "ada", "--password-stdin"], env, stdin=CLI_PASSWORD + "\n"))
    listed = json.loads(ok(run_cli(["user", "list", "--json"], env)).stdout)
    assert {u["username"]: u["role"] for u in listed} == {"ada": "user", "root": "admin"}

    assert "ada now has the role admin" in ok(
        run_cli(["user", "set", "ada", "--role", "admin"], env)).stdout
    assert get_user(data_dir, "ada").role == "admin"  # type: ignore[union-attr]
    ok(run_cli(["user", "set", "root", "--role", "user"], env))
    assert get_user(data_dir, "root").role == "user"  # type: ignore[union-attr]
    audit = (data_dir / "audit.log").read_text()
    assert audit.count('"action":"role_changed"') == 3

    assert run_cli(["user", "set", "nobody", "--role", "admin"], env).returncode == 1
    assert run_cli(["user", "set", "ada", "--role", "owner"], env).returncode == 2
    assert run_cli(["user", "add", "eve", "--password-stdin", "--role", "owner"], env,
                   stdin=CLI_PASSWORD + "\n").returncode == 2
