"""Property tests: whatever arrives as a token, the verifier answers with a bearer error or
with the claims the issuer signed, never with anything else."""

from __future__ import annotations

import asyncio
import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofkey.resource import BearerTokenError, TokenVerifier
from tests.resource.conftest import AUDIENCE, ISSUER, Issuer, new_key, sign

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
