"""deploy/proofkey.example.toml lists every setting with its default, and loads."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from proofkey.settings import Settings, env_name, load_settings

EXAMPLE = Path(__file__).parent.parent / "deploy" / "proofkey.example.toml"


def test_the_example_names_every_setting_once() -> None:
    keys = set(tomllib.loads(EXAMPLE.read_text()))
    names = {f.name for f in fields(Settings)}
    assert keys == names, ("regenerate with scripts/example-config.py: "
                           f"missing {sorted(names - keys)}, unknown {sorted(keys - names)}")


def test_the_example_loads_to_the_defaults() -> None:
    assert load_settings(config_file=EXAMPLE, environ={}) == load_settings(environ={})


def test_each_setting_has_its_comment_and_variable() -> None:
    text = EXAMPLE.read_text()
    for f in fields(Settings):
        assert f"({env_name(f.name)})" in text, f.name
