"""Initial access tokens (RFC 7591 §3, mode ``token``): the use cases behind ``proofkey
registration token create|list|revoke``.

A token is 256 random bits shown once; the store keeps its digest, a short public id (to list
and revoke it), its expiry and its remaining uses, which ``POST /register`` takes one at a time
atomically (``RegistrationStore.use_initial_token``).
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.crypto import digest, new_handle, new_id
from proofkey.models import InitialAccessToken, Secret
from proofkey.store.base import RegistrationStore

__all__ = ["MAX_LIFETIME", "MAX_USES", "NewInitialToken", "create_initial_token"]

MAX_LIFETIME = 366 * 86400
MAX_USES = 1_000_000


@dataclass(frozen=True, slots=True)
class NewInitialToken:
    token: Secret  # shown once
    record: InitialAccessToken


async def create_initial_token(registry: RegistrationStore, *, lifetime: int, uses: int,
                               now: int) -> NewInitialToken:
    """Store a new initial access token valid ``lifetime`` seconds for ``uses`` registrations."""
    if not 1 <= lifetime <= MAX_LIFETIME:
        raise ValueError(f"the lifetime must be between 1 second and {MAX_LIFETIME // 86400} "
                         "days")
    if not 1 <= uses <= MAX_USES:
        raise ValueError(f"uses must be between 1 and {MAX_USES}")
    token = Secret(new_handle())
    record = InitialAccessToken(digest(token.reveal()), new_id()[:12], now, now + lifetime, uses)
    await registry.add_initial_token(record)
    return NewInitialToken(token, record)
