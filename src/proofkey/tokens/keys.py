"""Signing keys: generated on first start, kept in the store, rotated without breaking verifiers.

The ring keeps parsed key objects (re-parsing a PEM per signature costs 1000x, see
DEPENDENCIES.md §2). A key goes through phases (docs/admin.md), computed from the stored
record and the clock alone, so every instance agrees without talking to the others:
``published`` (in the JWKS, not signing yet: relying parties' JWKS caches fill), ``active``
(the newest key of its algorithm whose ``activates_at`` has passed, not retired), ``retiring``
(superseded or retired: still in the JWKS and verifying until every token it signed has
expired, ``keep_seconds``) and ``retired`` (out of the JWKS; housekeeping deletes it).
ES256 signs access tokens; RS256 is always present because OIDC Discovery §3 requires RS256 in
``id_token_signing_alg_values_supported``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from joserfc.jwk import ECKey, KeySet, RSAKey

from proofkey.crypto import new_id
from proofkey.errors import InvalidToken
from proofkey.models import SigningKey
from proofkey.protocol.compact import parse_header
from proofkey.store.base import KeyStore

from .jws import JwsSigner

__all__ = [
    "RETIRE_LEEWAY_SECONDS",
    "SUPPORTED_ALGS",
    "KeyPhase",
    "KeyRing",
    "KeyState",
    "generate_key",
    "keep_seconds_for",
    "key_states",
    "prune_retired_keys",
    "rotate_keys",
]

SUPPORTED_ALGS = ("ES256", "RS256")
JoseKey = ECKey | RSAKey
KeyPhase = Literal["published", "active", "retiring", "retired"]
# Added to the longest token lifetime before a key that stopped signing leaves the JWKS:
# clock skew between instances and relying parties, and a token minted just before the switch.
RETIRE_LEEWAY_SECONDS = 300


def keep_seconds_for(access_ttl: int, id_ttl: int) -> int:
    """How long a key stays published after it stopped signing: its last token's lifetime."""
    return max(access_ttl, id_ttl) + RETIRE_LEEWAY_SECONDS


