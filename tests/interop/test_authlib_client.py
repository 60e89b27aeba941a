"""Authlib's ``OAuth2Session``, a widely used third-party client, against ``proofkey serve``.

Authlib does discovery, PKCE (S256), the code exchange, refresh, userinfo and revocation with
its own code; a plain httpx client with cookies plays the user's browser in between. The
id_token is verified the way an Authlib relying party does: joserfc against the JWKS, then
Authlib's OIDC ``CodeIDToken`` claim rules (iss, aud, exp, nonce, at_hash).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.interop.conftest import sign_in_at_proofkey
from tests.process.conftest import ServerProcess, running_server, seed

pytestmark = pytest.mark.interop

PUBLIC_ID = "authlib-native"
PUBLIC_REDIRECT = "http://127.0.0.1:53682/callback"
CONFIDENTIAL_ID = "authlib-web"
CONFIDENTIAL_REDIRECT = "https://rp.example.com/oidc/callback"
USERNAME = "ada"
PASSWORD = "analytical engine 1843"
SCOPE = "openid profile email"


@dataclass
class Provider:
    server: ServerProcess
    metadata: dict[str, Any]
    web_secret: str


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    data_dir = tmp_path_factory.mktemp("interop") / "data"
    secrets = seed(data_dir, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]},
                   confidential_clients={CONFIDENTIAL_ID: [CONFIDENTIAL_REDIRECT]},
                   users={USERNAME: PASSWORD})
    with running_server(Path(data_dir)) as server:
        metadata = httpx.get(f"{server.base_url}/.well-known/openid-configuration",
                             timeout=10).json()
        yield Provider(server, metadata, secrets[CONFIDENTIAL_ID])


def public_client(provider: Provider) -> OAuth2Session:
    return OAuth2Session(client_id=PUBLIC_ID, redirect_uri=PUBLIC_REDIRECT, scope=SCOPE,
                         code_challenge_method="S256", token_endpoint_auth_method="none")


def sign_in_and_consent(provider: Provider, authorization_url: str, *,
                        decision: str = "allow") -> str:
    """Play the browser: sign in, answer consent; return the client's redirect URL."""
    return sign_in_at_proofkey(provider.server.base_url, authorization_url, username=USERNAME,
                               password=PASSWORD, decision=decision)


def redeem(client: OAuth2Session, metadata: dict[str, Any], callback: str, verifier: str,
           state: str) -> dict[str, Any]:
    """Authlib's own code exchange: it parses the callback URL and checks ``state``."""
    token: dict[str, Any] = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier,
        state=state, timeout=10)
    return token


def verify_id_token(provider: Provider, token: dict[str, Any], nonce: str,
                    client_id: str = PUBLIC_ID) -> CodeIDToken:
    jwks = httpx.get(provider.metadata["jwks_uri"], timeout=10).json()
    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks),
                         algorithms=provider.metadata["id_token_signing_alg_values_supported"])
    claims = CodeIDToken(decoded.claims, decoded.header,
                         {"iss": {"essential": True, "value": provider.metadata["issuer"]}},
                         {"nonce": nonce, "client_id": client_id,
                          "access_token": token["access_token"]})
    claims.validate()
    return claims


def test_discovery_describes_a_pkce_s256_only_provider(provider: Provider) -> None:
    metadata = provider.metadata
    assert metadata["issuer"] == provider.server.base_url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_endpoint"] == f"{provider.server.base_url}/authorize"
    assert "openid" in metadata["scopes_supported"]


