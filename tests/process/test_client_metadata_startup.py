"""The server refuses to start when loopback metadata documents are allowed on a public issuer
(draft-ietf-oauth-client-id-metadata-document §6.5: loopback only for a loopback server)."""

from __future__ import annotations

from pathlib import Path

from tests.process.conftest import clean_env, run_cli


def test_serve_refuses_allow_loopback_with_a_non_loopback_issuer(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", issuer="https://login.example.com",
                    client_metadata_documents="true", client_metadata_allow_loopback="true")
    result = run_cli(["serve"], env)
    assert result.returncode == 2, result
    assert "PROOFKEY_CLIENT_METADATA_ALLOW_LOOPBACK" in result.stderr
    assert "loopback" in result.stderr
