"""bench/run.py runs end to end at a tiny scale and prints its table with a proofkey row.

Only that: no timing is asserted (the machine is shared and the numbers are for the full
benchmark, docs/performance.md). The peers are not started in --quick mode; without Node.js
the script falls back to its Python driver, and without wrk it skips the wrk scenarios, each
with a message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("taskset") is None,
    reason="the benchmark pins processes with taskset and reads /proc (Linux only)",
)


@pytest.mark.timeout(240)
def test_quick_benchmark_prints_a_table_with_a_proofkey_row(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=220, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| scenario |"))
    assert lines[header + 1].startswith("|---")
    rows = [line.split("|")[1:-1] for line in lines[header + 2:] if line.startswith("| ")]
    servers = {cells[2].strip() for cells in rows}
    assert "proofkey" in servers
    assert any(cells[0].strip() == "rss" for cells in rows)
    if shutil.which("wrk"):  # the wrk scenarios ran, client_credentials among them
        assert any(cells[0].strip() == "cc" and cells[2].strip() == "proofkey" for cells in rows)
    result = json.loads(out.read_text())
    assert {"meta", "summary", "runs"} <= result.keys()
    assert any(row["server"] == "proofkey" for row in result["summary"])
