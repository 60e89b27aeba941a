"""Signing-key rotation in phases (docs/admin.md): the use cases behind ``proofkey keys`` and
the admin API's keys resource.

``start_rotation`` publishes a new key per algorithm that signs only from ``activates_at``
(default 24 hours on): relying parties that cache the JWKS see it before any token carries its
kid. The key it supersedes keeps verifying, and stays in the JWKS, until every token it signed
has expired (``tokens.keys.keep_seconds_for``), and is deleted after that. No instance is told
anything: each computes the phases from the key table and its clock (``tokens.keys``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from proofkey.flows.admin import AdminError
from proofkey.models import SigningKey
from proofkey.store.base import KeyStore
from proofkey.tokens.keys import KeyPhase, KeyState, key_states, prune_retired_keys, rotate_keys

__all__ = ["DEFAULT_ACTIVATE_AFTER", "KeyView", "list_keys", "prune_keys", "retire_key",
           "start_rotation"]

DEFAULT_ACTIVATE_AFTER = 24 * 3600  # longer than any sane JWKS cache (ours says 60 s)
MAX_ACTIVATE_AFTER = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key's public facts and phase (never its private part)."""

    kid: str
    alg: str
    phase: KeyPhase
    created_at: int
    activates_at: int  # signs from then (if it is the newest key of its algorithm)
    retired_at: int | None  # retired by an operator then
    signing_ended_at: int | None  # superseded or retired
    leaves_jwks_at: int | None  # out of the JWKS (and deleted soon after) from then


def _view(state: KeyState) -> KeyView:
    r = state.record
    return KeyView(r.kid, r.alg, state.phase, r.created_at, r.signs_from, r.retired_at,
                   state.signing_ended_at, state.leaves_jwks_at)


def _views(records: list[SigningKey], now: int, keep_seconds: int) -> list[KeyView]:
    states = key_states(records, now, keep_seconds)
    return sorted((_view(s) for s in states.values()),
                  key=lambda v: (v.alg, v.activates_at, v.created_at, v.kid))


async def list_keys(keys: KeyStore, *, now: int, keep_seconds: int) -> list[KeyView]:
    """Every stored key with its phase at ``now``."""
    return _views(await keys.list_keys(), now, keep_seconds)


async def start_rotation(keys: KeyStore, *, now: int, keep_seconds: int,
                         activate_after: int = DEFAULT_ACTIVATE_AFTER) -> list[KeyView]:
    """Publish a new key per algorithm, signing from ``now + activate_after``; keys retired
    long enough ago are deleted first. Refused while an earlier rotation's keys are still
    waiting to sign (one rotation at a time). Returns the new keys."""
    if not 0 <= activate_after <= MAX_ACTIVATE_AFTER:
        raise AdminError(f"the activation delay must be 0 to {MAX_ACTIVATE_AFTER} seconds")
    waiting = [v for v in await list_keys(keys, now=now, keep_seconds=keep_seconds)
               if v.phase == "published"]
    if waiting:
        raise AdminError(f"a rotation is under way: key {waiting[0].kid} starts signing at "
                         f"{waiting[0].activates_at}; retire it first to start over",
                         rule="rotation_pending")
    fresh = await rotate_keys(keys, now, keep_seconds=keep_seconds, activate_after=activate_after)
    records = await keys.list_keys()
    return [v for v in _views(records, now, keep_seconds) if v.kid in {k.kid for k in fresh}]


async def retire_key(keys: KeyStore, kid: str, *, now: int, keep_seconds: int) -> KeyView:
    """Stop ``kid`` signing now; it stays in the JWKS until its tokens have expired. Refused
    for the only key of its algorithm that could sign (``only_signing_key``): tokens could not
    be issued any more."""
    records = await keys.list_keys()
    record = next((r for r in records if r.kid == kid), None)
    if record is None:
        raise AdminError(f"no signing key {kid!r}", rule="not_found")
    if record.retired_at is not None and record.retired_at <= now:
        raise AdminError(f"key {kid} is retired already", rule="already_retired")
    after = [replace(r, retired_at=now) if r.kid == kid else r for r in records]
    if not any(s.phase == "active" and s.record.alg == record.alg
               for s in key_states(after, now, keep_seconds).values()):
        raise AdminError(f"key {kid} is the only {record.alg} key that can sign; rotate "
                         "first and retire it once the new key is active",
                         rule="only_signing_key")
    await keys.retire_key(kid, now)
    return next(v for v in _views(after, now, keep_seconds) if v.kid == kid)


async def prune_keys(keys: KeyStore, *, now: int, keep_seconds: int) -> int:
    """Delete the keys whose phase is ``retired`` (housekeeping does it every few minutes)."""
    return await prune_retired_keys(keys, now, keep_seconds=keep_seconds)
