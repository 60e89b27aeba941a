"""``proofkey client add --reject-reused-challenge`` (or ``client set`` on an existing client)
flags a client whose reused code_challenge is refused; ``client show`` says so, and a running
server refuses the reuse for that client only, counting both."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers import authorize_params, new_flow
from tests.process.conftest import clean_env, run_cli, running_server
from tests.process.test_cli import get_client, ok

REDIRECT = "http://127.0.0.1/cb"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_the_flag_is_set_at_registration_and_shown(env: dict[str, str],
                                                   data_dir: Path) -> None:
    added = json.loads(ok(run_cli(["client", "add", "strict", "--redirect-uri", REDIRECT,
                                   "--reject-reused-challenge", "--json"], env)).stdout)
    assert added["reject_reused_challenge"] is True
    stored = get_client(data_dir, "strict")
    assert stored is not None
    assert stored.reject_reused_challenge is True
    ok(run_cli(["client", "add", "lenient", "--redirect-uri", REDIRECT], env))
    shown = json.loads(ok(run_cli(["client", "show", "lenient", "--json"], env)).stdout)
    assert shown["reject_reused_challenge"] is False
    table = ok(run_cli(["client", "show", "strict"], env)).stdout
    assert "reject_reused_challenge" in table
    assert "--reject-reused-challenge" in ok(run_cli(["client", "add", "--help"], env)).stdout


def test_the_flag_is_changed_on_an_existing_client_and_nothing_else_is(
        env: dict[str, str], data_dir: Path) -> None:
    ok(run_cli(["client", "add", "web", "--confidential", "--redirect-uri",
                "https://app.example.com/cb", "--name", "Web"], env))
    before = get_client(data_dir, "web")
    assert before is not None
    assert "reject_reused_challenge=true" in ok(run_cli(
        ["client", "set", "web", "--reject-reused-challenge"], env)).stdout
    after = get_client(data_dir, "web")
    assert after == replace(before, reject_reused_challenge=True, version=1)  # secret stays
    shown = json.loads(ok(run_cli(["client", "set", "web", "--allow-reused-challenge",
                                   "--json"], env)).stdout)
    assert shown["reject_reused_challenge"] is False
    assert get_client(data_dir, "web") == replace(before, version=2)
    missing = run_cli(["client", "set", "nobody", "--reject-reused-challenge"], env)
    assert missing.returncode == 1
    assert "no client 'nobody'" in missing.stderr
    nothing = run_cli(["client", "set", "web"], env)
    assert nothing.returncode != 0
    assert "nothing to change" in nothing.stderr


def test_a_running_server_refuses_the_flagged_clients_reuse_only(env: dict[str, str],
                                                                 data_dir: Path) -> None:
    ok(run_cli(["client", "add", "strict", "--redirect-uri", REDIRECT,
                "--reject-reused-challenge"], env))
    ok(run_cli(["client", "add", "lenient", "--redirect-uri", REDIRECT], env))
    strict, lenient = new_flow("strict", REDIRECT), new_flow("lenient", REDIRECT)
    with running_server(data_dir) as server, httpx.Client(base_url=server.base_url) as http:
        answers = {name: [http.get("/authorize", params=authorize_params(flow))
                          for _ in range(2)] for name, flow in (("strict", strict),
                                                                ("lenient", lenient))}
        metrics = http.get("/metrics").text
    for name in ("strict", "lenient"):
        assert answers[name][0].status_code == 303
        assert answers[name][0].headers["location"].startswith("/interaction/")
    assert answers["lenient"][1].headers["location"].startswith("/interaction/")
    refused = urlsplit(answers["strict"][1].headers["location"])
    query = {k: v[0] for k, v in parse_qs(refused.query).items()}
    assert f"{refused.scheme}://{refused.netloc}{refused.path}" == REDIRECT
    assert query["error"] == "invalid_request"
    assert query["state"] == strict.state
    assert 'proofkey_pkce_challenge_reuse_total{client_id="strict"} 1.0' in metrics
    assert 'proofkey_pkce_challenge_reuse_total{client_id="lenient"} 1.0' in metrics
    assert strict.challenge not in metrics
