#!/usr/bin/env python3
"""Where does one request to the served proofkey spend its CPU? (bench/run.py's companion)

Starts ``proofkey serve`` pinned to CPU 0 exactly as run.py does, prepares what the load
consumes through the real endpoints (fresh codes, live refresh tokens, or a logged-in session),
drives the endpoint with wrk from CPU 1 and samples the whole server process with py-spy
(``--nonblocking``, every thread, ``--format raw``). Then it sorts every sample into one bucket
by the innermost frame that matches a rule below (signing, SQL, the WAL checkpointer thread,
audit log, parsing, framework, HTTP server, ...) and prints the share of each, and µs per request
from the server's own CPU time (user + kernel, from /proc) over the sampling window.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_token.py [--endpoint token|refresh|authorize]
                                            [--scope openid|api] [--seconds 8] [--svg]

py-spy needs ptrace rights over the server (root, or CAP_SYS_PTRACE).
"""

# ruff: noqa: S603, S607 - runs local tools (taskset, wrk, node, psql) by design

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

# Two passes. First, a sample whose stack holds any frame named in STACK_RULES (checked in
# order) goes there: the background threads, and the two signatures, whose OpenSSL time lands
# on an inner jws.py frame. Otherwise the innermost frame that matches a rule of RULES wins: a
# sqlite3 call under the store counts as SQL, a json call under the audit log as logging, etc.
# The served process has threads besides the event loop's (SQLite's WAL checkpointer, the
# argon2id pool, the log writer): their work is CPU the server spends per request too.
STACK_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("SQLite WAL checkpoint (background thread)", ("proofkey/store/checkpoint.py",)),
    ("log writer thread (stderr writes)", ("LogWriter._run (proofkey/observability/",)),
    ("signing: RS256 id_token", ("id_token (proofkey/tokens/mint.py",)),
    ("signing: ES256 access token", ("access_token (proofkey/tokens/mint.py",)),
    ("audit log + logging (events, JSON formatting, redaction, queueing)",
     ("AuditLog.__call__ (proofkey/observability/", "(logging/__init__.py")),
]
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("SQL: sqlite3 statements, commits, row decoding", ("proofkey/store/",)),
    ("metrics, status board, event dispatch", ("proofkey/observability/",)),
    ("form/query parsing (proofkey.protocol.params)", ("proofkey/protocol/params.py",)),
    ("PKCE check", ("proofkey/protocol/pkce.py",)),
    ("random ids and digests (secrets, hashlib)", ("proofkey/crypto.py",)),
    ("pages: redirect, cookies, templates (proofkey.web)", ("proofkey/web/pages.py",
                                                          "proofkey/web/cookies.py")),
    ("other proofkey code (flows, models, endpoints, edge)", ("proofkey/",)),
    ("Starlette routing, request, responses, middleware", ("starlette/",)),
    ("uvicorn + httptools (HTTP parsing, socket writes)", ("uvicorn/", "httptools")),
    ("asyncio / uvloop event loop", ("asyncio/", "uvloop")),
]
# Innermost frames of a thread that waits (py-spy cannot always tell a thread blocked in C from
# a running one): not CPU.
IDLE = ("_worker (concurrent/futures/thread.py", "wait (threading.py", "_wait (",
        "get (queue.py", "select (selectors.py")
ENDPOINTS = ("token", "refresh", "authorize")


def bucket(stack: str) -> str | None:
    """The bucket of one sampled stack; None for a thread that only waits."""
    frames = stack.split(";")
    if frames[-1].startswith(IDLE):
        return None
    for name, needles in STACK_RULES:
        if any(n in stack for n in needles):
            return name
    for frame in reversed(frames):
        for name, needles in RULES:
            if any(n in frame for n in needles):
                return name
    return "other (interpreter start-up frames, GC, unattributed)"


def _load(b: bench.Bench, server: bench.Server, endpoint: str, scope: str, duration: float,
          work: Path) -> tuple[str, list[str]]:
    """The wrk script and its arguments for ``endpoint``, with what it consumes prepared."""
    if endpoint == "token":
        count = int(min(bench.Scale().max_codes, 3500 * duration))
        return "token.lua", [str(b.mint(server, scope, count)), bench.CLIENT_ID,
                             bench.REDIRECT_URI, "1"]
    if endpoint == "refresh":
        tokens = work / "refresh.txt"
        pool = b.scale.connections * b.scale.refresh_pool_per_connection
        b.tools.driver(server, "mint", "--refresh", "--scope", scope, "--count", str(pool),
                       "--concurrency", "8", "--out", str(tokens), "--duration", "120")
        return "refresh.lua", [str(tokens), bench.CLIENT_ID, "1"]
    cookie = work / "cookie.txt"
    b.tools.driver(server, "cookie", "--scope", scope, "--out", str(cookie))
    return "authorize.lua", [str(cookie), bench.CLIENT_ID, bench.REDIRECT_URI, scope]


