"""What a newcomer meets on the command line: one clear line for each mistake, no secret in a
captured log, warnings for misspelt variables, readable times and whole values when piped."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from proofkey.ops.logscan import scan_line
from tests.process.conftest import (
    PROOFKEY,
    clean_env,
    free_port,
    run_cli,
    running_server,
)


def test_a_second_serve_on_a_busy_port_stops_before_creating_anything(tmp_path: Path) -> None:
    with running_server(tmp_path / "first") as first:
        second = tmp_path / "second"
        env = clean_env(second, PROOFKEY_PORT=str(first.port), PROOFKEY_DEMO="true")
        result = run_cli(["serve"], env)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"proofkey: cannot listen on 127.0.0.1:{first.port}: ")
    assert not second.exists(), "no data dir, no demo user, no password was created"


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", PROOFKEY_PROT="9000")
    result = run_cli(["client", "list", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert result.stderr.strip() == ("proofkey: warning: PROOFKEY_PROT is not a proofkey setting "
                                     "and is ignored (did you mean PROOFKEY_PORT?)")


def test_client_add_speaks_the_registration_rules(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    wildcard = run_cli(["client", "add", "w", "--confidential", "--redirect-uri",
                        "https://x.example/*"], env)
    assert wildcard.returncode == 1
    assert "[PKL010]" in wildcard.stderr
    assert "Traceback" not in wildcard.stderr

    origin = run_cli(["client", "add", "web", "--confidential", "--redirect-uri",
                      "https://app.example.com"], env)
    assert origin.returncode == 0, origin.stderr
    assert "proofkey: warning: client web: " in origin.stderr
    assert "[PKL011]" in origin.stderr

    again = run_cli(["client", "add", "web", "--confidential", "--redirect-uri",
                     "https://app.example.com/cb"], env)
    assert again.returncode == 1
    assert again.stderr.strip().startswith(
        "proofkey: a client with id 'web' exists already")
    assert "UNIQUE" not in again.stderr

    password = "a long enough password"
    assert run_cli(["user", "add", "bob", "--password-stdin"], env,
                   stdin=password + "\n").returncode == 0
    twice = run_cli(["user", "add", "bob", "--password-stdin"], env, stdin=password + "\n")
    assert twice.returncode == 1
    assert twice.stderr.strip() == "proofkey: a user named 'bob' exists already"


def test_text_output_shows_times_in_iso_8601_and_whole_values_when_piped(
        tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    long_uri = "https://app.example.com/" + "a-rather-long-callback-path/" * 6 + "cb"
    assert run_cli(["client", "add", "web", "--confidential", "--redirect-uri", long_uri],
                   env).returncode == 0
    shown = run_cli(["client", "show", "web"], env)
    assert shown.returncode == 0, shown.stderr
    assert long_uri in shown.stdout  # not cut at 80 columns: stdout is a pipe
    created = json.loads(run_cli(["client", "show", "web", "--json"], env).stdout)["created_at"]
    assert isinstance(created, int)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    assert iso in shown.stdout
    assert str(created) not in shown.stdout
    listed = run_cli(["client", "list"], env).stdout
    assert long_uri in listed


def test_help_shows_flags_without_type_tags_and_whole_sentences(tmp_path: Path) -> None:
    text = run_cli(["client", "add", "--help"], clean_env(tmp_path / "data")).stdout
    assert "<bool>" not in text
    assert "--public / --confidential" in text
    gc = run_cli(["gc", "--help"], clean_env(tmp_path / "data")).stdout
    # One paragraph, wrapped by the formatter, not by the docstring's line breaks.
    assert "device\n" not in gc.split("Options:")[0].replace("  ", "")


def test_the_demo_password_is_shown_on_a_terminal_and_scan_logs_knows_its_shape(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = clean_env(data_dir, PROOFKEY_PORT=str(port), PROOFKEY_DEMO="true",
                    PROOFKEY_ISSUER=f"http://127.0.0.1:{port}")
    controller, terminal = pty.openpty()
    process = subprocess.Popen([PROOFKEY, "serve"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=terminal,
                               start_new_session=True)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"demo client:" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(controller, 65536)
                except OSError:
                    break
    finally:
        process.terminate()
        process.wait(30)
        os.close(controller)
    line = next(x for x in seen.decode(errors="replace").splitlines() if "Log in at" in x)
    password = (data_dir / "demo-password.txt").read_text().strip()
    assert f"with password {password} " in line
    assert [(kind, value) for kind, _, _, value in scan_line(line)] == [("password", password)]


def test_a_read_only_database_is_named_as_such(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    assert run_cli(["client", "add", "a1", "--public", "--redirect-uri",
                    "http://127.0.0.1/cb"], env).returncode == 0
    database = tmp_path / "data" / "proofkey.db"
    # Root ignores permission bits: the immutable attribute makes the file read-only for all.
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root on a filesystem with attributes")
    try:
        result = run_cli(["client", "add", "a2", "--public", "--redirect-uri",
                          "http://127.0.0.1/cb"], env)
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)
    assert result.returncode == 1
    assert "read-only" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
