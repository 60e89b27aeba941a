"""bench/sizing.py runs at a tiny scale and prints its two tables with every flow's row.

Counts and sizes only, no timing asserted (docs/performance.md has the figures). It needs the
local PostgreSQL (the statements table is measured there) and Node.js or the Python driver for
the grants; the memory part runs on SQLite only here, to stay short.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZING = REPO / "bench" / "sizing.py"

FLOWS = (
    "authorize (session, remembered consent)",
    "code exchange (openid, RS256 id_token)",
    "refresh (rotation)",
    "client_credentials (client_secret_basic)",
    "userinfo",
    "introspection (resource server, Basic)",
    "password login (argon2id, new session)",
)


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("taskset") is None,
                       reason="the script reads /proc and reuses bench/run.py (Linux only)"),
    pytest.mark.skipif(not _postgres_up(), reason="no PostgreSQL on 127.0.0.1:5432"),
]


def _table(lines: list[str], header: str) -> list[list[str]]:
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    assert lines[start + 1].startswith("|---")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.split("|")[1:-1]])
    return rows


def _number(cell: str) -> float:
    return float(cell.split()[0].replace(",", ""))


@pytest.mark.timeout(240)
def test_quick_sizing_prints_statements_per_flow_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "sizing.json"
    done = subprocess.run(
        [sys.executable, str(SIZING), "--quick", "--memory-stores", "sqlite", "--json", str(out)],
        capture_output=True, text=True, timeout=220, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Reproduce: `bench/sizing.py --quick")
    flows = {row[0]: row for row in _table(lines, "| flow |")}
    assert set(FLOWS) <= flows.keys()
    for name in FLOWS:
        statements, round_trips = _number(flows[name][2]), _number(flows[name][3])
        assert round_trips >= statements >= 0
    # Every flow that must touch the database does (client_credentials stores nothing).
    for name in set(FLOWS) - {"client_credentials (client_secret_basic)"}:
        assert _number(flows[name][2]) > 0, name
    memory = _table(lines, "| store |")
    assert [row[0] for row in memory] == ["sqlite"]
    idle, after = _number(memory[0][1]), _number(memory[0][3])
    assert idle > 0
    assert after > 0
    assert _number(memory[0][4]) >= 190  # live grants made (95 % of 200 at least)
    assert _number(memory[0][7]) > _number(memory[0][6]) > 0  # the database grew
    saved = json.loads(out.read_text())
    assert {row["flow"] for row in saved["flows"]} >= set(FLOWS)