def generate_key(alg: str, now: int, *, activates_at: int | None = None) -> SigningKey:
    """A new private key for ``alg`` as a storable record (signing from ``activates_at``, by
    default at once)."""
    params: Any = {"kid": new_id()[:16], "alg": alg, "use": "sig"}
    key: JoseKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, private=True)
    elif alg == "RS256":
        key = RSAKey.generate_key(2048, parameters=params, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return SigningKey(kid=params["kid"], alg=alg, private_jwk=json.dumps(key.as_dict(private=True)),
                      created_at=now, activates_at=activates_at)


def _parse(record: SigningKey) -> JoseKey:
    data = json.loads(record.private_jwk)
    return RSAKey.import_key(data) if record.alg == "RS256" else ECKey.import_key(data)


def _signer(record: SigningKey, key: JoseKey) -> JwsSigner:
    private = key.private_key
    if private is None:
        raise ValueError(f"signing key {record.kid} has no private part")
    return JwsSigner(record.alg, record.kid, private)


@dataclass(frozen=True, slots=True)
class KeyState:
    """A key's phase at one moment, and when it stopped (or stops) signing, if it did."""

    record: SigningKey
    phase: KeyPhase
    signing_ended_at: int | None  # superseded or retired; None while published or active
    leaves_jwks_at: int | None  # signing_ended_at + keep_seconds (None: not yet known)


def _order(record: SigningKey) -> tuple[int, int, str]:
    return record.signs_from, record.created_at, record.kid


def _retired_by(record: SigningKey, now: int) -> bool:
    return record.retired_at is not None and record.retired_at <= now


def key_states(records: Iterable[SigningKey], now: int,
               keep_seconds: int | None) -> dict[str, KeyState]:
    """Every key's phase at ``now`` (``keep_seconds`` None: a key that stopped signing stays
    ``retiring`` until it is deleted)."""
    by_alg: dict[str, list[SigningKey]] = {}
    for record in records:
        by_alg.setdefault(record.alg, []).append(record)
    states: dict[str, KeyState] = {}
    for keys in by_alg.values():
        keys.sort(key=_order)
        live = [k for k in keys if k.signs_from <= now and not _retired_by(k, now)]
        signer = live[-1] if live else None
        for index, record in enumerate(keys):
            if record is signer:
                states[record.kid] = KeyState(record, "active", None, None)
                continue
            ends = [k.signs_from for k in keys[index + 1:] if k.signs_from <= now]
            if record.signs_from <= now and ends and not _retired_by(record, now):
                ends = ends[:1]  # superseded by the next key that started signing
            elif not _retired_by(record, now):
                states[record.kid] = KeyState(record, "published", None, None)
                continue
            if _retired_by(record, now):
                ends.append(record.retired_at or 0)
            ended = min(max(min(ends), record.created_at), now)
            leaves = None if keep_seconds is None else ended + keep_seconds
            phase: KeyPhase = "retired" if leaves is not None and leaves <= now else "retiring"
            states[record.kid] = KeyState(record, phase, ended, leaves)
    return states


def _next_change(records: Iterable[SigningKey], states: dict[str, KeyState], now: int) -> float:
    """The first moment after ``now`` at which some key's phase may change."""
    times = [t for r in records for t in (r.signs_from, r.retired_at) if t is not None and t > now]
    times += [s.leaves_jwks_at for s in states.values()
              if s.leaves_jwks_at is not None and s.leaves_jwks_at > now]
    return min(times, default=float("inf"))


@dataclass(frozen=True, slots=True)
class _Entry:
    record: SigningKey
    key: JoseKey


class KeyRing:
    """The keys of this issuer, parsed once; which one signs and which ones are published
    follows the clock (reload after another instance or the CLI changed the key table)."""

    def __init__(self, records: list[SigningKey], *, clock: Callable[[], float] = time.time,
                 keep_seconds: int | None = None) -> None:
        self._entries = {r.kid: _Entry(r, _parse(r)) for r in records}
        self._clock = clock
        self._keep = keep_seconds
        self._valid_until = float("-inf")
        self._states: dict[str, KeyState] = {}
        self._signers: dict[str, JwsSigner] = {}
        self._published: list[_Entry] = []
        self.verify_set = KeySet([e.key for e in self._entries.values()])

    def _current(self) -> dict[str, KeyState]:
        """The phases now, recomputed only when the clock passed a phase change."""
        now = self._clock()
        if now < self._valid_until:
            return self._states
        at = int(now)
        records = [e.record for e in self._entries.values()]
        states = key_states(records, at, self._keep)
        self._signers = {s.record.alg: _signer(s.record, self._entries[kid].key)
                         for kid, s in states.items() if s.phase == "active"}
        self._published = [self._entries[kid] for kid, s in states.items()
                           if s.phase != "retired"]
        self._states = states
        self._valid_until = _next_change(records, states, at)
        return states

    @classmethod
    async def load(cls, store: KeyStore, now: int, *, clock: Callable[[], float] = time.time,
                   keep_seconds: int | None = None) -> KeyRing:
        """Read the keys, creating one per supported algorithm where none signs at ``now``."""
        records = await store.list_keys()
        states = key_states(records, now, keep_seconds)
        active = {s.record.alg for s in states.values() if s.phase == "active"}
        for alg in SUPPORTED_ALGS:
            if alg not in active:
                record = generate_key(alg, now)
                await store.add_key(record)
                records.append(record)
        return cls(records, clock=clock, keep_seconds=keep_seconds)

    def signer(self, alg: str) -> JwsSigner:
        """The signer of the active key for ``alg``."""
        self._current()
        signer = self._signers.get(alg)
        if signer is None:
            raise LookupError(f"no active {alg} signing key")
        return signer

    def knows_signer_of(self, token: str) -> bool:
        """False only for a JWS whose header names a ``kid`` this ring does not hold (another
        instance or the CLI added it since the last reload); anything unparsable is left for
        verification to refuse."""
        try:
            kid = parse_header(token).kid
        except InvalidToken:
            return True
        return kid is None or kid in self._entries

    def verification_key(self, kid: str | None, alg: str) -> JoseKey | None:
        """The key ``kid`` names, if this ring holds it, it is still published (not retired)
        and it is a key for ``alg``: the header's ``alg`` cannot pick another algorithm for a
        key (RFC 8725 §3.1)."""
        entry = None if kid is None else self._entries.get(kid)
        if entry is None or entry.record.alg != alg:
            return None
        state = self._current().get(entry.record.kid)
        return entry.key if state is not None and state.phase != "retired" else None

    @property
    def algorithms(self) -> tuple[str, ...]:
        self._current()
        return tuple(sorted(self._signers))

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Public keys only: published, active and retiring ones (RFC 7517 §5)."""
        self._current()
        keys = []
        for entry in self._published:
            public = dict(entry.key.as_dict(private=False))
            public.update({"kid": entry.record.kid, "alg": entry.record.alg, "use": "sig"})
            keys.append(public)
        return {"keys": keys}

    def records(self) -> list[SigningKey]:
        return [e.record for e in self._entries.values()]

    def states(self) -> dict[str, KeyState]:
        return dict(self._current())


async def prune_retired_keys(store: KeyStore, now: int, *, keep_seconds: int) -> int:
    """Delete the keys in phase ``retired`` at ``now``: no token they signed is still valid
    and they have left the JWKS."""
    pruned = 0
    for state in key_states(await store.list_keys(), now, keep_seconds).values():
        if state.phase == "retired":
            pruned += await store.delete_key(state.record.kid)
    return pruned


async def rotate_keys(store: KeyStore, now: int, *, keep_seconds: int,
                      activate_after: int = 0) -> list[SigningKey]:
    """Publish a new key per algorithm that starts signing ``activate_after`` seconds from
    ``now`` (the keys it supersedes then retire by themselves), pruning retired keys. Returns
    the new keys. With no delay the current keys are retired at ``now`` explicitly: a key
    created in the same second as the one it replaces would otherwise tie with it."""
    await prune_retired_keys(store, now, keep_seconds=keep_seconds)
    current = [s.record for s in key_states(await store.list_keys(), now, keep_seconds).values()
               if s.phase == "active"]
    fresh = [generate_key(alg, now, activates_at=now + activate_after if activate_after else None)
             for alg in SUPPORTED_ALGS]
    for record in fresh:
        await store.add_key(record)
    if not activate_after:
        for record in current:
            await store.retire_key(record.kid, now)
    return fresh