def test_authlib_runs_the_whole_code_flow_with_pkce_refresh_userinfo_and_revocation(
        provider: Provider) -> None:
    metadata = provider.metadata
    verifier = generate_token(64)
    nonce = generate_token(20)
    with public_client(provider) as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["code_challenge"][0] != verifier

        callback = sign_in_and_consent(provider, url)
        returned = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        assert callback.startswith(PUBLIC_REDIRECT + "?")
        assert returned["state"] == state
        assert returned["iss"] == metadata["issuer"]  # RFC 9207

        token = redeem(client, metadata, callback, verifier, state)
        assert token["token_type"].lower() == "bearer"
        assert {"access_token", "refresh_token", "id_token", "expires_at"} <= set(token)

        claims = verify_id_token(provider, token, nonce)
        info = client.get(metadata["userinfo_endpoint"], timeout=10)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == claims["sub"]
        assert info.json()["preferred_username"] == USERNAME

        first_refresh = token["refresh_token"]
        refreshed = client.refresh_token(metadata["token_endpoint"], timeout=10)
        assert refreshed["access_token"] != token["access_token"]
        assert refreshed["refresh_token"] != first_refresh, "refresh tokens rotate"
        assert client.get(metadata["userinfo_endpoint"], timeout=10).status_code == 200

        revoked = client.revoke_token(metadata["revocation_endpoint"],
                                      token=refreshed["refresh_token"],
                                      token_type_hint="refresh_token", timeout=10)
        assert revoked.status_code == 200, revoked.text
        with pytest.raises(OAuthError) as refused:
            client.refresh_token(metadata["token_endpoint"], timeout=10)
        assert refused.value.error == "invalid_grant"
        # RFC 7009 §2.1: revoking the refresh token also ends its access tokens here.
        assert client.get(metadata["userinfo_endpoint"], timeout=10).status_code == 401


def test_authlib_with_the_wrong_code_verifier_gets_invalid_grant_and_the_code_is_spent(
        provider: Provider) -> None:
    metadata = provider.metadata
    verifier = generate_token(64)
    with public_client(provider) as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(20))
        callback = sign_in_and_consent(provider, url)
        with pytest.raises(OAuthError) as refused:
            redeem(client, metadata, callback, generate_token(64), state)
        assert refused.value.error == "invalid_grant"
        # Consume-then-verify: the one attempt is gone, the right verifier is too late now.
        with pytest.raises(OAuthError) as again:
            redeem(client, metadata, callback, verifier, state)
        assert again.value.error == "invalid_grant"


def test_a_denied_consent_comes_back_to_authlib_as_access_denied(provider: Provider) -> None:
    with public_client(provider) as client:
        url, state = client.create_authorization_url(
            provider.metadata["authorization_endpoint"], code_verifier=generate_token(64),
            prompt="consent")  # an earlier test's consent is remembered; ask again
        callback = sign_in_and_consent(provider, url, decision="deny")
    returned = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert returned["error"] == "access_denied"
    assert returned["state"] == state
    assert "code" not in returned


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_a_confidential_authlib_client_authenticates_and_still_uses_pkce(
        provider: Provider, auth_method: str) -> None:
    metadata = provider.metadata
    verifier = generate_token(64)
    nonce = generate_token(20)
    client = OAuth2Session(client_id=CONFIDENTIAL_ID, client_secret=provider.web_secret,
                           redirect_uri=CONFIDENTIAL_REDIRECT, scope=SCOPE,
                           code_challenge_method="S256", token_endpoint_auth_method=auth_method)
    with client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        callback = sign_in_and_consent(provider, url)
        if auth_method == "client_secret_post":
            # The client was registered for client_secret_basic: the other method is refused.
            with pytest.raises(OAuthError) as refused:
                redeem(client, metadata, callback, verifier, state)
            assert refused.value.error == "invalid_client"
            return
        token = redeem(client, metadata, callback, verifier, state)
        verify_id_token(provider, token, nonce, client_id=CONFIDENTIAL_ID)
        introspected = client.introspect_token(metadata["introspection_endpoint"],
                                               token=token["access_token"], timeout=10)
        assert introspected.status_code == 200, introspected.text
        assert introspected.json()["active"] is True
        assert introspected.json()["client_id"] == CONFIDENTIAL_ID
