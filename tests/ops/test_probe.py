"""``proofkey probe`` against a real ``proofkey serve``: the full PKCE sign-in timed step by
step, its Prometheus metrics (own registry, /metrics or Pushgateway), and the failing step
named when something breaks."""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import prometheus_client
import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from proofkey.ops.probe import STEPS, ProbeConfig, ProbeMetrics, run_once
from proofkey.ops.tools_cli import lint, probe, scan_logs
from tests.process.conftest import ServerProcess, free_port, running_server, seed

PUBLIC_ID = "probe-native"
PUBLIC_REDIRECT = "http://127.0.0.1/callback"
WEB_ID = "probe-web"
WEB_REDIRECT = "https://probe.example.com/callback"
USERNAME = "probe"
PASSWORD = "probe password, long enough 2026"
FLOW = ("discovery", "authorize", "login", "consent", "token", "refresh", "revoke")
# Consent is asked once per user and client; later runs go straight back with a code.
AFTER_CONSENT = tuple(step for step in FLOW if step != "consent")


@dataclass
class Provider:
    server: ServerProcess
    web_secret: str

    @property
    def issuer(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    data = tmp_path_factory.mktemp("probe") / "data"
    secrets = seed(data, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]},
                   confidential_clients={WEB_ID: [WEB_REDIRECT]},
                   users={USERNAME: PASSWORD, "first-timer": PASSWORD,
                          "locked-out": "another long password 2026"})
    with running_server(data) as server:
        yield Provider(server, secrets[WEB_ID])


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("scan-logs")(scan_logs)
    app.command("lint")(lint)
    app.command("probe")(probe)
    return app


def probe_args(provider: Provider, *extra: str, client_id: str = PUBLIC_ID,
               redirect_uri: str = PUBLIC_REDIRECT, username: str = USERNAME) -> list[str]:
    return ["--issuer", provider.issuer, "--client-id", client_id, "--redirect-uri",
            redirect_uri, "--username", username, "--password-stdin", *extra]


def run(provider: Provider, *extra: str, password: str = PASSWORD, **kwargs: str) -> Any:
    return CliRunner().invoke(cli(), ["probe", *probe_args(provider, *extra, **kwargs)],
                              input=f"{password}\n")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def assert_every_step_succeeded(text: str, runs: int = 1) -> None:
    found = samples(text)
    for step in AFTER_CONSENT:
        assert found[("proofkey_probe_step_success", (("step", step),))] == 1.0, step
        assert found[("proofkey_probe_step_duration_seconds_count", (("step", step),))] >= runs
    assert found[("proofkey_probe_runs_total", (("outcome", "success"),))] >= runs
    assert found[("proofkey_probe_success", ())] == 1.0


# --- one run --------------------------------------------------------------------------------

def test_a_run_signs_in_consents_refreshes_and_revokes(provider: Provider) -> None:
    config = ProbeConfig(provider.issuer, PUBLIC_ID, PUBLIC_REDIRECT, "first-timer", PASSWORD)
    first, second = run_once(config), run_once(config)
    assert [s.step for s in first.steps] == list(FLOW)
    assert first.ok, first.failure
    assert all(s.seconds > 0 for s in first.steps)
    # A public client on a loopback redirect is asked every time (RFC 8252 §8.6, issue 17
    # item 2); a confidential client's second run skips the remembered consent.
    assert [s.step for s in second.steps] == list(FLOW)
    assert second.ok, second.failure
    web = ProbeConfig(provider.issuer, WEB_ID, WEB_REDIRECT, "first-timer", PASSWORD,
                      client_secret=provider.web_secret)
    assert run_once(web).ok
    again = run_once(web)
    assert [s.step for s in again.steps] == list(AFTER_CONSENT)  # consent remembered
    assert again.ok, again.failure


def test_a_confidential_client_probes_with_its_secret(provider: Provider,
                                                      tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(provider.web_secret + "\n")
    result = run(provider, "--client-secret-file", str(secret_file), client_id=WEB_ID,
                 redirect_uri=WEB_REDIRECT)
    assert result.exit_code == 0, result.output
    assert "1/1 run(s) succeeded" in result.stdout


def test_the_summary_table_has_a_row_per_step_and_the_exit_status_is_zero(
        provider: Provider) -> None:
    result = run(provider, "--count", "2", "--interval", "0s")
    assert result.exit_code == 0, result.output
    assert "2/2 run(s) succeeded" in result.stdout
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines()
            if line.count("│") > 3}
    assert set(AFTER_CONSENT) <= set(rows)
    assert result.stderr.count(": ok in ") == 2


# --- failures name their step ---------------------------------------------------------------

def test_a_wrong_password_fails_the_login_step_and_exits_one(provider: Provider) -> None:
    result = run(provider, password="not the probe password", username="locked-out")
    assert result.exit_code == 1
    assert "run 1: FAILED at login: login refused (HTTP 401): Incorrect username or " \
           "password." in result.stderr
    assert "0/1 run(s) succeeded" in result.stdout


def test_an_unknown_client_fails_the_authorize_step(provider: Provider) -> None:
    result = run(provider, client_id="no-such-client")
    assert result.exit_code == 1
    # proofkey advertises PAR, so the request is pushed and refused at client authentication.
    assert "FAILED at authorize: invalid_client" in result.stderr


