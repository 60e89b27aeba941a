"""``proofkey client-check``: run an app or SDK against a strict, recording proofkey on
loopback and grade how it signs in (PKCE S256, fresh challenges, state, nonce, where the
verifier goes, code and refresh-token use, PAR, RFC 9207 ``iss``, redirects). The checks are
in ``proofkey.ops.client_check_grades``, the server in ``client_check_session``; this module
runs the command, or with ``--serve`` waits to be stopped, and prints the report."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from proofkey.cli.client_check_session import Options, StrictServer, default_state, strict_server
from proofkey.ops.client_check_grades import Grading
from proofkey.ops.client_check_profiles import PROFILES
from proofkey.ops.client_check_report import FORMATS, render

__all__ = ["client_check"]


def _run_command(command: list[str], env: dict[str, str], timeout: float) -> int:
    """Run the command, its output on our stderr (stdout is the report's); its exit status."""
    try:
        done = subprocess.run(command, env=env, stdout=sys.stderr, timeout=timeout,  # noqa: S603
                              check=False)
    except FileNotFoundError:
        typer.echo(f"proofkey: command not found: {command[0]}", err=True)
        raise typer.Exit(2) from None
    except subprocess.TimeoutExpired:
        typer.echo(f"proofkey: the command ran longer than {timeout:g}s and was stopped",
                   err=True)
        return -1
    return done.returncode


def _wait_to_be_stopped(server: StrictServer) -> None:
    """--serve: print where the server is as one JSON line, then wait for SIGTERM, SIGINT or,
    when standard input is a pipe, its end (not /dev/null or a terminal: a server started in
    the background would stop at once)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    def read_stdin() -> None:
        while sys.stdin.read(4096):
            pass
        stop.set()

    print(json.dumps({"issuer": server.issuer, "client_id": server.client_id,
                      "redirect_uri": server.redirect_uri, "username": server.username,
                      "password": server.password, "env": server.env()}), flush=True)
    if stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        threading.Thread(target=read_stdin, daemon=True).start()
    while not stop.wait(0.2):
        pass


def _finish(server: StrictServer, exit_code: int, fmt: str, output: Path | None) -> Grading:
    grading, warning = server.grade(exit_code)
    if warning:
        typer.echo(f"proofkey: warning: {warning}", err=True)
    report = render(grading, fmt)
    if output is not None:
        output.write_text(report + "\n")
    else:
        typer.echo(report)
    return grading


def client_check(
    command: Annotated[list[str] | None, typer.Argument(
        help="The app or test to grade, after --.")] = None,
    attempts: Annotated[int, typer.Option(min=1, help="Sign-ins the command must make.")] = 4,
    profile: Annotated[str, typer.Option(help="oauth2.1 or fapi2 (FAPI 2.0 Security "
                                              "Profile: PAR required, par-only).")]
        = "oauth2.1",
    fmt: Annotated[str, typer.Option("--format", help="table, json, junit or sarif.")]
        = "table",
    auto_approve: Annotated[bool, typer.Option(
        help="Sign the test user in and consent for the client: /authorize answers with "
             "the redirect to the client at once.")] = False,
    require_par: Annotated[bool, typer.Option(
        help="The test client must push its requests (RFC 9126).")] = False,
    mixup_attempt: Annotated[int, typer.Option(
        min=0, help="Answer this sign-in (counted by codes issued) with a wrong iss; 0: "
                    "never.")] = 2,
    error_attempt: Annotated[int, typer.Option(
        min=0, help="Answer this sign-in with error=access_denied beside its code; 0: "
                    "never.")] = 3,
    redirect_attempt: Annotated[int, typer.Option(
        min=0, help="Answer this sign-in's code redemption with a 307 to an unregistered "
                    "URI; 0: never.")] = 4,
    state: Annotated[Path | None, typer.Option(
        envvar="PROOFKEY_CLIENT_CHECK_STATE",
        help="File of challenge digests seen by earlier runs (default: in the temp dir).")]
        = None,
    output: Annotated[Path | None, typer.Option(help="Write the report here, not stdout.")]
        = None,
    timeout: Annotated[float, typer.Option(help="Seconds the command may run.")] = 300.0,
    serve: Annotated[bool, typer.Option(
        "--serve", help="No command: print the issuer and test values as a JSON line, serve "
                        "until SIGTERM, SIGINT or end of stdin, then grade.")] = False,
) -> None:
    """Grade an OAuth client: run COMMAND against a strict, recording proofkey on loopback.

    COMMAND gets PROOFKEY_TEST_ISSUER, PROOFKEY_TEST_CLIENT_ID, PROOFKEY_TEST_REDIRECT_URI,
    PROOFKEY_TEST_USERNAME and PROOFKEY_TEST_PASSWORD and signs in --attempts times. Exit
    status 0 only if every check passes, 1 if one fails, 2 on a usage error."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}",
                                 param_hint="--format")
    if profile not in PROFILES:
        raise typer.BadParameter(f"must be one of {', '.join(PROFILES)}", param_hint="--profile")
    if serve == bool(command):
        raise typer.BadParameter("give a command after --, or --serve (not both)")
    options = Options(attempts=attempts, profile=profile, require_par=require_par,
                      auto_approve=auto_approve, mixup_attempt=mixup_attempt,
                      error_attempt=error_attempt, redirect_attempt=redirect_attempt,
                      state=state)
    try:
        with strict_server(options) as server:
            if command:
                env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
                exit_code = _run_command(command, {**env, **server.env()}, timeout)
            else:
                _wait_to_be_stopped(server)
                exit_code = 0
            grading = _finish(server, exit_code, fmt, output)
    except OSError as exc:
        if exc.filename != str(options.state or default_state()):
            raise
        raise typer.BadParameter(f"cannot read {exc.filename}: {exc.strerror}",
                                 param_hint="--state") from None
    except RuntimeError as exc:
        typer.echo(f"proofkey: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(0 if grading.passed else 1)
