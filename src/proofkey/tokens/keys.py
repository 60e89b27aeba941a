"""Signing keys: generated on first start, kept in the store, rotated without breaking verifiers.

The ring keeps parsed key objects (re-parsing a PEM per signature costs 1000x, see
DEPENDENCIES.md §2). Per algorithm the newest active key signs; retired keys stay published in
the JWKS until every token they signed has expired, then ``rotate`` deletes them.
ES256 signs access tokens; RS256 is always present because OIDC Discovery §3 requires RS256 in
``id_token_signing_alg_values_supported``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

from proofkey.crypto import new_id
from proofkey.errors import InvalidToken
from proofkey.models import SigningKey
from proofkey.protocol.compact import parse_header
from proofkey.store.base import KeyStore

from .jws import JwsSigner

__all__ = ["SUPPORTED_ALGS", "KeyRing", "generate_key", "prune_retired_keys", "rotate_keys"]

SUPPORTED_ALGS = ("ES256", "RS256")
JoseKey = ECKey | RSAKey


def generate_key(alg: str, now: int) -> SigningKey:
    """A new private key for ``alg`` as a storable record."""
    params: Any = {"kid": new_id()[:16], "alg": alg, "use": "sig"}
    key: JoseKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, private=True)
    elif alg == "RS256":
        key = RSAKey.generate_key(2048, parameters=params, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return SigningKey(kid=params["kid"], alg=alg, private_jwk=json.dumps(key.as_dict(private=True)),
                      created_at=now)


def _parse(record: SigningKey) -> JoseKey:
    data = json.loads(record.private_jwk)
    return RSAKey.import_key(data) if record.alg == "RS256" else ECKey.import_key(data)


def _signer(record: SigningKey, key: JoseKey) -> JwsSigner:
    private = key.private_key
    if private is None:
        raise ValueError(f"signing key {record.kid} has no private part")
    return JwsSigner(record.alg, record.kid, private)


@dataclass(frozen=True, slots=True)
class _Entry:
    record: SigningKey
    key: JoseKey


class KeyRing:
    """The keys of this issuer, parsed once; reload after another instance rotates."""

    def __init__(self, records: list[SigningKey]) -> None:
        self._entries = {r.kid: _Entry(r, _parse(r)) for r in records}
        self._signing: dict[str, _Entry] = {}
        for entry in sorted(self._entries.values(), key=lambda e: e.record.created_at):
            if entry.record.is_active():
                self._signing[entry.record.alg] = entry
        self._signers = {alg: _signer(e.record, e.key) for alg, e in self._signing.items()}
        self.verify_set = KeySet([e.key for e in self._entries.values()])

    @classmethod
    async def load(cls, store: KeyStore, now: int) -> KeyRing:
        """Read the keys, creating one per supported algorithm where none is active."""
        records = await store.list_keys()
        active = {r.alg for r in records if r.is_active()}
        for alg in SUPPORTED_ALGS:
            if alg not in active:
                record = generate_key(alg, now)
                await store.add_key(record)
                records.append(record)
        return cls(records)

    def signer(self, alg: str) -> JwsSigner:
        """The signer of the newest active key for ``alg``."""
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
        """The key ``kid`` names, if this ring holds it and it is a key for ``alg``: the
        header's ``alg`` cannot pick another algorithm for a key (RFC 8725 §3.1)."""
        entry = None if kid is None else self._entries.get(kid)
        return entry.key if entry is not None and entry.record.alg == alg else None

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted(self._signing))

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Public keys only: active and retired-but-still-valid (RFC 7517 §5)."""
        keys = []
        for entry in self._entries.values():
            public = dict(entry.key.as_dict(private=False))
            public.update({"kid": entry.record.kid, "alg": entry.record.alg, "use": "sig"})
            keys.append(public)
        return {"keys": keys}

    def records(self) -> list[SigningKey]:
        return [e.record for e in self._entries.values()]


async def prune_retired_keys(store: KeyStore, now: int, *, keep_seconds: int) -> int:
    """Delete keys retired more than ``keep_seconds`` ago (the longest token lifetime): no
    token they signed is still valid, so they leave the JWKS."""
    pruned = 0
    for record in await store.list_keys():
        if record.retired_at is not None and record.retired_at + keep_seconds < now:
            pruned += await store.delete_key(record.kid)
    return pruned


async def rotate_keys(store: KeyStore, now: int, *, keep_seconds: int) -> list[SigningKey]:
    """Add a new key per algorithm and retire the current ones (still published), pruning
    keys retired long enough ago. Returns the new keys."""
    await prune_retired_keys(store, now, keep_seconds=keep_seconds)
    records = await store.list_keys()
    fresh = [generate_key(alg, now) for alg in SUPPORTED_ALGS]
    for record in fresh:
        await store.add_key(record)
    for record in records:
        if record.is_active():
            await store.retire_key(record.kid, now)
    return fresh