def test_an_unreachable_provider_fails_discovery() -> None:
    port = free_port()
    result = CliRunner().invoke(cli(), [
        "probe", "--issuer", f"http://127.0.0.1:{port}", "--client-id", PUBLIC_ID,
        "--redirect-uri", PUBLIC_REDIRECT, "--username", USERNAME, "--password-stdin",
        "--timeout", "2"], input=f"{PASSWORD}\n")
    assert result.exit_code == 1
    assert "FAILED at discovery: ConnectError" in result.stderr


def test_a_failed_step_marks_the_steps_after_it_as_not_succeeded() -> None:
    metrics = ProbeMetrics()
    config = ProbeConfig("http://127.0.0.1:9", PUBLIC_ID, PUBLIC_REDIRECT, USERNAME, PASSWORD,
                         timeout=1)
    metrics.record(run_once(config))
    found = samples(metrics.text())
    assert {step: found[("proofkey_probe_step_success", (("step", step),))]
            for step in STEPS} == dict.fromkeys(STEPS, 0.0)
    assert found[("proofkey_probe_runs_total", (("outcome", "failure"),))] == 1.0


@pytest.mark.parametrize("args", [
    ["--issuer", "http://x", "--client-id", "c", "--redirect-uri", "http://127.0.0.1/cb",
     "--username", "u"],
    ["--issuer", "http://x", "--client-id", "c", "--redirect-uri", "http://127.0.0.1/cb",
     "--username", "u", "--password-stdin", "--metrics-port", "9999",
     "--pushgateway", "http://127.0.0.1:9091"],
    ["--issuer", "http://x", "--client-id", "c", "--redirect-uri", "http://127.0.0.1/cb",
     "--username", "u", "--password-stdin", "--interval", "often"],
])
def test_a_bad_invocation_is_a_usage_error(args: list[str]) -> None:
    assert CliRunner().invoke(cli(), ["probe", *args], input="pw\n").exit_code == 2


# --- metrics --------------------------------------------------------------------------------

class _Gateway(http.server.BaseHTTPRequestHandler):
    pushes: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.pushes.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    _Gateway.pushes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Gateway.pushes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_metrics_are_pushed_to_a_pushgateway_after_each_run(provider: Provider) -> None:
    with pushgateway() as (url, pushes):
        result = run(provider, "--count", "2", "--interval", "0s", "--pushgateway", url,
                     "--job", "idp_probe")
    assert result.exit_code == 0, result.output
    assert [(method, path) for method, path, _ in pushes] == [("PUT", "/metrics/job/idp_probe")] * 2
    assert_every_step_succeeded(pushes[-1][2].decode(), runs=2)


def test_the_probe_never_registers_in_the_global_registry(provider: Provider) -> None:
    with pushgateway() as (url, _pushes):
        run(provider, "--pushgateway", url)
    names = {s.name for family in prometheus_client.REGISTRY.collect() for s in family.samples}
    assert not any(name.startswith("proofkey_probe") for name in names)


def test_an_unreachable_pushgateway_fails_the_run(provider: Provider) -> None:
    result = run(provider, "--pushgateway", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot push to" in result.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a non-interactive shell's `cmd &` does


@pytest.mark.parametrize(("stop", "sigint_ignored"), [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint", "sigint-from-a-background-job", "sigterm"])
def test_a_probe_process_serves_per_step_metrics_on_its_own_port(
        provider: Provider, stop: signal.Signals, sigint_ignored: bool) -> None:
    port = free_port()
    code = "import typer; from proofkey.ops.tools_cli import probe; typer.run(probe)"
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", code, *probe_args(provider, "--count", "0", "--interval", "1s",
                                                 "--metrics-port", str(port))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None)
    try:
        assert process.stdin is not None
        process.stdin.write(f"{PASSWORD}\n")
        process.stdin.flush()  # communicate() closes it later
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if samples(text).get(("proofkey_probe_runs_total", (("outcome", "success"),)),
                                     0) >= 2:
                    break
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert_every_step_succeeded(text, runs=2)
        process.send_signal(stop)  # --count 0 runs until interrupted
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 0, stderr
    assert "run(s) succeeded" in stdout
    assert "interrupted" in stderr
    with pytest.raises(httpx.TransportError):  # the metrics server stopped with the probe
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.parametrize("flaws", [set(), {"refresh_other_sub"}])
def test_a_refresh_whose_id_token_names_another_user_fails_the_refresh_step(
        flaws: set[str]) -> None:
    """OIDC Core §12.2: a refreshed id_token names the same iss and sub as the first one; a
    provider that answers a refresh with someone else's identity fails the run there."""
    from tests.ops.weak_servers import PASSWORD as WEAK_PASSWORD
    from tests.ops.weak_servers import PUBLIC_CLIENT, REDIRECT, USER, serve_provider

    with serve_provider(flaws) as weak:
        result = run_once(ProbeConfig(weak.issuer, PUBLIC_CLIENT, REDIRECT, USER,
                                      WEAK_PASSWORD))
    refresh = next(s for s in result.steps if s.step == "refresh")
    if not flaws:  # this provider has no revocation endpoint: the run ends there
        assert refresh.ok, refresh.error
        return
    assert not refresh.ok
    assert result.steps[-1] == refresh
    assert "sub" in (refresh.error or "")
