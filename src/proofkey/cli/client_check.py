"""``proofkey client-check``: run an app or SDK against a strict, recording proofkey on
loopback and grade how it signs in (PKCE S256, fresh challenges, state, nonce, where the
verifier goes, code and refresh-token use, PAR, RFC 9207 ``iss``). The checks themselves are
in ``proofkey.ops.client_check_grades``; this module starts the server and runs the command.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from proofkey.cli.client_check_server import Recorder, serving
from proofkey.ops.client_check_grades import grade
from proofkey.ops.client_check_report import render
from proofkey.ops.login_driver import LoginSettings
from proofkey.settings import Settings, load_settings

__all__ = ["CLIENT_ID", "REDIRECT_URI", "USERNAME", "client_check"]

CLIENT_ID = "client-check"
REDIRECT_URI = "http://127.0.0.1/callback"  # loopback: any port is accepted (RFC 8252 §7.3)
USERNAME = "test-user"
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_KEPT_DIGESTS = 10_000


def _default_state() -> Path:
    return Path(tempfile.gettempdir()) / f"proofkey-client-check-{os.getuid()}.state"


def _read_state(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None


def _write_state(path: Path, digests: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(digests[-_KEPT_DIGESTS:]) + "\n")


async def _seed(settings: Settings, password: str, require_par: bool) -> None:
    from proofkey.flows.admin import register_client, register_user
    from proofkey.store import open_store
    from proofkey.tokens.keys import KeyRing

    store = open_store(settings.effective_database_url)
    try:
        await store.migrate()
        now = int(time.time())
        await KeyRing.load(store, now)
        await register_user(store, USERNAME, password, name="Test User",
                            email="test-user@example.com", now=now)
        await register_client(
            store, CLIENT_ID, client_type="public", redirect_uris=[REDIRECT_URI],
            scopes=settings.scopes_supported, supported_scopes=settings.scopes_supported,
            grant_types=("authorization_code", "refresh_token", _DEVICE_GRANT),
            name="proofkey client-check", require_par=require_par, now=now)
    finally:
        await store.close()


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


def client_check(
    command: Annotated[list[str], typer.Argument(help="The app or test to grade, after --.")],
    attempts: Annotated[int, typer.Option(min=1, help="Sign-ins the command must make.")] = 3,
    fmt: Annotated[str, typer.Option("--format", help="table, json or junit.")] = "table",
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
    state: Annotated[Path | None, typer.Option(
        envvar="PROOFKEY_CLIENT_CHECK_STATE",
        help="File of challenge digests seen by earlier runs (default: in the temp dir).")]
        = None,
    output: Annotated[Path | None, typer.Option(help="Write the report here, not stdout.")]
        = None,
    timeout: Annotated[float, typer.Option(help="Seconds the command may run.")] = 300.0,
) -> None:
    """Grade an OAuth client: run COMMAND against a strict, recording proofkey on loopback.

    COMMAND gets PROOFKEY_TEST_ISSUER, PROOFKEY_TEST_CLIENT_ID, PROOFKEY_TEST_REDIRECT_URI,
    PROOFKEY_TEST_USERNAME and PROOFKEY_TEST_PASSWORD and signs in --attempts times. Exit
    status 0 only if every check passes, 1 if one fails, 2 on a usage error."""
    if fmt not in ("table", "json", "junit"):
        raise typer.BadParameter("must be table, json or junit", param_hint="--format")
    state_file = state or _default_state()
    earlier = _read_state(state_file)
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="proofkey-client-check-") as data_dir, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        settings = load_settings({"data_dir": data_dir, "host": "127.0.0.1", "port": port,
                                  "demo": False, "log_level": "warning",
                                  "audit_log": str(Path(data_dir) / "audit.log")}, environ={})
        asyncio.run(_seed(settings, password, require_par))
        from proofkey.web.app import create_app

        issuer = settings.effective_issuer
        login = LoginSettings(USERNAME, password) if auto_approve else None
        recorder = Recorder(create_app(settings), issuer=issuer,
                            mixup_at=mixup_attempt, error_at=error_attempt,
                            login=login)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
        env.update({"PROOFKEY_TEST_ISSUER": issuer, "PROOFKEY_TEST_CLIENT_ID": CLIENT_ID,
                    "PROOFKEY_TEST_REDIRECT_URI": REDIRECT_URI,
                    "PROOFKEY_TEST_USERNAME": USERNAME, "PROOFKEY_TEST_PASSWORD": password,
                    "PROOFKEY_TEST_ATTEMPTS": str(attempts)})
        try:
            with serving(recorder, sock):
                exit_code = _run_command(command, env, timeout)
        except RuntimeError as exc:
            typer.echo(f"proofkey: {exc}", err=True)
            raise typer.Exit(2) from None
        exchanges = list(recorder.exchanges)
    grading = grade(exchanges, attempts=attempts, earlier_challenges=earlier,
                    require_par=require_par, exit_code=exit_code)
    try:
        _write_state(state_file, [*earlier, *grading.challenge_digests])
    except OSError as exc:
        typer.echo(f"proofkey: warning: cannot write {state_file}: {exc.strerror}; later "
                   "runs will not know this run's challenges", err=True)
    report = render(grading, fmt)
    if output is not None:
        output.write_text(report + "\n")
    else:
        typer.echo(report)
    raise typer.Exit(0 if grading.passed else 1)
