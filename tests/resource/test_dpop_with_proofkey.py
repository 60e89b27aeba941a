"""The kit and proofkey together on DPoP-bound tokens (RFC 9449 §6): a token proofkey binds to
a key is accepted by the kit, verified locally or by introspection (whose answer carries the
``cnf``), only with a proof of that key, and never as a bearer token."""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import ECKey

from proofkey.resource import (
    IntrospectionVerifier,
    InvalidDpopProofError,
    InvalidTokenError,
    Presentation,
    TokenVerifier,
    Verifier,
)
from tests.helpers import ISSUER, WEB_ID
from tests.http.test_token_code_grant import app_services
from tests.resource.conftest import dpop_proof, thumbprint

API = "http://127.0.0.1:9000/api"
KEY = ECKey.generate_key("P-256")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"access_token_audience": API}


def bound_token(http: httpx.AsyncClient) -> str:
    services = app_services(http)
    return services.minter.access_token(
        client_id=WEB_ID, subject=None, scope="profile", grant_id=None, auth_time=None,
        now=int(services.ctx.now()), jkt=thumbprint(KEY)).token


async def check(verifier: Verifier, token: str) -> None:
    url = f"{API}/orders"
    proof = dpop_proof(KEY, method="POST", url=url, token=token)
    claims = await verifier.verify(token, required_scopes=["profile"],
                                   presentation=Presentation.dpop(proof, method="POST", url=url))
    assert (claims.client_id, claims.jkt) == (WEB_ID, thumbprint(KEY))
    with pytest.raises(InvalidDpopProofError, match="already used"):
        await verifier.verify(token, presentation=Presentation.dpop(proof, method="POST",
                                                                    url=url))
    with pytest.raises(InvalidTokenError, match="DPoP-bound"):
        await verifier.verify(token)
    stranger = ECKey.generate_key("P-256")
    with pytest.raises(InvalidTokenError, match="bound to"):
        await verifier.verify(token, presentation=Presentation.dpop(
            dpop_proof(stranger, method="POST", url=url, token=token), method="POST",
            url=url))


async def test_a_bound_proofkey_token_verifies_locally_only_with_its_proof(
        http: httpx.AsyncClient) -> None:
    await check(TokenVerifier(issuer=ISSUER, audience=API, http=http), bound_token(http))


async def test_a_bound_proofkey_token_verifies_by_introspection_only_with_its_proof(
        http: httpx.AsyncClient, web_secret: str) -> None:
    verifier = IntrospectionVerifier(issuer=ISSUER, audience=API, client_id=WEB_ID,
                                     client_secret=web_secret, http=http)
    await check(verifier, bound_token(http))
