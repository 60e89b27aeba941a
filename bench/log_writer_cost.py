#!/usr/bin/env python3
"""What one audit line costs its caller: synchronous writing vs the queued writer (issue #16).

Logs N audit lines (an ``AuditEntry`` like a token exchange's) through ``configure_logging``
and reports the caller's wall time per line, for two sinks: ``/dev/null``, and a pipe whose
reader takes 4 KiB every 10 ms (a log shipper that fell behind, ~400 KB/s). The queued rows
also give the lines dropped (queue bound ``--queue``) and the time ``stop_log_writer`` took to
drain what was left. Not a test: nothing here is asserted.

    PYTHONPATH=src .venv/bin/python bench/log_writer_cost.py [--n 20000] [--queue 10000]
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import time
from typing import TextIO

from proofkey.observability.log_writer import lines_dropped
from proofkey.observability.logs import AuditEntry, configure_logging, stop_log_writer
from proofkey.settings import load_settings

SLOW_READER = ("import sys, time\n"
               "while sys.stdin.buffer.read1(4096):\n"
               "    time.sleep(0.01)\n")


def entry(i: int) -> AuditEntry:
    return AuditEntry(ts=time.time(), event="TokenExchanged", client_id="native-app",
                      grant_type="authorization_code", outcome="success", n=i,
                      latency_seconds=0.004, user_fp="a1b2c3d4e5f6", detail=None)


def run(stream: TextIO, *, queued: bool, n: int, queue: int) -> tuple[float, int, float]:
    settings = load_settings({"log_queue_lines": queue, "demo": False}, environ={})
    configure_logging(settings, None, stream=stream, queued=queued)
    audit = logging.getLogger("proofkey.audit")
    dropped = lines_dropped()
    start = time.perf_counter()
    for i in range(n):
        audit.info(entry(i))
    caller = (time.perf_counter() - start) / n
    start = time.perf_counter()
    stop_log_writer(timeout=600)
    drain = time.perf_counter() - start
    return caller, lines_dropped() - dropped, drain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--queue", type=int, default=10000)
    args = parser.parse_args()
    with open("/dev/null", "w", encoding="utf-8") as devnull:  # warm-up: caches, imports
        run(devnull, queued=False, n=2000, queue=args.queue)
    print(f"{'sink':<22}{'mode':<8}{'caller µs/line':>15}{'dropped':>9}{'drain s':>9}")
    for sink in ("/dev/null", "slow pipe"):
        for queued in (False, True):
            reader = None
            if sink == "/dev/null":
                stream: TextIO = open("/dev/null", "w", encoding="utf-8")  # noqa: SIM115
            else:
                reader = subprocess.Popen([sys.executable, "-c", SLOW_READER],  # noqa: S603
                                          stdin=subprocess.PIPE)
                assert reader.stdin is not None
                stream = io.TextIOWrapper(reader.stdin, encoding="utf-8", write_through=True)
            caller, dropped, drain = run(stream, queued=queued, n=args.n, queue=args.queue)
            configure_logging(load_settings({"demo": False}, environ={}), None,
                              stream=io.StringIO())
            stream.close()
            if reader is not None:
                reader.wait()
            mode = "queued" if queued else "sync"
            print(f"{sink:<22}{mode:<8}{caller * 1e6:>15.1f}{dropped:>9}{drain:>9.2f}")


if __name__ == "__main__":
    main()
