"""DPoP-bound access tokens at the resource (RFC 9449 §7): the proof against the token.

After the token itself is verified (signature or introspection, claims), ``DpopPolicy.check``
decides, in order:
1. A token bound to a key (``cnf.jkt``) that arrived as ``Bearer`` is ``invalid_token``
   (§7.2: a resource supporting both schemes "MUST reject a DPoP-bound access token received
   as a bearer token"); so is any bearer token when the policy ``required`` DPoP.
2. The ``DPoP`` scheme with an unbound token is ``invalid_token``: there is no key to prove.
3. The ``DPoP`` header must be there, once (§4.3 point 1), and valid (``resource.dpop.
   verify_proof``: ``typ``, an asymmetric ``alg`` from the allow-list, a public ``jwk``, the
   signature, ``htm`` and ``htu`` of this request, ``iat`` in its window, ``ath`` the hash of
   this token); otherwise ``invalid_dpop_proof``.
4. §6.1: the proof's key thumbprint equals the token's ``cnf.jkt``, or ``invalid_token``
   (§7.1 Figure 16 answers a failed key binding with ``invalid_token``).
5. With nonces on, the proof's ``nonce`` is a recent one, or ``use_dpop_nonce`` with a fresh
   nonce (§9).
6. The proof's ``jti`` is used once: its digest goes to the ``ReplayCache`` until the proof's
   window ends (§11.1); a second use is ``invalid_dpop_proof``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from proofkey.protocol.dpop import DPOP_ALGORITHMS, DpopError

from .claims import AccessTokenClaims
from .dpop import verify_proof
from .errors import InvalidDpopProofError, InvalidTokenError, UseDpopNonceError
from .keys import ASYMMETRIC_ALGORITHMS
from .nonces import NonceSource
from .replay import MemoryReplayCache, ReplayCache

__all__ = ["BEARER", "DpopPolicy", "Presentation"]

Scheme = Literal["Bearer", "DPoP"]


@dataclass(frozen=True, slots=True)
class Presentation:
    """How a token arrived: its ``Authorization`` scheme and, for ``DPoP``, the ``DPoP``
    header values and the request they must sign. ``url`` is the request's URL as this
    resource knows itself (its configured origin and the request path), never one built from
    ``Host`` or forwarded headers, which a client chooses."""

    scheme: Scheme
    proofs: tuple[str, ...] = ()
    method: str = "GET"
    url: str = ""

    @classmethod
    def dpop(cls, proof: str | None, *, method: str, url: str) -> Presentation:
        """A ``DPoP``-scheme request with (at most) one ``DPoP`` header."""
        return cls("DPoP", () if proof is None else (proof,), method, url)


BEARER = Presentation("Bearer")


class DpopPolicy:
    """What this resource accepts. By default both schemes (bound tokens only with a valid
    proof), proofs signed with ``protocol.dpop.DPOP_ALGORITHMS``, ``jti`` remembered in a
    per-process ``MemoryReplayCache``, no nonces. ``required=True`` refuses bearer tokens."""

    def __init__(self, *, required: bool = False,
                 algorithms: Iterable[str] = DPOP_ALGORITHMS,
                 replay: ReplayCache | None = None, nonces: NonceSource | None = None,
                 max_age: int = 300, future_leeway: int = 5) -> None:
        self.required = required
        self.algorithms = tuple(dict.fromkeys(algorithms))
        refused = [alg for alg in self.algorithms if alg not in ASYMMETRIC_ALGORITHMS]
        if refused or not self.algorithms:
            raise ValueError(f"not asymmetric JWS algorithms the kit accepts: {refused}")
        self.replay: ReplayCache = replay if replay is not None else MemoryReplayCache()
        self.nonces = nonces
        self.max_age = max_age
        self.future_leeway = future_leeway

    @property
    def algs(self) -> str:
        """The ``algs`` of a ``DPoP`` challenge (§7.1): space-delimited."""
        return " ".join(self.algorithms)

    async def check(self, claims: AccessTokenClaims, token: str, presented: Presentation, *,
                    now: float) -> None:
        """Nothing if ``token`` (whose verified ``claims`` these are) may be used this way;
        a ``BearerTokenError`` subclass says why not."""
        if presented.scheme == "Bearer":
            if claims.jkt is not None:
                raise InvalidTokenError("the access token is DPoP-bound: send it with the DPoP "
                                        "scheme and a DPoP proof")
            if self.required:
                raise InvalidTokenError("this resource accepts only DPoP-bound access tokens")
            return
        if claims.jkt is None:
            raise InvalidTokenError("the access token is not DPoP-bound; send it as a Bearer "
                                    "token")
        if not presented.proofs:
            raise InvalidDpopProofError("a DPoP proof is required", reason="missing")
        if len(presented.proofs) > 1:
            raise InvalidDpopProofError("send exactly one DPoP header", reason="malformed")
        try:
            proof = verify_proof(presented.proofs[0], method=presented.method,
                                 url=presented.url, now=int(now), algorithms=self.algorithms,
                                 access_token=token, max_age=self.max_age,
                                 future_leeway=self.future_leeway)
        except DpopError as error:
            raise InvalidDpopProofError(error.description, reason=error.reason) from None
        if not hmac.compare_digest(proof.jkt, claims.jkt):
            raise InvalidTokenError("the DPoP proof's key is not the key the access token is "
                                    "bound to")
        if self.nonces is not None and (proof.nonce is None
                                        or not self.nonces.accepts(proof.nonce)):
            raise UseDpopNonceError("this resource requires its nonce in the DPoP proof",
                                    nonce=self.nonces.current())
        one_time = f"{proof.jkt}:{proof.jti}".encode("utf-8", "surrogatepass")
        key = hashlib.sha256(one_time).hexdigest()
        if not await self.replay.first_use(key, proof.iat + self.max_age + self.future_leeway):
            raise InvalidDpopProofError("the DPoP proof was already used", reason="replay")
