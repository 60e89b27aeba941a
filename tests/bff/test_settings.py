"""The gateway's settings: PROOFKEY_BFF_* variables, the TOML section [bff], validation that
names the setting, and no secret in a repr or in --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from proofkey.bff import Upstream, load_bff_settings
from proofkey.bff.settings import describe_bff_settings
from proofkey.settings import SettingsError

KEY = "k" * 43
BASE = {"PROOFKEY_BFF_ISSUER": "https://id.example", "PROOFKEY_BFF_CLIENT_ID": "spa"}


def test_environment_toml_and_overrides_combine_with_overrides_first(tmp_path: Path) -> None:
    config = tmp_path / "proofkey.toml"
    config.write_text('[bff]\nport = 9001\nupstreams = ["/api=http://127.0.0.1:9000"]\n'
                      'same_site = "lax"\n')
    env = {**BASE, "PROOFKEY_BFF_PORT": "9002", "PROOFKEY_BFF_SESSION_KEY": KEY}
    settings = load_bff_settings({"port": 9003}, environ=env, config_file=config)
    assert settings.port == 9003
    assert settings.same_site == "lax"
    assert settings.upstreams == (Upstream("/api", "http://127.0.0.1:9000"),)
    assert settings.origin == "http://127.0.0.1:9003"
    assert settings.redirect_uri == "http://127.0.0.1:9003/bff/callback"
    assert settings.key_bytes is not None
    assert len(settings.key_bytes) == 32


@pytest.mark.parametrize(("values", "named"), [
    ({"upstreams": "api=http://x"}, "PROOFKEY_BFF_UPSTREAMS"),
    ({"upstreams": "/bff=http://x"}, "PROOFKEY_BFF_UPSTREAMS"),
    ({"upstreams": "/api=ftp://x"}, "PROOFKEY_BFF_UPSTREAMS"),
    ({"upstreams": "/api=http://a /api=http://b"}, "PROOFKEY_BFF_UPSTREAMS"),
    ({"session_key": "short"}, "PROOFKEY_BFF_SESSION_KEY"),
    ({"issuer": "http://id.example"}, "PROOFKEY_BFF_ISSUER"),
    ({"client_id": ""}, "PROOFKEY_BFF_CLIENT_ID"),
    ({"public_url": "http://app.example"}, "PROOFKEY_BFF_PUBLIC_URL"),
    ({"same_site": "none"}, "PROOFKEY_BFF_SAME_SITE"),
    ({"post_logout_path": "https://evil.example"}, "PROOFKEY_BFF_POST_LOGOUT_PATH"),
    ({"session_idle_seconds": 7200, "session_absolute_seconds": 3600},
     "PROOFKEY_BFF_SESSION_ABSOLUTE_SECONDS"),
    ({"nonsense": "1"}, "PROOFKEY_BFF_NONSENSE"),
])
def test_an_invalid_setting_is_refused_by_name(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_bff_settings({"issuer": "https://id.example", "client_id": "spa", **values},
                          environ={})


def test_secrets_stay_out_of_repr_and_help() -> None:
    settings = load_bff_settings({"client_secret": "s3cret-value", "session_key": KEY},
                                 environ=BASE)
    assert "s3cret-value" not in repr(settings)
    assert KEY not in repr(settings)
    assert "PROOFKEY_BFF_UPSTREAMS" in describe_bff_settings()


def test_the_servers_settings_leave_the_gateways_variables_and_section_alone(
    tmp_path: Path,
) -> None:
    """One environment and one TOML file can configure both `proofkey serve` and `proofkey
    bff`: the server neither warns about PROOFKEY_BFF_* nor refuses the [bff] section."""
    from proofkey.settings import load_settings, unknown_environment

    assert unknown_environment({"PROOFKEY_BFF_ISSUER": "https://id.example"}) == []
    assert unknown_environment({"PROOFKEY_PROT": "1"}) != []  # misspellings still caught
    config = tmp_path / "both.toml"
    config.write_text('port = 8001\n[bff]\nport = 9001\nissuer = "https://id.example"\n'
                      'client_id = "spa"\n')
    assert load_settings(environ={}, config_file=config).port == 8001
    assert load_bff_settings(environ={}, config_file=config).port == 9001
