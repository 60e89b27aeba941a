"""docs/sdk.md: every example compiles, and the loopback example signs in for real against a
running proofkey, with a scripted person in place of the browser."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import play_the_person
from tests.process.conftest import running_server, seed

DOC = Path(__file__).parent.parent.parent / "docs" / "sdk.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
USER, PASSWORD = "grace", "a compiler for every machine"


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_example_compiles(index: int) -> None:
    compile(BLOCKS[index], f"docs/sdk.md example {index + 1}", "exec")


def _person(url: str, failures: list[BaseException]) -> None:
    try:
        play_the_person(url, USER, PASSWORD)
    except BaseException as exc:  # reported by the test, not lost in the thread
        failures.append(exc)


def test_the_loopback_example_signs_in_against_proofkey(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(b for b in BLOCKS if "LoopbackReceiver()" in b)
    data_dir = tmp_path / "data"
    seed(data_dir, public_clients={"my-cli": ["http://127.0.0.1/callback"]},
         users={USER: PASSWORD})
    failures: list[BaseException] = []
    opened: list[str] = []

    def open_browser(url: str) -> bool:
        opened.append(url)
        threading.Thread(target=_person, args=(url, failures), daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    with running_server(data_dir) as server:
        code = example.replace('"http://127.0.0.1:8000"', repr(server.base_url))
        namespace: dict[str, Any] = {}
        exec(compile(code, "docs/sdk.md", "exec"), namespace)  # noqa: S102 - our own doc
    assert not failures, failures
    assert len(opened) == 1
    assert "request_uri=" in opened[0]  # PAR: no challenge in the browser's URL
    assert namespace["tokens"].refresh_token
    assert namespace["profile"]["preferred_username"] == USER
