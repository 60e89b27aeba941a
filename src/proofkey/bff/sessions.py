"""Gateway sessions: what a session holds, how its tokens are sealed, and the store Protocol.

The browser holds only a random session id; the store keys a session by the id's SHA-256
digest (like every secret in proofkey) and keeps the tokens sealed with AES-256-GCM, the
digest as associated data so a sealed blob cannot be moved to another row. A session ends
``idle`` seconds after its last use or ``absolute`` seconds after login, whichever is first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["PendingLogin", "Sealer", "Session", "SessionStore", "SessionTokens"]


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """The secrets of one session: never in a cookie, a body, a URL or a log line."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    id_token: str | None = field(repr=False)
    expires_at: int | None
    claims: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "id_token": self.id_token, "expires_at": self.expires_at,
                "claims": self.claims}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionTokens:
        return cls(str(data["access_token"]), data.get("refresh_token"), data.get("id_token"),
                   data.get("expires_at"), dict(data.get("claims") or {}))


@dataclass(frozen=True, slots=True)
class Session:
    """One row: ``version`` grows with each token refresh (compare-and-set across instances)."""

    digest: str
    sealed: bytes = field(repr=False)
    version: int
    created_at: int
    last_seen_at: int
    idle_expires_at: int
    absolute_expires_at: int

    def alive(self, now: int) -> bool:
        return now < self.idle_expires_at and now < self.absolute_expires_at


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A login between /bff/login and /bff/callback: PKCE verifier, state, nonce, return path."""

    state: str = field(repr=False)
    nonce: str | None = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    scope: str
    return_path: str

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier,
                "redirect_uri": self.redirect_uri, "scope": self.scope,
                "return_path": self.return_path}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingLogin:
        return cls(str(data["state"]), data.get("nonce"), str(data["code_verifier"]),
                   str(data["redirect_uri"]), str(data["scope"]), str(data["return_path"]))


class Sealer:
    """AES-256-GCM with a random 96-bit nonce per seal; the row's digest is the associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the session key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, value: dict[str, Any], digest: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, json.dumps(value).encode(), digest.encode())

    def open(self, sealed: bytes, digest: str) -> dict[str, Any] | None:
        """The value, or None when the blob was sealed with another key or for another row."""
        try:
            data = self._aead.decrypt(sealed[:12], sealed[12:], digest.encode())
        except (InvalidTag, ValueError):
            return None
        value = json.loads(data)
        return value if isinstance(value, dict) else None


class SessionStore(Protocol):
    """What the gateway needs from storage; one contract suite runs on every backend."""

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    async def create(self, session: Session) -> None: ...

    async def get(self, digest: str) -> Session | None: ...

    async def replace_tokens(self, digest: str, expected_version: int, sealed: bytes) -> bool:
        """Store refreshed tokens if the row still has ``expected_version`` (then +1)."""
        ...

    async def claim_refresh(self, digest: str, version: int, now: int, until: int) -> bool:
        """Take the row's refresh lease (so one instance refreshes) if no live lease is held
        and the row still has ``version``; ``replace_tokens`` or ``release_refresh`` end it."""
        ...

    async def release_refresh(self, digest: str) -> None: ...

    async def touch(self, digest: str, now: int, idle_expires_at: int) -> None: ...

    async def delete(self, digest: str) -> Session | None: ...

    async def put_login(self, digest: str, sealed: bytes, expires_at: int) -> None: ...

    async def take_login(self, digest: str, now: int) -> bytes | None:
        """Single use: the unexpired pending login, deleted in the same statement."""
        ...

    async def purge(self, now: int) -> int: ...
