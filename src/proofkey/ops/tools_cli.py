"""``proofkey scan-logs``, ``proofkey lint`` and ``proofkey probe``: typer commands for operators.

Exit status, for cron and CI: 0 clean; 1 something found (a leak, a policy error, a failed
probe run); 2 the command could not do its job (unreadable input, bad option, store error).
Only ``lint --from-db`` opens proofkey's store (through ``settings`` and ``store.open_store``);
everything else speaks files or HTTP.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
import time
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from proofkey import __version__
from proofkey.ops import lint_client, logscan
from proofkey.ops.lint_client import Issue, Policy, parse_duration
from proofkey.ops.probe import STEPS, ProbeConfig, ProbeMetrics, RunResult, run_once
from proofkey.protocol.client_policy import view_of_client

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from proofkey.models import Client

__all__ = ["lint", "probe", "scan_logs"]


class ScanFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


class LintFormat(StrEnum):
    text = "text"
    json = "json"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_SAVED_HANDLERS: dict[int, Any] = {}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGINT and SIGTERM end a probe loop cleanly (summary, metrics server stopped, exit
    status by the runs). Installed explicitly: a shell that starts a job in the background
    leaves SIGINT ignored, and Python then installs no handler of its own."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        _SAVED_HANDLERS[signum] = signal.signal(signum, _interrupt)


def restore_signals() -> None:
    while _SAVED_HANDLERS:
        signum, handler = _SAVED_HANDLERS.popitem()
        signal.signal(signum, handler)


def _usage(message: str) -> typer.Exit:
    _say(f"proofkey: {message}")
    return typer.Exit(2)


def _seconds(option: str, value: str) -> float:
    seconds = parse_duration(value)
    if seconds is None or seconds < 0:
        raise _usage(f"{option}: {value!r} is not a duration (e.g. 90, 10m, 30d, PT5M)")
    return seconds


def _scan_summary(report: logscan.ScanReport) -> str:
    files = len({f.path for f in report.findings})
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.by_kind().items()))
    found = f"{len(report.findings)} leaked secret(s) in {files} file(s) ({kinds})" if kinds \
        else "no leaked secrets"
    return f"{found}; scanned {report.lines} line(s) in {report.files} file(s)"


def scan_logs(
    paths: Annotated[list[str], typer.Argument(
        metavar="PATH", help="Log files (.gz/.bz2/.xz too), directories (searched "
        "recursively), or - for standard input.")],
    output_format: Annotated[ScanFormat, typer.Option(
        "--format", help="text (file:line:column), json, or sarif (SARIF 2.1.0).")] =
        ScanFormat.text,
    fail_on_find: Annotated[bool, typer.Option(
        "--fail-on-find/--no-fail", help="Exit with status 1 when a secret is found.")] = True,
) -> None:
    """Find OAuth secrets in logs: PKCE verifiers, codes, JWTs, refresh and access tokens,
    client secrets, passwords and Authorization headers. Values are never printed."""
    report = logscan.scan_paths(paths, sys.stdin.buffer if "-" in paths else None)
    if output_format is ScanFormat.text:
        for f in report.findings:
            print(f"{f.path}:{f.line}:{f.column}: {f.kind} [{f.rule.id}] {f.masked}")
    else:
        data = logscan.to_json(report) if output_format is ScanFormat.json else \
            logscan.to_sarif(report, __version__)
        print(json.dumps(data, indent=2))
    for problem in (*report.skipped, *report.errors):
        _say(f"proofkey: {problem}")
    _say(_scan_summary(report))
    if report.errors:
        raise typer.Exit(2)
    if report.findings and fail_on_find:
        raise typer.Exit(1)


def _from_db(config: Path | None, policy: Policy) -> list[Issue]:
    from proofkey.settings import SettingsError, load_settings
    from proofkey.store import open_store

    try:
        settings = load_settings({}, config_file=config)
    except SettingsError as exc:
        raise _usage(str(exc)) from None

    async def read() -> tuple[list[Client], list[str]]:
        store = open_store(settings.effective_database_url)
        try:
            legacy = [c.name for c in await store.list_connectors() if c.legacy]
            return await store.list_clients(), legacy
        finally:
            await store.close()

    try:
        clients, legacy = asyncio.run(read())
    except Exception as exc:  # any driver's error (no such table, refused connection …)
        raise _usage(f"cannot read clients from the store: {exc}") from None
    source = "store"
    issues = [i for c in clients for i in lint_client.lint(view_of_client(c), policy, source)]
    server = [("code", "code_ttl_seconds", settings.code_ttl_seconds),
              ("refresh", "refresh_token_ttl_seconds", settings.refresh_token_ttl_seconds),
              ("refresh", "grant_ttl_seconds", settings.grant_ttl_seconds)]
    issues += [Issue(sev, rule, "(settings)", message, "settings")
               for sev, rule, message in lint_client.lint_lifetimes(server, policy)]
    # PKL090: a connector marked legacy (docs/federation.md) runs its upstream leg without
    # knowing that the upstream verifies PKCE.
    configured = [(dict(t).get("name"), "settings") for t in settings.connectors
                  if dict(t).get("legacy") is True]
    issues += [Issue("warning", "PKL090", f"connector {name}", "marked legacy: its upstream "
                     "does not advertise PKCE S256, so a stolen upstream code may be redeemable "
                     "without the verifier", where)
               for name, where in [*configured, *((n, "store") for n in legacy)]]
    return issues


def _from_files(files: list[Path], policy: Policy,
                profile: str = "") -> tuple[list[Issue], int]:
    issues: list[Issue] = []
    count = 0
    for path in files:
        try:
            entries = lint_client.load_file(path)
        except ValueError as exc:
            raise _usage(str(exc)) from None
        for index, (source, metadata) in enumerate(entries):
            view = lint_client.view_of(metadata, fallback_name=f"#{index + 1}",
                                       profile=profile)
            issues += lint_client.lint(view, policy, source)
        count += len(entries)
    return issues, count


def lint(
    files: Annotated[list[Path] | None, typer.Argument(
        metavar="FILE", help="RFC 7591 client metadata (JSON or YAML): one client, a "
        "list, or an export with a clients list, from any provider.")] = None,
    from_db: Annotated[bool, typer.Option(
        "--from-db", help="Audit the clients registered in proofkey's own store.")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML settings file (with --from-db).")] = None,
    output_format: Annotated[LintFormat, typer.Option("--format", help="text or json.")] =
        LintFormat.text,
    max_code_ttl: Annotated[str, typer.Option(
        help="Longest acceptable authorization code lifetime (600, 10m, PT10M).")] = "10m",
    max_refresh_ttl: Annotated[str, typer.Option(
        help="Longest acceptable refresh token lifetime.")] = "30d",
    profile: Annotated[str | None, typer.Option(
        help="fapi2: hold every client in the FILEs to the FAPI 2.0 Security Profile too "
        "(PKL100-PKL107; proofkey's own clients carry their profile).")] = None,
) -> None:
    """Audit client registrations against OAuth 2.1 policy; exit 1 if any error is found."""
    if from_db == bool(files):
        raise _usage("give client metadata FILEs or --from-db (one of the two)")
    if profile not in (None, "fapi2"):
        raise _usage("--profile must be fapi2")
    policy = Policy(_seconds("--max-code-ttl", max_code_ttl),
                    _seconds("--max-refresh-ttl", max_refresh_ttl))
    if from_db:
        issues = _from_db(config, policy)
        count = len({i.client for i in issues})
    else:
        issues, count = _from_files(files or [], policy, profile or "")
    totals = {sev: sum(1 for i in issues if i.severity == sev) for sev in lint_client.SEVERITIES}
    if output_format is LintFormat.json:
        print(json.dumps({"issues": [{"severity": i.severity, "rule": i.rule,
                                      "client": i.client, "message": i.message,
                                      "source": i.source} for i in issues],
                          "summary": totals}, indent=2))
    else:
        for i in issues:
            print(f"{i.severity:<7} {i.rule}  {i.client}: {i.message}"
                  + (f"  [{i.source}]" if i.source else ""))
    counted = f" in {count} client(s)" if not from_db else ""
    _say(f"{totals['error']} error(s), {totals['warning']} warning(s), "
         f"{totals['info']} info{counted}")
    if totals["error"]:
        raise typer.Exit(1)


def _summary_table(runs: list[RunResult]) -> Table:
    ok = sum(1 for r in runs if r.ok)
    table = Table(title=f"proofkey probe: {ok}/{len(runs)} run(s) succeeded")
    for column in ("step", "ok", "failed", "median ms", "max ms", "last error"):
        table.add_column(column, justify="right" if "ms" in column or column in (
            "ok", "failed") else "left")
    for step in STEPS:
        results = [s for r in runs for s in r.steps if s.step == step]
        if not results:
            continue
        millis = [s.seconds * 1000 for s in results]
        errors = [s.error for s in results if not s.ok]
        table.add_row(step, str(len(results) - len(errors)), str(len(errors)),
                      f"{statistics.median(millis):.0f}", f"{max(millis):.0f}",
                      errors[-1] if errors else "")
    return table


def probe(
    issuer: Annotated[str, typer.Option(help="Issuer URL of the provider.")],
    client_id: Annotated[str, typer.Option(help="Client the probe signs in with.")],
    redirect_uri: Annotated[str, typer.Option(
        help="A redirect URI registered for the client (captured, never fetched).")],
    username: Annotated[str, typer.Option(help="The probe user.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the probe user's password from standard input.")] =
        False,
    client_secret_file: Annotated[Path | None, typer.Option(
        help="File holding the client secret, for a confidential client.")] = None,
    scope: Annotated[str, typer.Option(help="Scopes to ask for (offline_access is needed "
                                            "for the refresh step).")] = "openid offline_access",
    interval: Annotated[str, typer.Option(help="Time from one run's start to the next's.")] =
        "30s",
    count: Annotated[int, typer.Option(min=0, help="Runs to make; 0 runs until "
                                                   "interrupted.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
    par: Annotated[bool, typer.Option(
        "--par/--no-par", help="Push the authorization request (RFC 9126 PAR) when the "
        "provider advertises it; --no-par sends every parameter through the browser, as a "
        "client without PAR does.")] = True,
    metrics_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Serve the probe's /metrics on this port while it runs.")] =
        None,
    metrics_addr: Annotated[str, typer.Option(
        help="Address for --metrics-port (0.0.0.0 to let a remote Prometheus scrape).")] =
        "127.0.0.1",
    pushgateway: Annotated[str | None, typer.Option(
        help="Push the metrics to this Pushgateway URL after every run.")] = None,
    job: Annotated[str, typer.Option(help="Pushgateway job name.")] = "proofkey_probe",
) -> None:
    """Sign a probe user in through the full PKCE flow (authorize, login, consent, token,
    refresh, revoke), time each step, export Prometheus metrics; exit 1 if a run failed."""
    if not password_stdin:
        raise _usage("pass the probe user's password on standard input with --password-stdin")
    if metrics_port is not None and pushgateway is not None:
        raise _usage("use --metrics-port or --pushgateway, not both")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise _usage("standard input held no password")
    secret = None
    if client_secret_file is not None:
        try:
            secret = client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _usage(f"cannot read {client_secret_file}: {exc.strerror}") from None
    pause = _seconds("--interval", interval)
    if count == 0 and pause < 1:
        raise _usage("--count 0 runs until interrupted: give an --interval of 1s or more")
    config = ProbeConfig(issuer.rstrip("/"), client_id, redirect_uri, username, password,
                         secret, scope, timeout, use_par=par)
    metrics = ProbeMetrics()
    server: WSGIServer | None = None
    if metrics_port is not None:
        try:
            server, _thread = metrics.serve(metrics_port, metrics_addr)
        except OSError as exc:
            raise _usage(f"cannot serve metrics on {metrics_addr}:{metrics_port}: "
                         f"{exc.strerror}") from None
    runs: list[RunResult] = []
    push_failed = False
    try:
        stop_on_signals()
        next_start = time.monotonic()
        while count == 0 or len(runs) < count:
            time.sleep(max(0.0, next_start - time.monotonic()))
            next_start = time.monotonic() + pause
            result = run_once(config)
            runs.append(result)
            metrics.record(result)
            failure = result.failure
            _say(f"run {len(runs)}: ok in {result.seconds * 1000:.0f} ms" if result.ok else
                 f"run {len(runs)}: FAILED at {failure.step if failure else '?'}: "
                 f"{failure.error if failure else 'incomplete'}")
            if pushgateway is not None:
                try:
                    metrics.push(pushgateway, job, timeout)
                except OSError as exc:
                    push_failed = True
                    _say(f"proofkey: cannot push to {pushgateway}: {exc}")
    except KeyboardInterrupt:
        _say("proofkey: interrupted")
    finally:
        restore_signals()
        if server is not None:
            server.shutdown()
            server.server_close()
    Console(soft_wrap=False).print(_summary_table(runs))
    if not runs or push_failed or not all(r.ok for r in runs):
        raise typer.Exit(1)
