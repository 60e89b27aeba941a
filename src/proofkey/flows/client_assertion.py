"""private_key_jwt (RFC 7523 §2.2, §3; OIDC Core §9): does a client assertion authenticate
the client? One ordered list of checks:

1. the client's keys (``client_keys``: inline ``jwks`` or its ``jwks_uri``, cached);
2. the signature (``tokens/client_assertion``): bounded parse, asymmetric ``alg`` (the client's
   registered ``token_endpoint_auth_signing_alg`` if any), the key by ``kid`` or the only
   fitting one. No such key: the ``jwks_uri`` set is refetched once (rate limited) and tried
   again, so a client that rotated its keys keeps working;
3. the claims (``protocol/client_assertion``): ``iss`` = ``sub`` = client_id, ``aud`` = the
   issuer identifier, ``exp`` present and bounded, ``nbf``/``iat`` not in the future, ``jti``;
4. single use, last (only a verified assertion takes a replay record): the digest of the
   client id and the ``jti`` goes through ``ReplayStore.first_use``, shared by every instance,
   kept until the assertion could no longer be accepted. Of N concurrent uses exactly one
   passes.

Every refusal is ``AssertionRefused`` with a closed ``reason``; ``client_auth`` answers it as
``invalid_client`` and counts it like a wrong secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.crypto import digest
from proofkey.models import Client
from proofkey.protocol.client_assertion import (
    CLIENT_ASSERTION_ALGORITHMS,
    AssertionRefused,
    check_assertion_claims,
)
from proofkey.store.base import ReplayStore
from proofkey.tokens.client_assertion import verify_assertion_signature

from .client_keys import ClientKeySets

__all__ = ["REPLAY_KIND", "ClientAssertions"]

REPLAY_KIND = "client_assertion"


@dataclass(frozen=True, slots=True)
class ClientAssertions:
    """What verifying an assertion needs: the key sets, the shared replay records, the bound
    on ``exp`` (``PROOFKEY_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS``)."""

    keys: ClientKeySets
    replay: ReplayStore
    max_lifetime: int = 300

    async def verify(self, client: Client, assertion: str, *, issuer: str, now: int) -> None:
        """Return if ``assertion`` authenticates ``client``; raise ``AssertionRefused``."""
        algorithms = ((client.token_endpoint_auth_signing_alg,)
                      if client.token_endpoint_auth_signing_alg else CLIENT_ASSERTION_ALGORITHMS)
        keys = await self.keys.keys(client)
        try:
            claims = verify_assertion_signature(assertion, keys, algorithms=algorithms)
        except AssertionRefused as refused:
            if refused.reason != "key" or not client.jwks_uri:
                raise
            keys = await self.keys.keys(client, unknown_kid=True)  # rotated? (rate limited)
            claims = verify_assertion_signature(assertion, keys, algorithms=algorithms)
        checked = check_assertion_claims(claims, client_id=client.client_id, issuer=issuer,
                                         now=now, max_lifetime=self.max_lifetime)
        # The id and the jti are joined with a NUL, which neither can hold unambiguously
        # as text from a form: ("a", "bc") and ("ab", "c") stay apart.
        one_time = digest(f"{client.client_id}\x00{checked.jti}")
        if not await self.replay.first_use(REPLAY_KIND, one_time, checked.replay_until, now):
            raise AssertionRefused("replay", "the client assertion was used before (jti)")
