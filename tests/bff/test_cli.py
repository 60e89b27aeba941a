"""``proofkey bff`` as a process: refusals in one line with exit 2, and the secret from stdin
(never from a flag)."""

from __future__ import annotations

from pathlib import Path

from tests.process.conftest import clean_env, run_cli


def test_a_bad_upstream_is_refused_in_one_line_with_exit_2(tmp_path: Path) -> None:
    result = run_cli(["bff", "--issuer", "https://id.example", "--client-id", "spa",
                      "--upstream", "api=http://127.0.0.1:9000"], clean_env(tmp_path))
    assert result.returncode == 2
    assert "PROOFKEY_BFF_UPSTREAMS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_empty_stdin_for_the_secret_is_refused(tmp_path: Path) -> None:
    result = run_cli(["bff", "--issuer", "https://id.example", "--client-id", "spa",
                      "--client-secret-stdin"], clean_env(tmp_path), stdin="")
    assert result.returncode == 2
    assert "stdin had no secret" in result.stderr


def test_a_listen_address_without_a_port_is_refused(tmp_path: Path) -> None:
    result = run_cli(["bff", "--issuer", "https://id.example", "--client-id", "spa",
                      "--listen", "127.0.0.1"], clean_env(tmp_path))
    assert result.returncode == 2
    assert "--listen must be HOST:PORT" in result.stderr


def test_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PROOFKEY_BFF_ISSUER="https://id.example",
                    PROOFKEY_BFF_CLIENT_ID="spa", PROOFKEY_BFF_SAME_SITE="none")
    result = run_cli(["bff"], env)
    assert result.returncode == 2
    assert "PROOFKEY_BFF_SAME_SITE" in result.stderr
