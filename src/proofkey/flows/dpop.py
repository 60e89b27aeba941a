"""DPoP at the token endpoint and PAR (RFC 9449 §4.3, §5, §8, §10.1): the proof's checks in
order.

1. At most one ``DPoP`` header (§4.3: "there is not more than one DPoP HTTP request header
   field"); none is fine unless the client must use DPoP (``require_dpop``, §5.2).
2. ``resource.dpop.verify_proof``: syntax, ``typ``, the algorithm allow-list, a public JWK,
   the signature, ``htm`` POST and ``htu`` the token endpoint of the CONFIGURED issuer (never a
   Host or forwarded header; ``/par`` there), the ``iat`` window.
3. With nonces on, the proof's ``nonce`` is this slot's or the previous one's
   (``protocol.dpop_nonce``), else ``use_dpop_nonce`` with the current one.
4. Its ``jti`` is used once across every instance: ``ReplayStore.first_use`` on its digest,
   kept as long as a proof with that ``iat`` could be accepted. Last, so that a proof refused
   for any other reason burns nothing.

Every refusal is emitted as ``DpopRefused`` with the closed reason, and raised as
``invalid_dpop_proof`` (400) or ``use_dpop_nonce`` (400, ``DPoP-Nonce`` header).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from proofkey.crypto import digest, fingerprint
from proofkey.errors import InvalidDpopProof, UseDpopNonce
from proofkey.models import Client
from proofkey.observability.events import DpopRefused
from proofkey.outcomes import DpopRefusal
from proofkey.protocol.dpop import FUTURE_LEEWAY, MAX_AGE, DpopError, DpopProof
from proofkey.protocol.dpop_nonce import NONCE_SECRET_BYTES, current_nonce, nonce_is_valid
from proofkey.resource.dpop import verify_proof
from proofkey.store.base import DpopSecretStore, ReplayStore

from .context import Context

__all__ = ["DpopGate"]


@dataclass(slots=True)
class DpopGate:
    """Checks the token endpoint's DPoP proofs; one per app (the nonce secret is cached)."""

    replay: ReplayStore
    secrets: DpopSecretStore
    issuer: str  # the configured issuer: endpoint URLs (RFC 9449 §4.3 htu) start with it
    nonces: bool = False
    nonce_period: int = 300
    _secret: bytes | None = field(default=None, repr=False)

    async def nonce(self, now: int) -> str | None:
        """The nonce to send in ``DPoP-Nonce``, or None when nonces are off."""
        if not self.nonces:
            return None
        return current_nonce(await self._nonce_secret(now), now, self.nonce_period)

    async def check(self, headers: Sequence[str], client: Client, ctx: Context, *,
                    path: str = "/token") -> DpopProof | None:
        """The verified proof of a POST to ``path`` (``/token``, or ``/par`` where a proof is
        optional even for ``require_dpop`` clients), None if it has none; raise on any
        refusal."""
        if len(headers) > 1:
            _refuse(client, "malformed", "more than one DPoP header", ctx)
        if not headers:
            if client.require_dpop and path == "/token":
                _refuse(client, "missing", "this client must send a DPoP proof", ctx)
            return None
        now = ctx.now()
        try:
            proof = verify_proof(headers[0], method="POST", url=self.issuer + path, now=now,
                                 max_age=MAX_AGE, future_leeway=FUTURE_LEEWAY)
        except DpopError as error:
            _refuse(client, error.reason, error.description, ctx)
        if self.nonces:
            secret = await self._nonce_secret(now)
            if not nonce_is_valid(secret, proof.nonce, now, self.nonce_period):
                ctx.bus.emit(DpopRefused(client.client_id, "nonce", fingerprint(proof.jkt)))
                raise UseDpopNonce("the DPoP proof must carry the server's current nonce",
                                   nonce=current_nonce(secret, now, self.nonce_period),
                                   detail="nonce")
        # Kept until no proof with this iat can be accepted any more.
        expires_at = max(proof.iat, now) + MAX_AGE + FUTURE_LEEWAY
        if not await self.replay.first_use("dpop", digest(proof.jti), expires_at, now):
            _refuse(client, "replay", "the DPoP proof was used before", ctx,
                    key=proof.jkt)
        return proof

    async def _nonce_secret(self, now: int) -> bytes:
        if self._secret is None:
            stored = await self.secrets.dpop_nonce_secret(
                secrets.token_hex(NONCE_SECRET_BYTES), now)
            self._secret = bytes.fromhex(stored)
        return self._secret


def _refuse(client: Client, reason: DpopRefusal, description: str, ctx: Context, *,
            key: str | None = None) -> NoReturn:
    ctx.bus.emit(DpopRefused(client.client_id, reason, fingerprint(key) if key else None))
    raise InvalidDpopProof(description, detail=reason)

