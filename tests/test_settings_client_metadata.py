"""Settings of client ID metadata documents: loopback fetching only for a loopback issuer,
cache bounds in order."""

from __future__ import annotations

import pytest

from proofkey.settings import SettingsError, load_settings


@pytest.mark.parametrize("issuer", ["https://login.example.com", "https://10.0.0.1:8443"])
def test_allow_loopback_is_refused_with_an_issuer_off_loopback(issuer: str) -> None:
    with pytest.raises(SettingsError, match="PROOFKEY_CLIENT_METADATA_ALLOW_LOOPBACK: is only "
                                            "allowed with an issuer on loopback"):
        load_settings(environ={"PROOFKEY_ISSUER": issuer,
                               "PROOFKEY_CLIENT_METADATA_ALLOW_LOOPBACK": "true"})


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8000", "http://localhost:9000",
                                    "https://[::1]:8443"])
def test_allow_loopback_is_accepted_with_a_loopback_issuer(issuer: str) -> None:
    settings = load_settings(environ={"PROOFKEY_ISSUER": issuer,
                                      "PROOFKEY_CLIENT_METADATA_ALLOW_LOOPBACK": "true"})
    assert settings.client_metadata_allow_loopback


def test_the_feature_is_off_by_default_with_the_drafts_5_kib_cap() -> None:
    settings = load_settings(environ={})
    assert not settings.client_metadata_documents
    assert not settings.client_metadata_allow_loopback
    assert settings.client_metadata_max_bytes == 5120


def test_the_minimum_cache_time_may_not_exceed_the_maximum() -> None:
    with pytest.raises(SettingsError, match="MIN_CACHE_SECONDS"):
        load_settings(environ={"PROOFKEY_CLIENT_METADATA_MIN_CACHE_SECONDS": "7200",
                               "PROOFKEY_CLIENT_METADATA_MAX_CACHE_SECONDS": "3600"})
