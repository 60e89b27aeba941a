"""``proofkey client add --resource-server`` marks a client that may introspect other clients'
access tokens (RFC 7662 §4); ``client list`` and ``client show`` say which clients are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.process.conftest import clean_env, run_cli
from tests.process.test_cli import get_client, ok


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_a_confidential_client_is_added_as_a_resource_server_and_shown_as_one(
        env: dict[str, str], data_dir: Path) -> None:
    added = json.loads(ok(run_cli(["client", "add", "api", "--confidential", "--grant-type",
                                   "client_credentials", "--resource-server", "--json"],
                                  env)).stdout)
    assert added["resource_server"] is True
    stored = get_client(data_dir, "api")
    assert stored is not None
    assert stored.resource_server is True
    ok(run_cli(["client", "add", "web", "--confidential", "--redirect-uri",
                "https://app.example.com/cb"], env))
    shown = json.loads(ok(run_cli(["client", "show", "web", "--json"], env)).stdout)
    assert shown["resource_server"] is False
    listed = json.loads(ok(run_cli(["client", "list", "--json"], env)).stdout)
    assert {c["client_id"]: c["resource_server"] for c in listed} == {"api": True,
                                                                     "web": False}
    table = ok(run_cli(["client", "list"], env)).stdout
    assert "resource_server" in table


def test_a_public_client_cannot_be_a_resource_server(env: dict[str, str],
                                                     data_dir: Path) -> None:
    refused = run_cli(["client", "add", "spa", "--public", "--redirect-uri",
                       "https://spa.example.com/cb", "--resource-server"], env)
    assert refused.returncode == 1
    assert "resource server" in refused.stderr
    assert "confidential" in refused.stderr
    assert get_client(data_dir, "spa") is None
