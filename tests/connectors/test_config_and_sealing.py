"""Connector definitions and the sealing of secrets, as pure functions."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.connectors.config import ConnectorError, from_record, from_table
from proofkey.connectors.sealing import (
    SealError,
    connector_key,
    open_json,
    seal_json,
    transaction_key,
)
from proofkey.models import Connector

KEY = bytes(range(32))


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=200))
def test_any_change_to_a_sealed_value_keeps_it_shut(noise: bytes, at: int) -> None:
    sealed = seal_json(KEY, {"verifier": "v" * 64, "handle": "h"}, purpose="upstream:a")
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    index = at % len(raw)
    raw[index] ^= noise[0] or 1
    with pytest.raises(SealError):
        open_json(KEY, base64.urlsafe_b64encode(bytes(raw)).decode(), purpose="upstream:a")


def test_a_sealed_transaction_opens_only_for_its_browser_state_and_connector() -> None:
    key = transaction_key("browser-secret", "state-1")
    sealed = seal_json(key, {"verifier": "v"}, purpose="upstream:a")
    assert open_json(key, sealed, purpose="upstream:a") == {"verifier": "v"}
    for other_key, purpose in ((transaction_key("another-browser", "state-1"), "upstream:a"),
                               (transaction_key("browser-secret", "state-2"), "upstream:a"),
                               (key, "upstream:b")):
        with pytest.raises(SealError):
            open_json(other_key, sealed, purpose=purpose)


def test_the_connector_key_is_made_once_and_private(tmp_path: Path) -> None:
    with pytest.raises(SealError):
        connector_key(tmp_path)
    made = connector_key(tmp_path, create=True)
    assert connector_key(tmp_path) == made
    assert len(made) == 32
    assert (tmp_path / "connector-secrets.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("table", "says"), [
    ({"name": "a", "issuer": "https://a.test", "client_id": "c", "client_secret": "x"},
     "environment variable"),
    ({"name": "a", "issuer": "https://a.test", "client_id": "c", "client_secret_env": "NOPE"},
     "is not set"),
    ({"name": "a", "issuer": "https://a.test", "client_id": "c", "colour": "red"},
     "unknown key"),
    ({"name": "a", "issuer": "https://a.test", "client_id": "c", "kind": "saml"}, "kind"),
    ({"name": "a", "issuer": "https://a.test", "client_id": "c", "claims": {"role": "x"}},
     "claims may map only"),
    ({"name": "../a", "issuer": "https://a.test", "client_id": "c"}, "connector names"),
])
def test_a_table_that_cannot_work_is_refused(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConnectorError, match=says):
        from_table(table, {})


def test_a_stored_secret_needs_the_key_it_was_sealed_with(tmp_path: Path) -> None:
    sealed = seal_json(KEY, "the-secret", purpose="connector:a")
    record = Connector("a", "oidc", "https://a.test", "c", sealed, ("openid",))
    config = from_record(record, KEY)
    assert config.client_secret is not None
    assert config.client_secret.reveal() == "the-secret"
    assert "the-secret" not in repr(config)
    with pytest.raises(ConnectorError):
        from_record(record, bytes(32))
    with pytest.raises(ConnectorError):
        from_record(record, None)


def test_connectors_come_from_toml_tables(tmp_path: Path) -> None:
    from proofkey.settings import load_settings

    path = tmp_path / "proofkey.toml"
    path.write_text('''
issuer = "https://id.example.org"

[[connectors]]
name = "github"
kind = "oauth2"
issuer = "https://github.com"
client_id = "Iv1.abc"
client_secret_env = "GH_SECRET"
scope = "read:user user:email"
authorization_endpoint = "https://github.com/login/oauth/authorize"
token_endpoint = "https://github.com/login/oauth/access_token"
userinfo_endpoint = "https://api.github.com/user"
claims = { sub = "id", username = "login" }

[[connectors]]
name = "corp"
issuer = "https://login.example.com"
client_id = "proofkey"
''')
    settings = load_settings(config_file=path, environ={})
    github, corp = (from_table(dict(t), {"GH_SECRET": "s3"}) for t in settings.connectors)
    assert github.kind == "oauth2"
    assert github.claim("sub") == "id"
    assert github.claim("email") == "email"
    assert github.scope == ("read:user", "user:email")
    assert github.client_secret is not None
    assert github.client_secret.reveal() == "s3"
    assert corp.kind == "oidc"
    assert corp.scope == ("openid", "profile", "email")
    assert corp.claim("username") == "preferred_username"
    assert corp.client_secret is None
