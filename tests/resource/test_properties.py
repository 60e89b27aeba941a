"""Property tests: whatever arrives as a token, the verifier answers with a bearer error or
with the claims the issuer signed, never with anything else."""

from __future__ import annotations

import asyncio
import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofkey.resource import (
    AccessTokenClaims,
    BearerTokenError,
    InvalidDpopProofError,
    Presentation,
    TokenVerifier,
)
from tests.resource.conftest import AUDIENCE, ISSUER, Issuer, dpop_proof, new_key, sign, thumbprint

KEY = new_key("ec", "default")
TOKEN = sign(KEY, exp=2**40)
_ALPHABET = string.ascii_letters + string.digits + "-_.=+/ "


def _verify(token: str) -> object:
    async def run() -> object:
        issuer = Issuer([KEY])
        async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as http:
            verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http)
            try:
                return await verifier.verify(token)
            except BearerTokenError as error:
                return error
    return asyncio.run(run())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET, max_size=300) | st.text(max_size=100))
def test_any_string_is_a_bearer_error(token: str) -> None:
    assert isinstance(_verify(token), BearerTokenError)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1),
       st.sampled_from(string.ascii_letters + string.digits + "-_"))
def test_a_token_changed_in_one_place_is_refused_or_means_the_same(position: int,
                                                                   char: str) -> None:
    """Base64url's last character has spare bits, so a change may decode to the same bytes;
    then, and only then, the token still verifies, to the same claims."""
    changed = TOKEN[:position] + char + TOKEN[position + 1:]
    result = _verify(changed)
    original = _verify(TOKEN)
    assert isinstance(result, BearerTokenError) or result == original


BOUND_KEY = new_key("ec", "client")
BOUND = sign(KEY, exp=2**40, cnf={"jkt": thumbprint(BOUND_KEY)})


def _verify_dpop(token: str, proofs: tuple[str, ...]) -> object:
    async def run() -> object:
        issuer = Issuer([KEY])
        async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as http:
            verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http)
            try:
                return await verifier.verify(token, presentation=Presentation(
                    "DPoP", proofs, "GET", AUDIENCE))
            except BearerTokenError as error:
                return error
    return asyncio.run(run())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=_ALPHABET, max_size=300) | st.text(max_size=100),
                max_size=2))
def test_any_dpop_header_is_a_dpop_error_for_a_bound_token(proofs: list[str]) -> None:
    assert isinstance(_verify_dpop(BOUND, tuple(proofs)), InvalidDpopProofError)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]),
                       st.none() | st.booleans() | st.integers() | st.floats()
                       | st.text(max_size=40) | st.lists(st.integers(), max_size=2)))
def test_any_proof_claims_are_refused_or_accepted_never_a_crash(claims: dict[str, object]) -> None:
    proof = dpop_proof(BOUND_KEY, token=BOUND, **claims)
    result = _verify_dpop(BOUND, (proof,))
    assert isinstance(result, InvalidDpopProofError | AccessTokenClaims)
