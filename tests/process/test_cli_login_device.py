"""`proofkey login --device` against a real `proofkey serve` with the demo data: the CLI shows the
code and polls (RFC 8628) while a thread plays the person in a browser elsewhere."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.demo import CLI_CLIENT_ID, DEMO_CLIENT_ID, DEMO_USERNAME
from tests.helpers import csrf_of
from tests.process.conftest import (
    PROOFKEY,
    ServerProcess,
    running_server,
    userinfo_as_the_cli,
)

_CODE_FIELD = re.compile(r'name="user_code"[^>]* value="([^"]*)"')
_USER_CODE = re.compile(r"\b[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}\b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server seeded with the demo: the ``proofkey-cli`` client may use the device grant."""
    data_dir = tmp_path_factory.mktemp("device-login") / "data"
    with running_server(data_dir, settings={"demo": "true"}) as running:
        yield running


def _password(server: ServerProcess) -> str:
    return (server.data_dir / "demo-password.txt").read_text().strip()


def _env(config_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    return env


def _start(server: ServerProcess, config_home: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PROOFKEY, "login", "--device", "--issuer", server.base_url, *extra],
        env=_env(config_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _shown_uri(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("http"), line
    return line


def _person(url: str, password: str, decision: str, failures: list[BaseException]) -> None:
    """Open the link the CLI showed, sign in, confirm the code, decide."""
    try:
        with httpx.Client(timeout=10) as browser:
            page = browser.get(url)
            response = browser.post(httpx.URL(url).join("/device/login"), data={
                "csrf": csrf_of(page.text), "username": DEMO_USERNAME, "password": password,
                "user_code": httpx.URL(url).params["user_code"]})
            assert response.status_code == 303, response.text
            entry = browser.get(httpx.URL(url).join(response.headers["location"]))
            match = _CODE_FIELD.search(entry.text)  # pre-filled from the link
            assert match, entry.text
            confirm = browser.post(httpx.URL(url).join("/device"), data={
                "csrf": csrf_of(entry.text), "user_code": match.group(1)})
            assert confirm.status_code == 200, confirm.text
            done = browser.post(httpx.URL(url).join("/device/decide"), data={
                "csrf": csrf_of(confirm.text), "user_code": match.group(1),
                "decision": decision})
            assert done.status_code == 200, done.text
    except BaseException as exc:  # reported by the test thread
        failures.append(exc)


def _play(url: str, password: str, decision: str = "allow") -> None:
    failures: list[BaseException] = []
    person = threading.Thread(target=_person, args=(url, password, decision, failures))
    person.start()
    person.join(timeout=60)
    assert not person.is_alive()
    if failures:
        raise failures[0]


def _cli(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROOFKEY, *args], env=_env(config_home), capture_output=True,
                          text=True, timeout=60, check=False)



def test_login_with_a_code_then_token_works(server: ServerProcess, tmp_path: Path) -> None:
    process = _start(server, tmp_path)
    uri = _shown_uri(process)
    assert uri.startswith(f"{server.base_url}/device?user_code=")
    _play(uri, _password(server))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    shown = _USER_CODE.search(err)
    assert shown, err  # the code is shown, readable, with its dash
    assert shown.group(0).replace("-", "") == httpx.URL(uri).params["user_code"]
    assert f"open {server.base_url}/device " in err
    assert "Logged in" in err
    tokens = tmp_path / "proofkey" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600

    printed = _cli(tmp_path, "token")
    assert printed.returncode == 0, printed.stderr
    info = userinfo_as_the_cli(server.base_url, _cli(tmp_path, "token", "--json").stdout)
    assert info.status_code == 200
    assert info.json()["preferred_username"] == DEMO_USERNAME
    assert CLI_CLIENT_ID in tokens.read_text()


def test_a_denied_code_says_so_and_stores_nothing(server: ServerProcess, tmp_path: Path) -> None:
    process = _start(server, tmp_path)
    _play(_shown_uri(process), _password(server), decision="deny")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "sign-in was denied" in err
    assert not (tmp_path / "proofkey" / "tokens.json").exists()


def test_a_client_without_the_device_grant_gets_a_clear_message(
        server: ServerProcess, tmp_path: Path) -> None:
    result = _cli(tmp_path, "login", "--device", "--issuer", server.base_url,
                  "--client-id", DEMO_CLIENT_ID)
    assert result.returncode == 1
    assert f"client {DEMO_CLIENT_ID} may not use the device grant" in result.stderr
    assert result.stdout == ""
