"""The console's signing keys: public facts only (kid, algorithm, created, retired) and the
phase each key is in.

The phases (published, active, retiring, retired) are ``tokens.keys.key_states``': one key's
phase depends on the others of its algorithm (a newer active key supersedes it) and on the
clock (docs/admin.md, signing keys in phases).
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.models import SigningKey
from proofkey.store.base import KeyStore
from proofkey.tokens.keys import key_states

__all__ = ["KeyRow", "list_keys", "phase_of"]


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    alg: str
    created_at: int
    retired_at: int | None
    phase: str
    activates_at: int | None = None  # signs from then
    leaves_jwks_at: int | None = None  # out of the JWKS from then


def phase_of(key: SigningKey, now: int, others: list[SigningKey] | None = None,
             keep_seconds: int | None = None) -> str:
    """The key's phase at ``now`` among ``others`` (the other stored keys)."""
    records = [k for k in (others or []) if k.kid != key.kid] + [key]
    return key_states(records, now, keep_seconds)[key.kid].phase


async def list_keys(*, keys: KeyStore, now: int, keep_seconds: int | None = None) -> list[KeyRow]:
    """Every stored key, newest first; never a private part."""
    stored = sorted(await keys.list_keys(), key=lambda k: (-k.created_at, k.kid))
    states = key_states(stored, now, keep_seconds)
    return [KeyRow(k.kid, k.alg, k.created_at, k.retired_at, states[k.kid].phase,
                   k.signs_from, states[k.kid].leaves_jwks_at) for k in stored]
