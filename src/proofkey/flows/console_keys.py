"""The console's signing keys: public facts only (kid, algorithm, created, retired) and the
phase each key is in.

``phase_of`` is the one place that names a key's phase. Today a key is ``active`` (signs) or
``retired`` (still published until the tokens it signed expire, then pruned); phased rotation
(publish, then sign after a delay, then retire) will name its phases here.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.models import SigningKey
from proofkey.store.base import KeyStore

__all__ = ["KeyRow", "list_keys", "phase_of"]


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    alg: str
    created_at: int
    retired_at: int | None
    phase: str


def phase_of(key: SigningKey, now: int) -> str:
    """The key's phase at ``now``."""
    return "active" if key.is_active() else "retired"


async def list_keys(*, keys: KeyStore, now: int) -> list[KeyRow]:
    """Every stored key, newest first; never a private part."""
    stored = sorted(await keys.list_keys(), key=lambda k: (-k.created_at, k.kid))
    return [KeyRow(k.kid, k.alg, k.created_at, k.retired_at, phase_of(k, now)) for k in stored]
