"""``proofkey check``: run the PKCE / OAuth 2.1 conformance battery against any provider.

Prints a table (or JSON, or JUnit XML for CI) and exits 1 when any check fails, 0 otherwise,
2 on a usage error. The password is read from standard input only (``--password-stdin``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .browser_login import CHROMIUM, BrowserNavigator
from .conformance import CheckConfig, Report, run_battery
from .conformance_fapi2 import FAPI2_BATTERY
from .login_driver import LoginSettings, Navigator
from .report import render, to_table

__all__ = ["LoginMode", "OutputFormat", "Profile", "check"]


class LoginMode(StrEnum):
    form = "form"
    browser = "browser"


class Profile(StrEnum):
    oauth21 = "oauth21"  # the PKCE / OAuth 2.1 code-flow battery (signs in)
    fapi2 = "fapi2"  # FAPI 2.0 Security Profile: metadata and live probes, no sign-in


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"


def _usage(message: str) -> typer.Exit:
    print(f"proofkey check: {message}", file=sys.stderr)
    return typer.Exit(2)


def check(
    issuer: Annotated[str, typer.Option(help="Issuer URL of the provider under test.")],
    client_id: Annotated[str, typer.Option(help="A client registered at the provider.")],
    redirect_uri: Annotated[str, typer.Option(
        help="A redirect URI registered for the client, exactly as registered.")],
    client_secret: Annotated[str | None, typer.Option(
        envvar="PROOFKEY_CHECK_CLIENT_SECRET", show_default=False,
        help="Secret of a confidential client (prefer the environment variable).")] = None,
    scope: Annotated[str, typer.Option(help="Scope to ask for.")] = "openid",
    login: Annotated[LoginMode, typer.Option(
        help="Sign in by submitting HTML forms, or in headless Chromium.")] = LoginMode.form,
    username: Annotated[str | None, typer.Option(help="User to sign in as.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the user's password from standard input.")] = False,
    username_field: Annotated[str | None, typer.Option(
        help="Name of the login form's username field (default: the first text field).")
    ] = None,
    password_field: Annotated[str | None, typer.Option(
        help="Name of the login form's password field (default: the password input).")
    ] = None,
    consent_field: Annotated[str | None, typer.Option(
        help="Name of the consent form's allow control (default: a submit button whose "
             "value is allow/accept/approve/yes, else the only submit button).")] = None,
    consent_value: Annotated[str | None, typer.Option(
        help="Value to send for --consent-field.")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="Report format.")] = OutputFormat.table,
    output: Annotated[Path | None, typer.Option(
        help="Write the report to this file (the table still goes to standard output).")
    ] = None,
    slow: Annotated[bool, typer.Option(
        "--slow", help="Also run slow checks (code lifetime: waits --code-lifetime seconds)."
    )] = False,
    code_lifetime: Annotated[int, typer.Option(
        min=1, max=3600, help="Longest acceptable code lifetime, in seconds.")] = 600,
    timeout: Annotated[float, typer.Option(
        min=0.5, max=120, help="Per-request timeout, in seconds.")] = 10.0,
    chromium: Annotated[str, typer.Option(
        help="Chromium executable for --login browser.")] = CHROMIUM,
    profile: Annotated[Profile, typer.Option(
        help="oauth21: the PKCE / OAuth 2.1 code-flow battery; fapi2: the FAPI 2.0 Security "
             "Profile checks (metadata: PAR, DPoP, private_key_jwt, iss, S256 only; probes: a "
             "request without PAR and a push without client authentication are refused) for "
             "--client-id, a client registered for FAPI 2.0; no sign-in, no credentials."
    )] = Profile.oauth21,
) -> None:
    """Check that a provider enforces PKCE and the OAuth 2.1 code-flow rules (black box)."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _usage("--password-stdin was given but standard input held no password")
    if (username is None) != (password is None):
        raise _usage("--username and --password-stdin go together")
    if not issuer.startswith(("https://", "http://")):
        raise _usage("--issuer must be an http(s) URL")
    config = CheckConfig(issuer, client_id, redirect_uri, client_secret, scope, slow,
                         code_lifetime, timeout, waiter=progress_wait)
    settings = LoginSettings(username, password, username_field, password_field,
                             consent_field, consent_value)
    navigator: Navigator | None = None
    if login is LoginMode.browser:
        navigator = BrowserNavigator(settings, executable=chromium, timeout=timeout)
    checks = FAPI2_BATTERY if profile is Profile.fapi2 else None
    report = asyncio.run(run_battery(config, settings, navigator=navigator, checks=checks))
    _emit(report, output_format, output)
    raise typer.Exit(0 if report.ok else 1)


async def progress_wait(label: str, seconds: float) -> None:
    """A long wait of the battery, shown: a bar with the time left on a terminal, one line
    with the expected end otherwise (a CI log)."""
    console = Console(stderr=True)
    why = f"{label}: waiting {seconds:.0f} s for the code to expire (--code-lifetime)"
    if not console.is_terminal:
        print(f"proofkey check: {why}", file=sys.stderr, flush=True)
        await asyncio.sleep(seconds)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(why, total=seconds)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            progress.update(task, completed=elapsed)
            await asyncio.sleep(min(1.0, seconds - elapsed))


def _emit(report: Report, fmt: OutputFormat, output: Path | None) -> None:
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(width=160, soft_wrap=False)
    if output is not None:
        output.write_text(render(report, fmt.value))
    if output is not None or fmt is OutputFormat.table:
        console.print(to_table(report))
    else:
        sys.stdout.write(render(report, fmt.value))
    if output is not None:
        counts = report.counts()
        print(f"proofkey check: {counts['fail']} failed, {counts['pass']} passed; "
              f"report written to {output}", file=sys.stderr)
