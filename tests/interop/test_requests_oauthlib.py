"""requests-oauthlib's ``OAuth2Session`` (PyPI) against ``proofkey serve``.

requests-oauthlib is plain OAuth 2.0 (no OIDC): it builds the authorization URL with PKCE
(``pkce="S256"``), checks ``state`` when it parses the callback, redeems the code with its
verifier, refreshes (by hand and automatically when the access token has expired) and attaches
the bearer token to resource requests. Discovery is a GET through the same session; the
id_token check an RP would add on top (signature, iss, aud, nonce) uses joserfc. oauthlib
refuses plain http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set: these tests set it, and
everything they talk to is on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from oauthlib.oauth2 import InvalidGrantError
from requests_oauthlib import OAuth2Session

from tests.interop.conftest import (
    OAUTHLIB_ID,
    OAUTHLIB_REDIRECT,
    USERNAME,
    ProofkeyProvider,
    sign_in_at_proofkey,
)

pytestmark = pytest.mark.interop

SCOPE = ["openid", "profile", "email"]


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def session() -> Iterator[OAuth2Session]:
    with OAuth2Session(OAUTHLIB_ID, redirect_uri=OAUTHLIB_REDIRECT, scope=SCOPE,
                       pkce="S256") as client:
        yield client


def discover(session: OAuth2Session, provider: ProofkeyProvider) -> dict[str, Any]:
    response = session.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200, response.text
    metadata: dict[str, Any] = response.json()
    assert metadata["issuer"] == provider.issuer
    return metadata


def fetch_token(session: OAuth2Session, metadata: dict[str, Any],
                callback: str) -> dict[str, Any]:
    # A public client: client_id goes in the body (include_client_id), no Basic header.
    token: dict[str, Any] = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, include_client_id=True,
        timeout=10)
    return token


def id_token_claims(session: OAuth2Session, metadata: dict[str, Any], id_token: str,
                    nonce: str) -> dict[str, Any]:
    jwks = session.get(metadata["jwks_uri"], timeout=10).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks),
                         algorithms=metadata["id_token_signing_alg_values_supported"])
    claims = dict(decoded.claims)
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": metadata["issuer"]},
                          aud={"essential": True, "value": OAUTHLIB_ID},
                          nonce={"essential": True, "value": nonce}).validate(claims)
    return claims


def test_requests_oauthlib_runs_discovery_pkce_code_exchange_refresh_and_userinfo(
        session: OAuth2Session, proofkey_provider: ProofkeyProvider) -> None:
    metadata = discover(session, proofkey_provider)
    assert "S256" in metadata["code_challenge_methods_supported"]
    nonce = "n-" + str(time.time_ns())
    url, state = session.authorization_url(metadata["authorization_endpoint"], nonce=nonce)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] == state

    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, url)
    returned = dict(parse_qsl(urlsplit(callback).query))
    assert returned["iss"] == metadata["issuer"]  # RFC 9207; requests-oauthlib ignores it

    token = fetch_token(session, metadata, callback)  # checks state, sends the verifier
    assert token["token_type"].lower() == "bearer"
    assert {"access_token", "refresh_token", "id_token", "expires_at"} <= set(token)
    claims = id_token_claims(session, metadata, token["id_token"], nonce)

    info = session.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["preferred_username"] == USERNAME

    refreshed = session.refresh_token(metadata["token_endpoint"], client_id=OAUTHLIB_ID,
                                      timeout=10)
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"], "refresh tokens rotate"
    info = session.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]

    with pytest.raises(InvalidGrantError):  # the spent refresh token
        session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"],
                              client_id=OAUTHLIB_ID, timeout=10)


def test_requests_oauthlib_refreshes_an_expired_access_token_by_itself(
        proofkey_provider: ProofkeyProvider) -> None:
    updates: list[dict[str, Any]] = []
    with OAuth2Session(OAUTHLIB_ID, redirect_uri=OAUTHLIB_REDIRECT, scope=SCOPE, pkce="S256",
                       token_updater=updates.append) as session:
        metadata = discover(session, proofkey_provider)
        session.auto_refresh_url = metadata["token_endpoint"]
        session.auto_refresh_kwargs = {"client_id": OAUTHLIB_ID}
        url, _ = session.authorization_url(metadata["authorization_endpoint"])
        token = fetch_token(session, metadata,
                            sign_in_at_proofkey(proofkey_provider.server.base_url, url))
        session.token = {**token, "expires_at": time.time() - 5}  # pretend it ran out

        info = session.get(metadata["userinfo_endpoint"], timeout=10)

    assert info.status_code == 200, info.text
    assert len(updates) == 1
    assert updates[0]["refresh_token"] != token["refresh_token"]
    assert updates[0]["access_token"] != token["access_token"]


def test_requests_oauthlib_with_the_wrong_verifier_gets_invalid_grant(
        session: OAuth2Session, proofkey_provider: ProofkeyProvider) -> None:
    metadata = discover(session, proofkey_provider)
    url, _ = session.authorization_url(metadata["authorization_endpoint"])
    callback = sign_in_at_proofkey(proofkey_provider.server.base_url, url)
    session._code_verifier = session._client.create_code_verifier(43)  # not the one sent
    with pytest.raises(InvalidGrantError):
        fetch_token(session, metadata, callback)
