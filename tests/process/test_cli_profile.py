"""``proofkey client add|set --profile fapi2`` as an operator runs it: the profile turns on what
it requires (PAR, DPoP, private_key_jwt, ES256 id_tokens) and the policy (PKL100-PKL107)
refuses what it forbids, naming the rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fapi2_keys import cli_key_args
from tests.process.conftest import clean_env, run_cli

REDIRECT = "https://fapi.example.com/cb"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "data")


def test_a_fapi2_client_is_confidential_with_private_key_jwt_par_and_dpop(
        env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["client", "add", "bank-app", "--confidential", "--profile", "fapi2",
                      "--redirect-uri", REDIRECT, "--json", *cli_key_args(tmp_path)], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["profile"] == "fapi2"
    assert data["type"] == "confidential"
    assert data["token_endpoint_auth_method"] == "private_key_jwt"
    assert data["require_pushed_authorization_requests"] is True
    assert data["require_dpop"] is True
    assert data["id_token_signed_response_alg"] == "ES256"
    assert "client_secret" not in data  # private_key_jwt: no shared secret


@pytest.mark.parametrize(("extra", "rule"), [
    (["--public"], "PKL100"),
    (["--confidential", "--auth-method", "client_secret_basic"], "PKL101"),
    (["--confidential", "--grant-type", "authorization_code", "--grant-type",
      "client_credentials"], "PKL104"),
    (["--confidential", "--id-token-alg", "RS256"], "PKL106"),
])
def test_what_fapi2_forbids_is_refused_with_its_rule(env: dict[str, str], extra: list[str],
                                                     rule: str, tmp_path: Path) -> None:
    keys = cli_key_args(tmp_path) if "--public" not in extra and (
        "client_secret_basic" not in extra) else []
    result = run_cli(["client", "add", "bank-app", "--profile", "fapi2", "--redirect-uri",
                      REDIRECT, *extra, *keys], env)
    assert result.returncode != 0
    assert f"[{rule}]" in result.stderr, result.stderr
    shown = run_cli(["client", "show", "bank-app"], env)
    assert shown.returncode != 0  # nothing was stored


def test_set_profile_turns_fapi2_on_only_for_a_client_that_meets_it(
        env: dict[str, str], tmp_path: Path) -> None:
    assert run_cli(["client", "add", "web", "--confidential", "--redirect-uri", REDIRECT],
                   env).returncode == 0
    refused = run_cli(["client", "set", "web", "--profile", "fapi2"], env)
    assert refused.returncode != 0
    assert "[PKL101]" in refused.stderr  # it authenticates with a secret
    kept = json.loads(run_cli(["client", "show", "web", "--json"], env).stdout)
    assert kept["profile"] == "none"
    assert kept["require_dpop"] is False

    assert run_cli(["client", "add", "jwt-app", "--confidential", "--auth-method",
                    "private_key_jwt", "--id-token-alg", "ES256", "--redirect-uri", REDIRECT,
                    *cli_key_args(tmp_path)], env).returncode == 0
    turned = run_cli(["client", "set", "jwt-app", "--profile", "fapi2", "--json"], env)
    assert turned.returncode == 0, turned.stderr
    data = json.loads(turned.stdout)
    assert (data["profile"], data["require_pushed_authorization_requests"],
            data["require_dpop"]) == ("fapi2", True, True)
    off = json.loads(run_cli(["client", "set", "jwt-app", "--profile", "none", "--json"],
                             env).stdout)
    assert off["profile"] == "none"
