"""The fapi2 profile's rules PKL100-PKL107 (FAPI 2.0 Security Profile, no mTLS), one rule set:
for proofkey's own clients, for ``proofkey lint --profile fapi2`` over any provider's export,
and for a dynamic client an operator put under the profile (RFC 7592 cannot update it out)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proofkey.flows.admin import AdminError, build_client
from proofkey.models import Client
from proofkey.ops.lint_client import view_of
from proofkey.protocol.client_policy import Policy, lint, view_of_client
from tests.fapi2_keys import key_kwargs
from tests.ops.test_lint import cli

REDIRECT = "https://bank.example.com/cb"
SCOPES = ("openid", "profile")


def fapi2_client(**changes: Any) -> Client:
    new = build_client("bank", client_type="confidential", redirect_uris=[REDIRECT],
                       scopes=SCOPES, supported_scopes=SCOPES, auth_method="private_key_jwt",
                       id_token_alg="ES256", require_par=True, require_dpop=True,
                       profile="fapi2", now=int(time.time()), **key_kwargs())
    return replace(new.client, **changes)


def rules(client: Client) -> set[str]:
    return {i.rule for i in lint(view_of_client(client), Policy()) if i.severity == "error"}


def test_a_client_that_meets_the_profile_has_no_finding() -> None:
    assert rules(fapi2_client()) == set()


@pytest.mark.parametrize(("changes", "rule"), [
    ({"client_type": "public", "token_endpoint_auth_method": "none"}, "PKL100"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "PKL101"),
    ({"require_pushed_authorization_requests": False}, "PKL102"),
    ({"require_dpop": False}, "PKL103"),
    ({"grant_types": frozenset({"authorization_code", "client_credentials"})}, "PKL104"),
    ({"id_token_signed_response_alg": "RS256"}, "PKL106"),
])
def test_each_requirement_has_its_rule(changes: dict[str, Any], rule: str) -> None:
    assert rule in rules(fapi2_client(**changes))
    assert rules(fapi2_client(**changes, profile="")) <= {"PKL031"}  # not without the profile


def test_registration_refuses_a_public_fapi2_client() -> None:
    with pytest.raises(AdminError) as refused:
        build_client("spa", client_type="public", redirect_uris=[REDIRECT], scopes=SCOPES,
                     supported_scopes=SCOPES, require_par=True, require_dpop=True,
                     profile="fapi2", now=0)
    assert refused.value.rule == "PKL100"


KEYCLOAK_FAPI = {
    "clientId": "kc-bank", "publicClient": False, "clientAuthenticatorType": "client-jwt",
    "redirectUris": [REDIRECT], "standardFlowEnabled": True,
    "attributes": {"pkce.code.challenge.method": "S256",
                   "require.pushed.authorization.requests": "true",
                   "dpop.bound.access.tokens": "true", "id.token.signed.response.alg": "PS256",
                   "token.endpoint.auth.signing.alg": "ES256",
                   "jwks.url": "https://bank.example.com/jwks.json"},
}


def test_lint_holds_a_keycloak_export_to_the_profile() -> None:
    view = view_of(KEYCLOAK_FAPI, "#1", profile="fapi2")
    assert view.auth_method == "private_key_jwt"  # Keycloak's "client-jwt" (Signed JWT)
    assert [i for i in lint(view, Policy()) if i.severity == "error"] == []
    strict = view_of({**KEYCLOAK_FAPI, "attributes": {**KEYCLOAK_FAPI["attributes"],  # type: ignore[dict-item]
                                     "require.pushed.authorization.requests": "false",
                                     "authorization.code.lifespan": 300}}, "#1", "fapi2")
    assert {i.rule for i in lint(strict, Policy()) if i.severity == "error"} == {
        "PKL102", "PKL107"}


def test_lint_profile_option_exits_1_on_a_client_off_the_profile(tmp_path: Path) -> None:
    export = tmp_path / "clients.json"
    export.write_text(json.dumps([{"client_id": "plain", "redirect_uris": [REDIRECT],
                                   "token_endpoint_auth_method": "client_secret_basic",
                                   "code_challenge_method": "S256"}]))
    plain = CliRunner().invoke(cli(), ["lint", str(export)])
    assert plain.exit_code == 0, plain.output
    held = CliRunner().invoke(cli(), ["lint", "--profile", "fapi2", str(export)])
    assert held.exit_code == 1
    for rule in ("PKL101", "PKL102", "PKL103"):
        assert rule in held.output
