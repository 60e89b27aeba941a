"""How an access token was presented to the server's own protected resource (UserInfo): as
``Bearer``, or DPoP-bound as ``DPoP`` with a proof of its key (RFC 9449 §7).

After the token itself is found valid (``access.active_access_token``), in order:
1. §7.2: a DPoP-bound token (``cnf.jkt``) "received as a bearer token" MUST be rejected:
   ``invalid_token``. The ``DPoP`` scheme with an unbound token is ``invalid_token`` too.
2. Exactly one ``DPoP`` header (§4.3 point 1), verified by ``resource.dpop.verify_proof``
   (``typ``, an asymmetric ``alg`` from the allow-list, a public ``jwk``, the signature, ``htm``
   this request's method, ``htu`` the UserInfo URL of the CONFIGURED issuer — the web layer
   never builds it from ``Host`` or forwarded headers —, ``iat`` in its window, ``ath`` the
   hash of this token); otherwise ``invalid_dpop_proof`` (401 at a resource, §7.1).
3. §6.1: the proof's key thumbprint is the token's ``cnf.jkt``, or ``invalid_token`` (§7.1
   Figure 16 answers a failed key binding so).
4. The proof's ``jti`` is used once across every instance: ``ReplayStore.first_use("dpop",
   …)`` on a digest of the key thumbprint and ``jti``, kept while the proof could be accepted
   (§11.1). Last, so that a refused proof burns nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import ClassVar, Literal, cast

from proofkey.crypto import digest
from proofkey.errors import InvalidDpopProof, InvalidToken, OAuthError
from proofkey.outcomes import DPOP_REFUSALS, DpopRefusal
from proofkey.protocol.compact import parse_compact
from proofkey.protocol.dpop import FUTURE_LEEWAY, MAX_AGE, DpopError
from proofkey.resource.dpop import verify_proof
from proofkey.store.base import ReplayStore

__all__ = ["DpopProofRefused", "Presented", "bound_key", "check_presentation"]

Scheme = Literal["Bearer", "DPoP"]


class DpopProofRefused(InvalidDpopProof):
    """RFC 9449 §7.1 at a protected resource: ``invalid_dpop_proof`` with a 401 and a ``DPoP``
    challenge (the token endpoint's refusal of a proof is a 400, §5). ``detail`` holds the
    ``outcomes.DpopRefusal`` reason."""

    status_code: ClassVar[int] = 401


@dataclass(frozen=True, slots=True)
class Presented:
    """The token, its ``Authorization`` scheme, and for ``DPoP`` the ``DPoP`` header values
    and the method and configured URL of the request they must sign."""

    scheme: Scheme
    token: str
    proofs: tuple[str, ...] = ()
    method: str = "GET"
    url: str = ""


def bound_key(token: str) -> str | None:
    """``cnf.jkt`` of an access token whose signature was already verified (the minter's
    ``AccessClaims`` does not carry ``cnf``); ``InvalidToken`` if ``cnf`` is not the object
    RFC 7800 §3.1 makes it, or names another confirmation method than ``jkt``."""
    cnf = parse_compact(token).claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise InvalidToken("the access token's cnf claim is invalid")
    return jkt


def dpop_reason(refused: OAuthError) -> DpopRefusal | None:
    """The closed-set DPoP reason of a refusal by ``check_presentation``, if it was one: a
    proof refused, or a bound token presented as Bearer or with another key's proof."""
    detail = refused.detail
    if isinstance(refused, DpopProofRefused) and detail in DPOP_REFUSALS:
        return cast(DpopRefusal, detail)
    if detail == "bound_as_bearer":
        return "missing"
    return "key_mismatch" if detail == "key_mismatch" else None


async def check_presentation(presented: Presented, *, replay: ReplayStore, now: int) -> None:
    """Nothing if the (valid) token may be used the way it was presented; raise otherwise."""
    jkt = bound_key(presented.token)
    if presented.scheme == "Bearer":
        if jkt is not None:
            raise InvalidToken("the access token is DPoP-bound: send it with the DPoP scheme "
                               "and a DPoP proof", detail="bound_as_bearer")
        return
    if jkt is None:
        raise InvalidToken("the access token is not DPoP-bound; send it as a Bearer token")
    if not presented.proofs:
        raise DpopProofRefused("a DPoP proof is required", detail="missing")
    if len(presented.proofs) > 1:
        raise DpopProofRefused("send exactly one DPoP header", detail="malformed")
    try:
        proof = verify_proof(presented.proofs[0], method=presented.method, url=presented.url,
                             now=now, access_token=presented.token)
    except DpopError as error:
        raise DpopProofRefused(error.description, detail=error.reason) from None
    if not hmac.compare_digest(proof.jkt, jkt):
        raise InvalidToken("the DPoP proof's key is not the key the access token is bound to",
                           detail="key_mismatch")
    one_time = f"{proof.jkt}:{proof.jti}"  # encodable: compact refuses lone surrogates
    expires_at = max(proof.iat, now) + MAX_AGE + FUTURE_LEEWAY
    if not await replay.first_use("dpop", digest(one_time), expires_at, now):
        raise DpopProofRefused("the DPoP proof was already used", detail="replay")
