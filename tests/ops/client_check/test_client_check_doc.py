"""docs/client-check.md: the examples compile, and the sign-in script passes the gate."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[3] / "docs" / "client-check.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_example_compiles(index: int) -> None:
    compile(BLOCKS[index], f"docs/client-check.md example {index + 1}", "exec")


def test_the_sign_in_script_of_the_doc_passes_client_check(tmp_path: Path) -> None:
    script = tmp_path / "sign_in.py"
    script.write_text(next(b for b in BLOCKS if "OAuthClient(" in b))
    done = subprocess.run(
        [sys.executable, "-m", "proofkey", "client-check", "--attempts", "5",
         "--state", str(tmp_path / "state"), "--", sys.executable, str(script)],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 attempt(s); 14 check(s) passed, 0 failed, 2 skipped" in done.stdout
    assert done.stderr.count("refused:") == 3  # the mix-up, error and redirect attempts


def test_the_doc_describes_every_check() -> None:
    from proofkey.ops.client_check_grades import CHECKS

    for check in CHECKS:
        assert f"| `{check}` |" in DOC.read_text(), check
