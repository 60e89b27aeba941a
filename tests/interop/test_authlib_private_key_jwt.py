"""Third-party clients authenticating to ``proofkey serve`` with private_key_jwt (RFC 7523
§2.2) at the token, introspection and revocation endpoints, each signing its own assertions
(ES256 and RS256 keys): Authlib's ``PrivateKeyJWT`` and openid-client v6's ``PrivateKeyJwt``.

openid-client works as it comes, against a server with default settings. Two Authlib defaults
do not fit proofkey's rules, and the tests say so:

* the audience: Authlib signs ``aud`` = the URL it posts to (the token endpoint). proofkey
  accepts only the issuer identifier (draft-ietf-oauth-rfc7523bis: an endpoint URL taken from
  metadata can be one a malicious server chose), so the client passes the issuer as Authlib's
  ``token_endpoint`` (the value it puts in ``aud``), as openid-client does on its own;
* the lifetime: Authlib's ``exp`` is an hour ahead; this server runs with
  ``PROOFKEY_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS=3600`` (the default, 300, refuses them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from proofkey.flows.admin import register_client
from proofkey.store.base import Store
from tests.interop.conftest import run_node_script
from tests.pkjwt import es_key, jwks_of, rs_key
from tests.process.conftest import ServerProcess, running_server, with_store

pytestmark = pytest.mark.interop

ES_ID, RS_ID = "authlib-robot-es", "authlib-robot-rs"
ES_KEY, RS_KEY = es_key("authlib-es"), rs_key("authlib-rs")


@dataclass
class Provider:
    server: ServerProcess
    metadata: dict[str, Any]


def _seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = Path(tmp_path_factory.mktemp("pkjwt") / "data")
    data_dir.mkdir(parents=True)

    async def seed(store: Store) -> None:
        await store.migrate()
        scopes = ("openid", "profile")
        for client_id, key in ((ES_ID, ES_KEY), (RS_ID, RS_KEY)):
            await register_client(store, client_id, client_type="confidential",
                                  redirect_uris=[], scopes=scopes, supported_scopes=scopes,
                                  grant_types=["client_credentials"],
                                  jwks=json.dumps(jwks_of(key)), now=0)

    with_store(data_dir, seed)
    return data_dir


def _provider(server: ServerProcess) -> Provider:
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server",
                         timeout=10).json()
    return Provider(server, metadata)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A server that takes assertions valid for up to an hour (Authlib's default)."""
    with running_server(_seeded(tmp_path_factory), settings={
            "client_assertion_max_lifetime_seconds": "3600"}) as server:
        yield _provider(server)


@pytest.fixture(scope="module")
def default_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A server with the default settings (assertions at most 5 minutes ahead)."""
    with running_server(_seeded(tmp_path_factory)) as server:
        yield _provider(server)


def session(client_id: str, key: ECKey | RSAKey, *, audience: str | None) -> OAuth2Session:
    """Authlib's client; ``audience`` is what Authlib signs as ``aud`` (None: its default,
    the URL of the request)."""
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    client = OAuth2Session(client_id=client_id, client_secret=key,
                           token_endpoint_auth_method="private_key_jwt",
                           revocation_endpoint_auth_method="private_key_jwt", scope="profile")
    client.register_client_auth_method(PrivateKeyJWT(audience, alg=alg))
    return client


@pytest.mark.parametrize(("client_id", "key"), [(ES_ID, ES_KEY), (RS_ID, RS_KEY)])
def test_authlib_authenticates_at_token_introspection_and_revocation(
        provider: Provider, client_id: str, key: ECKey | RSAKey) -> None:
    metadata = provider.metadata
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    client = session(client_id, key, audience=metadata["issuer"])
    token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    described = client.introspect_token(metadata["introspection_endpoint"],
                                        token=token["access_token"])
    assert described.status_code == 200, described.text
    assert described.json()["active"] is True
    assert described.json()["client_id"] == client_id
    revoked = client.revoke_token(metadata["revocation_endpoint"],
                                  token=token["access_token"], token_type_hint="access_token")
    assert revoked.status_code == 200, revoked.text
    after = client.introspect_token(metadata["introspection_endpoint"],
                                    token=token["access_token"])
    assert after.json() == {"active": False}


def test_authlibs_default_audience_the_token_endpoint_is_refused(provider: Provider) -> None:
    client = session(ES_ID, ES_KEY, audience=None)
    with pytest.raises(OAuthError) as refused:
        client.fetch_token(provider.metadata["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert "aud must be the issuer" in str(refused.value.description)


# -- openid-client v6 (npm) -----------------------------------------------------------------------

@pytest.mark.parametrize(("client_id", "key"), [(ES_ID, ES_KEY), (RS_ID, RS_KEY)])
def test_openid_client_authenticates_with_private_key_jwt(
        default_provider: Provider, node_runtime: str, client_id: str,
        key: ECKey | RSAKey) -> None:
    """openid-client signs its own assertions (aud = the issuer, a short exp): no setting."""
    result = run_node_script(node_runtime, "openid_client_private_key_jwt.mjs", [], {
        "issuer": default_provider.metadata["issuer"], "client_id": client_id,
        "private_jwk": key.as_dict(private=True), "scope": "profile"})
    assert result["ok"] is True, result
    steps = result["steps"]
    assert steps["token_type"].lower() == "bearer"
    assert steps["introspection"]["active"] is True
    assert steps["introspection"]["client_id"] == client_id
    assert steps["after"] == {"active": False}
