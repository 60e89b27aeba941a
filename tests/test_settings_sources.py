"""Settings errors name what the user wrote: a TOML key in its file, or a variable; misspelt
PROOFKEY_* variables are reported instead of silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from proofkey.settings import SettingsError, load_settings, unknown_environment


def test_a_bad_value_in_the_file_names_the_toml_key(tmp_path: Path) -> None:
    config = tmp_path / "proofkey.toml"
    config.write_text("port = 70000\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config_file=config, environ={})
    assert str(caught.value) == (f"invalid setting 'port' in {config}: must be between 1 and "
                                 "65535, got 70000")
    assert "PROOFKEY_PORT" not in str(caught.value)


def test_a_rule_broken_in_the_file_names_the_toml_key(tmp_path: Path) -> None:
    config = tmp_path / "proofkey.toml"
    config.write_text('issuer = "http://example.com"\n')
    with pytest.raises(SettingsError, match=f"'issuer' in {config}: must use https"):
        load_settings(config_file=config, environ={})


def test_the_environment_wins_and_is_named_as_a_variable(tmp_path: Path) -> None:
    config = tmp_path / "proofkey.toml"
    config.write_text("port = 8080\n")
    with pytest.raises(SettingsError, match="invalid setting PROOFKEY_PORT: "):
        load_settings(config_file=config, environ={"PROOFKEY_PORT": "0"})


def test_misspelt_variables_are_named_with_a_suggestion() -> None:
    notes = unknown_environment({"PROOFKEY_PROT": "9000", "PROOFKEY_PORT": "9000",
                                 "PROOFKEY_CONFIG": "x.toml", "PROOFKEY_FROBNICATE": "1",
                                 "HOME": "/root"})
    assert notes == [
        "PROOFKEY_FROBNICATE is not a proofkey setting and is ignored",
        "PROOFKEY_PROT is not a proofkey setting and is ignored (did you mean PROOFKEY_PORT?)",
    ]
