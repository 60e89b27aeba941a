#!/usr/bin/env python3
"""Where does one token exchange of proofkey spend its time? (bench/run.py's companion)

Starts proofkey pinned to CPU 0 exactly as run.py does, mints fresh codes through the real
authorization endpoint, drives POST /token with wrk from CPU 1 and samples the server with
py-spy (``py-spy record --format raw``; an SVG flame graph too). Then it sorts every sample into
one bucket by the innermost frame that matches a rule below (signing, SQL, audit log, form
parsing, framework, ...) and prints the share of each, and µs per exchange from the server's
CPU time per exchange.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_token.py [--scope openid|api] [--seconds 8]

py-spy needs ptrace rights over the server (root, or CAP_SYS_PTRACE).
"""

# ruff: noqa: S603, S607 - runs local tools (taskset, wrk, node, psql) by design

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

# First match wins, checked from the innermost frame outwards: a frame in joserfc under our
# minter counts as signing, a sqlite3 call as SQL, etc.
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("signing: RS256 id_token (joserfc/cryptography)", ("id_token (proofkey/tokens/mint.py",)),
    ("signing: ES256 access token (joserfc/cryptography)",
     ("access_token (proofkey/tokens/mint.py",)),
    ("audit log + logging (events, JSON formatting, redaction, stderr)",
     ("logging/", "proofkey/observability/")),
    ("SQL: sqlite3 statements, commits, row decoding", ("proofkey/store/",)),
    ("form parsing (proofkey.protocol.params)", ("proofkey/protocol/params.py",)),
    ("PKCE check", ("proofkey/protocol/pkce.py",)),
    ("random ids and digests (secrets, hashlib)", ("proofkey/crypto.py",)),
    ("token response JSON (starlette JSONResponse)", ("render (starlette/responses.py",)),
    ("other proofkey code (flows, models)", ("proofkey/",)),
    ("Starlette routing, request, middleware", ("starlette/",)),
    ("uvicorn + httptools (HTTP parsing, transport)", ("uvicorn/", "httptools")),
    ("asyncio / uvloop event loop", ("asyncio/", "uvloop")),
]


def bucket(stack: str) -> str | None:
    """The bucket of one sampled stack; None for an idle thread-pool worker (py-spy does not
    always recognise a thread blocked in a C call as idle)."""
    frames = stack.split(";")
    if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
        return None
    for frame in reversed(frames):
        for name, needles in RULES:
            if any(n in frame for n in needles):
                return name
    return "other (interpreter start-up frames, GC, unattributed)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scope", default="openid", help="openid (id_token too) or api")
    p.add_argument("--seconds", type=float, default=8.0, help="sampling time")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=bench.RESULTS, help="folder for the outputs")
    args = p.parse_args()
    spy = shutil.which("py-spy") or str(bench.REPO / ".venv" / "bin" / "py-spy")
    wrk = bench.ensure_wrk(True)
    node = bench.ensure_node(True)
    if not wrk or not Path(spy).exists():
        print("needs wrk and py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="proofkey-profile-"))
    tools = bench.Tools(wrk, node, work)
    server = bench.Proofkey(work / "proofkey")
    server.work.mkdir(parents=True)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / f"profile-{args.scope}.txt"
    svg = args.out / f"profile-{args.scope}.svg"
    try:
        server.start()
        b = bench.Bench(bench.Scale(), tools, [server])
        b.warm(server, args.scope)
        duration = 2 * args.seconds + 5
        count = int(min(bench.Scale().max_codes, 3500 * duration))
        codes = b.mint(server, args.scope, count)
        load = subprocess.Popen(
            ["taskset", "-c", bench.LOAD_CPU, wrk, "-t1", "-c16", f"-d{round(duration)}s",
             "-s", str(bench.LUA / "token.lua"), server.base + "/token", "--", str(codes),
             bench.CLIENT_ID, bench.REDIRECT_URI, "1"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        cpu0 = bench.proc_cpu_seconds(server.pids())
        t0 = time.monotonic()
        for fmt, path in (("raw", raw), ("flamegraph", svg)):
            subprocess.run(["taskset", "-c", bench.LOAD_CPU, spy, "record", "--pid",
                            str(server.proc.pid if server.proc else 0), "--duration",
                            str(round(args.seconds)), "--rate", str(args.rate), "--format", fmt,
                            "-o", str(path)], check=True, capture_output=True)
            if fmt == "raw":
                cpu = bench.proc_cpu_seconds(server.pids()) - cpu0
                wall = time.monotonic() - t0
        out, _ = load.communicate(timeout=duration + 30)
        summary = json.loads(next(ln for ln in out.splitlines()
                                  if ln.startswith("WRKJSON "))[len("WRKJSON "):])
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if summary["non_expected"] or summary["exhausted"]:
        print(f"warning: {summary['non_expected']} non-200 responses, exhausted="
              f"{summary['exhausted']}; the profile mixes in errors", file=sys.stderr)
    rate = summary["ok"] / (summary["duration_us"] / 1e6)
    us_per_exchange = cpu / (rate * wall) * 1e6 if rate else 0.0
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        name = bucket(stack)
        if name is not None:
            counts[name] += int(n)
            total += int(n)
    print(f"\nproofkey POST /token, scope={args.scope}: {rate:,.0f} exchanges/s, server CPU "
          f"{cpu / wall:.0%} of a core, {us_per_exchange:,.0f} µs CPU per exchange; "
          f"{total} samples\n")
    print("| where | share of samples | ≈ µs per exchange (share × CPU) |\n|---|---|---|")
    for name, n in counts.most_common():
        print(f"| {name} | {n / total:.1%} | {n / total * us_per_exchange:,.0f} |")
    print(f"\nraw stacks: {raw}; flame graph: {svg if svg.exists() else '(not written)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
