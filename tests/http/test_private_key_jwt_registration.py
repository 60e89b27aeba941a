"""private_key_jwt clients arrive by dynamic registration (RFC 7591 ``jwks``, ``jwks_uri``,
``token_endpoint_auth_method``, ``token_endpoint_auth_signing_alg``) under the one key policy
(PKL060-PKL066): what registration refuses, ``proofkey lint`` reports as an error with the same
rule, and what it accepts authenticates with assertions right away."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from proofkey.ops.tools_cli import lint
from tests.http.test_token_code_grant import app_services, assert_oauth_error
from tests.pkjwt import assertion, auth_form, es_key, jwks_of, rs_key

KEY = es_key("reg-1")
PUBLIC = jwks_of(KEY)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"registration": "open"}


def machine(**members: Any) -> dict[str, Any]:
    """A client_credentials client's metadata, authenticating with private_key_jwt."""
    doc: dict[str, Any] = {"grant_types": ["client_credentials"], "client_name": "Robot",
                           "token_endpoint_auth_method": "private_key_jwt", "jwks": PUBLIC}
    doc.update(members)
    return {k: v for k, v in doc.items() if v is not None}


async def test_a_client_registers_its_public_keys_and_authenticates_with_them(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/register", json=machine(
        token_endpoint_auth_signing_alg="ES256"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"] == PUBLIC
    assert body["token_endpoint_auth_signing_alg"] == "ES256"
    assert "client_secret" not in body  # nothing shared: the client proves its private key
    client_id = body["client_id"]
    signed = assertion(KEY, client_id, now=app_services(http).ctx.now())
    token = await http.post("/token", data={"grant_type": "client_credentials",
                                            **auth_form(signed)})
    assert token.status_code == 200, token.text
    read = await http.get(f"/register/{client_id}", headers={
        "Authorization": f"Bearer {body['registration_access_token']}"})
    assert read.json()["jwks"] == PUBLIC


async def test_a_client_registers_a_jwks_uri(http: httpx.AsyncClient) -> None:
    uri = "https://robot.example.com/.well-known/jwks.json"
    response = await http.post("/register", json=machine(jwks=None, jwks_uri=uri))
    assert response.status_code == 201, response.text
    assert response.json()["jwks_uri"] == uri
    assert "jwks" not in response.json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _small_rsa() -> dict[str, Any]:
    jwk = rs_key("small").as_dict(private=False)
    jwk["n"] = _b64(b"\xc1" + b"\x00" * 127)  # 1024 bits
    return jwk


POLICY_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "both jwks and jwks_uri": (machine(jwks_uri="https://robot.example.com/jwks"), "PKL060"),
    "a private key in jwks": (machine(jwks={"keys": [KEY.as_dict(private=True)]}), "PKL061"),
    "a symmetric key in jwks": (machine(jwks={"keys": [{"kty": "oct", "k": _b64(b"s" * 32)}]}),
                                "PKL062"),
    "an http jwks_uri": (machine(jwks=None, jwks_uri="http://robot.example.com/jwks"),
                         "PKL063"),
    "a jwks_uri with credentials": (machine(jwks=None,
                                            jwks_uri="https://u:p@robot.example.com/jwks"),
                                    "PKL063"),
    "private_key_jwt without keys": (machine(jwks=None), "PKL064"),
    "HS256 as the signing alg": (machine(token_endpoint_auth_signing_alg="HS256"), "PKL065"),
    "none as the signing alg": (machine(token_endpoint_auth_signing_alg="none"), "PKL065"),
    "an RSA key of 1024 bits": (machine(jwks={"keys": [_small_rsa()]}), "PKL066"),
    "a bare JWK instead of a set": (machine(jwks=KEY.as_dict(private=False)), "PKL066"),
    "two keys with one kid": (machine(jwks=jwks_of(KEY, es_key("reg-1"))), "PKL066"),
    "an encryption key": (machine(jwks={"keys": [{**KEY.as_dict(private=False),
                                                  "use": "enc"}]}), "PKL066"),
    "a pinned alg no key can verify": (machine(token_endpoint_auth_signing_alg="RS256"),
                                       "PKL066"),
    "an alg that does not fit the key": (machine(jwks={"keys": [{
        **KEY.as_dict(private=False), "alg": "RS256"}]}), "PKL066"),
}


@pytest.mark.parametrize("case", list(POLICY_CASES))
async def test_registration_refuses_what_lint_reports(http: httpx.AsyncClient, case: str,
                                                      tmp_path: Path) -> None:
    metadata, rule = POLICY_CASES[case]
    response = await http.post("/register", json=metadata)
    body = assert_oauth_error(response, "invalid_client_metadata")
    assert body["error_description"].endswith(f"[{rule}]"), body
    assert "\"d\"" not in response.text
    assert KEY.as_dict(private=True)["d"] not in response.text
    # The same metadata, given to `proofkey lint`: an error under the same rule.
    exported = tmp_path / "client.json"
    exported.write_text(json.dumps({"client_id": "robot", **metadata}))
    app = typer.Typer()
    app.command("lint")(lint)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["lint", "--format", "json", str(exported)])
    assert result.exit_code != 0, result.output
    issues = json.loads(result.stdout)["issues"]
    assert ("error", rule) in {(i["severity"], i["rule"]) for i in issues}, issues


async def test_lint_passes_a_good_private_key_jwt_client(tmp_path: Path) -> None:
    exported = tmp_path / "client.json"
    exported.write_text(json.dumps({"client_id": "robot", **machine()}))
    app = typer.Typer()
    app.command("lint")(lint)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["lint", "--format", "json", str(exported)])
    assert result.exit_code == 0, result.output


async def test_lint_reads_keycloak_client_jwt_clients(tmp_path: Path) -> None:
    """Keycloak calls private_key_jwt ``client-jwt`` and keeps the URL in ``jwks.url``."""
    exported = tmp_path / "realm.json"
    exported.write_text(json.dumps({"clients": [{
        "clientId": "kc-robot", "clientAuthenticatorType": "client-jwt",
        "standardFlowEnabled": False, "serviceAccountsEnabled": True,
        "attributes": {"use.jwks.url": "true", "jwks.url": "http://kc.example/certs",
                       "token.endpoint.auth.signing.alg": "HS256"}}]}))
    app = typer.Typer()
    app.command("lint")(lint)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["lint", "--format", "json", str(exported)])
    rules = {i["rule"] for i in json.loads(result.stdout)["issues"]}
    assert {"PKL063", "PKL065"} <= rules, result.stdout


async def test_a_client_moves_from_its_secret_to_keys_by_rfc7592_update(
        http: httpx.AsyncClient) -> None:
    """RFC 7592 §2.2: the update replaces the metadata; with private_key_jwt the old secret
    stops working and the client's assertions work."""
    created = (await http.post("/register", json=machine(
        token_endpoint_auth_method="client_secret_basic", jwks=None))).json()
    client_id, secret = created["client_id"], created["client_secret"]
    token = created["registration_access_token"]
    updated = await http.put(f"/register/{client_id}", json=machine(client_id=client_id),
                             headers={"Authorization": f"Bearer {token}"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in updated.json()
    by_secret = await http.post("/token", data={"grant_type": "client_credentials"},
                                auth=(client_id, secret))
    assert_oauth_error(by_secret, "invalid_client", status=401, secrets=[secret])
    signed = assertion(KEY, client_id, now=app_services(http).ctx.now())
    by_key = await http.post("/token", data={"grant_type": "client_credentials",
                                             **auth_form(signed)})
    assert by_key.status_code == 200, by_key.text
