"""``proofkey client add|set --require-dpop``: a client that must send DPoP proofs (RFC 9449
§5.2), shown by ``client show`` and turned off again with ``--allow-bearer``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.process.conftest import clean_env, run_cli
from tests.process.test_cli import get_client, ok

REDIRECT = "https://rp.example/cb"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_add_require_dpop_stores_and_shows_the_flag(env: dict[str, str],
                                                    data_dir: Path) -> None:
    added = json.loads(ok(run_cli(["client", "add", "app", "--redirect-uri", REDIRECT,
                                   "--require-dpop", "--json"], env)).stdout)
    assert added["require_dpop"] is True
    stored = get_client(data_dir, "app")
    assert stored is not None
    assert stored.require_dpop
    ok(run_cli(["client", "add", "other", "--redirect-uri", REDIRECT], env))
    other = get_client(data_dir, "other")
    assert other is not None
    assert not other.require_dpop


def test_set_turns_require_dpop_on_and_off_and_changes_nothing_else(
        env: dict[str, str], data_dir: Path) -> None:
    ok(run_cli(["client", "add", "app", "--redirect-uri", REDIRECT], env))
    before = get_client(data_dir, "app")
    assert before is not None
    out = ok(run_cli(["client", "set", "app", "--require-dpop"], env)).stdout
    assert "require_dpop=true" in out
    assert get_client(data_dir, "app") == replace(before, require_dpop=True, version=1)
    ok(run_cli(["client", "set", "app", "--allow-bearer"], env))
    assert get_client(data_dir, "app") == replace(before, version=2)  # every update counts
