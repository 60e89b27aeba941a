"""`proofkey login|token|logout` against a real server: the RFC 8252 loopback flow end to end."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.sdk.dpop import read_key
from tests.helpers import play_the_person
from tests.process.conftest import (
    PROOFKEY,
    ServerProcess,
    running_server,
    seed,
    userinfo_as_the_cli,
)

USER, PASSWORD = "ada", "analytical engine 1843"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("login") / "data"
    seed(data_dir, public_clients={"proofkey-cli": ["http://127.0.0.1/callback"]},
         users={USER: PASSWORD})
    with running_server(data_dir) as running:
        yield running


def _env(config_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    return env


def _start_login(server: ServerProcess, config_home: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PROOFKEY, "login", "--issuer", server.base_url, "--no-browser", *extra],
        env=_env(config_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _authorization_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("http"), line
    return line


def _browser(url: str, *, decision: str = "allow") -> None:
    """Play the person: log in, answer consent, and follow the redirect to the loopback."""
    location = play_the_person(url, USER, PASSWORD, decision=decision)
    assert location.startswith("http://127.0.0.1:"), location


def _cli(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROOFKEY, *args], env=_env(config_home), capture_output=True,
                          text=True, timeout=60, check=False)



def test_login_then_token_then_logout(server: ServerProcess, tmp_path: Path) -> None:
    process = _start_login(server, tmp_path)
    url = _authorization_url(process)
    # proofkey advertises PAR: the challenge and the loopback redirect travel in the back
    # channel; the browser sees only client_id and a one-time request_uri.
    assert "request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A" in url
    assert "code_challenge" not in url
    _browser(url)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Logged in" in err
    assert f" as {USER} " in err  # the username, not the opaque subject
    tokens = tmp_path / "proofkey" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600

    printed = _cli(tmp_path, "token")
    assert printed.returncode == 0, printed.stderr
    access_token = printed.stdout.strip()
    assert printed.stdout.count("\n") == 1  # only the token on stdout
    info = userinfo_as_the_cli(server.base_url, _cli(tmp_path, "token", "--json").stdout)
    assert info.status_code == 200
    assert info.json()["preferred_username"] == USER

    shown = json.loads(_cli(tmp_path, "token", "--json").stdout)
    key = read_key(Path(shown["dpop_key_file"]))
    assert key is not None
    logged_out = _cli(tmp_path, "logout")
    assert logged_out.returncode == 0, logged_out.stderr
    url = f"{server.base_url}/userinfo"
    after = httpx.get(url, headers={"Authorization": f"DPoP {access_token}", "DPoP": key.proof(
        "GET", url, access_token=access_token)})
    assert after.status_code == 401  # revoked at the server, not only forgotten
    again = _cli(tmp_path, "token")
    assert again.returncode == 1
    assert again.stderr.strip() == ("proofkey: not logged in; run `proofkey login --issuer URL` "
                                    "first")
    twice = _cli(tmp_path, "logout")  # a second logout is not an error
    assert twice.returncode == 0, twice.stderr
    assert "Not logged in" in twice.stderr


def test_a_denied_login_says_so_and_stores_nothing(server: ServerProcess, tmp_path: Path) -> None:
    # A scope not yet consented to, so the consent page shows (front-channel extras such as
    # prompt=consent would be ignored: the request was pushed).
    process = _start_login(server, tmp_path, "--scope", "openid email")
    _browser(_authorization_url(process), decision="deny")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "denied" in err
    assert not (tmp_path / "proofkey" / "tokens.json").exists()


def test_a_login_nobody_finishes_times_out_with_a_clear_message(
    server: ServerProcess, tmp_path: Path,
) -> None:
    process = _start_login(server, tmp_path, "--timeout", "1")
    _authorization_url(process)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "no sign-in callback within 1 seconds" in err


def test_a_busy_loopback_port_is_reported(server: ServerProcess, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli(tmp_path, "login", "--issuer", server.base_url, "--no-browser",
                      "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_token_refreshes_an_expired_access_token(server: ServerProcess, tmp_path: Path) -> None:
    process = _start_login(server, tmp_path)
    _browser(_authorization_url(process))
    assert process.wait(timeout=30) == 0
    cache = tmp_path / "proofkey" / "tokens.json"
    before = cache.read_text()
    # Age the stored token: the next `proofkey token` must refresh (and rotate) it.
    data = json.loads(before)
    for entry in data.values():
        entry["expires_at"] = int(time.time()) - 10
    cache.write_text(json.dumps(data))
    printed = _cli(tmp_path, "token")
    assert printed.returncode == 0, printed.stderr
    after = json.loads(cache.read_text())
    old = next(iter(json.loads(before).values()))
    new = next(iter(after.values()))
    assert new["refresh_token"] != old["refresh_token"]
    assert printed.stdout.strip() == new["access_token"]
