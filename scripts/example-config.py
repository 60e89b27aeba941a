"""Regenerate deploy/proofkey.example.toml from Settings.

Run from the repository root: .venv/bin/python scripts/example-config.py
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

from proofkey.settings import Settings, env_name

HEADER = """\
# proofkey example configuration: every setting with its default.
# Use it with `proofkey serve --config FILE` (or PROOFKEY_CONFIG=FILE). Each key can also be
# set as an environment variable PROOFKEY_<KEY> (upper case), which wins over this file;
# command-line flags win over both. Delete what you do not change.
# (tests/test_example_config.py checks that this file lists every setting.)
"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    return json.dumps(str(value))


def main() -> None:
    lines = [HEADER]
    for f in fields(Settings):
        text = f"{f.metadata['help']} ({env_name(f.name)})"
        lines += ["# " + line for line in textwrap.wrap(text, 94)]
        lines += [f"{f.name} = {toml_value(f.default)}", ""]
    Path("deploy/proofkey.example.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