def _user_system(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` (from /proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
    return user, system


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", choices=ENDPOINTS, default="token",
                   help="POST /token with codes, POST /token with refresh tokens, or "
                        "GET /authorize with a session")
    p.add_argument("--scope", default="openid", help="openid (id_token too) or api")
    p.add_argument("--seconds", type=float, default=8.0, help="sampling time")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--svg", action="store_true", help="also record a flame graph (a second "
                   "sampling window)")
    p.add_argument("--out", type=Path, default=bench.RESULTS, help="folder for the outputs")
    args = p.parse_args()
    spy = shutil.which("py-spy") or str(bench.REPO / ".venv" / "bin" / "py-spy")
    wrk = bench.ensure_wrk(True)
    node = bench.ensure_node(True)
    if not wrk or not node or not Path(spy).exists():
        print("needs wrk, Node.js and py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="proofkey-profile-"))
    tools = bench.Tools(wrk, node, work)
    server = bench.Proofkey(work / "proofkey")
    server.work.mkdir(parents=True)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"profile-{args.endpoint}-{args.scope}"
    raw, svg = args.out / f"{name}.txt", args.out / f"{name}.svg"
    formats = [("raw", raw)] + ([("flamegraph", svg)] if args.svg else [])
    try:
        server.start()
        b = bench.Bench(bench.Scale(), tools, [server])
        b.warm(server, args.scope)
        duration = len(formats) * args.seconds + 5
        script, script_args = _load(b, server, args.endpoint, args.scope, duration, work)
        path = {"authorize": "/authorize"}.get(args.endpoint, "/token")
        load = subprocess.Popen(
            ["taskset", "-c", bench.LOAD_CPU, wrk, "-t1", "-c16", f"-d{round(duration)}s",
             "-s", str(bench.LUA / script), server.base + path, "--", *script_args],
            stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        # --nonblocking: py-spy reads the stacks without stopping the server, so sampling does
        # not slow what it measures (a blocking sampler at 250 Hz halved the rate).
        for fmt, target in formats:
            before = _user_system(server.pids())
            t0 = time.monotonic()
            subprocess.run(["taskset", "-c", bench.LOAD_CPU, spy, "record", "--nonblocking",
                            "--pid", str(server.proc.pid if server.proc else 0), "--duration",
                            str(round(args.seconds)), "--rate", str(args.rate), "--format", fmt,
                            "-o", str(target)], check=True, capture_output=True)
            if fmt == "raw":
                after = _user_system(server.pids())
                user, system = after[0] - before[0], after[1] - before[1]
                wall = time.monotonic() - t0
        out, _ = load.communicate(timeout=duration + 30)
        summary = json.loads(next(ln for ln in out.splitlines()
                                  if ln.startswith("WRKJSON "))[len("WRKJSON "):])
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if summary["non_expected"] or summary["exhausted"]:
        print(f"warning: {summary['non_expected']} unexpected responses "
              f"({summary['bad_statuses'][:80]}), exhausted={summary['exhausted']}; the profile "
              "mixes in errors", file=sys.stderr)
    rate = summary["ok"] / (summary["duration_us"] / 1e6)
    cpu = user + system
    per_request = cpu / (rate * wall) * 1e6 if rate else 0.0
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        bucket_name = bucket(stack)
        if bucket_name is not None:
            counts[bucket_name] += int(n)
            total += int(n)
    what = {"token": "POST /token (code)", "refresh": "POST /token (refresh)",
            "authorize": "GET /authorize (session)"}[args.endpoint]
    print(f"\nproofkey {what}, scope={args.scope}: {rate:,.0f} requests/s, server CPU "
          f"{cpu / wall:.0%} of a core ({user / cpu:.0%} user, {system / cpu:.0%} kernel), "
          f"{per_request:,.0f} µs CPU per request; {total} samples\n")
    print("Samples are user-space stacks; a system call's kernel time lands on the Python frame "
          "that made it (socket writes under uvicorn, WAL writes under SQL).\n")
    print("| where | share of samples | ≈ µs per request (share × CPU) |\n|---|---|---|")
    for bucket_name, n in counts.most_common():
        print(f"| {bucket_name} | {n / total:.1%} | {n / total * per_request:,.0f} |")
    print(f"\nraw stacks: {raw}" + (f"; flame graph: {svg}" if svg.exists() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
