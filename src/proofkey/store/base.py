"""Storage roles as small Protocols, named for what a flow needs; every backend implements all.

Rules every backend keeps (the contract suite in ``tests/store`` checks each):
- secrets are looked up by SHA-256 digest only; no raw code, token or handle is ever stored;
- ``consume_code`` and ``rotate_refresh`` are each ONE atomic statement (UPDATE … WHERE
  <still unused> … RETURNING), so of N concurrent callers exactly one wins;
- ``save_grant`` writes the grant and its first refresh token in one transaction;
- reads never return expired pending authorizations or sessions;
- a store that cannot reach its database raises ``StoreUnavailable``, never a driver error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from proofkey.models import (
    AuthorizationCode,
    Client,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
    SigningKey,
    User,
)

__all__ = [
    "AlreadyExists",
    "ClientStore",
    "CodeStore",
    "ConsentStore",
    "GrantStore",
    "InteractionStore",
    "KeyStore",
    "RateLimiter",
    "SessionStore",
    "Store",
    "StoreUnavailable",
    "UserStore",
]


class AlreadyExists(Exception):
    """A record with that key exists already."""


class StoreUnavailable(Exception):
    """The database cannot be reached or answered with an operational failure."""


class ClientStore(Protocol):
    async def get_client(self, client_id: str) -> Client | None: ...
    async def add_client(self, client: Client) -> None: ...
    async def list_clients(self) -> list[Client]: ...
    async def remove_client(self, client_id: str) -> bool: ...


class UserStore(Protocol):
    async def get_user(self, user_id: str) -> User | None: ...
    async def get_user_by_username(self, username: str) -> User | None: ...
    async def add_user(self, user: User) -> None: ...
    async def list_users(self) -> list[User]: ...
    async def remove_user(self, username: str) -> bool: ...
    async def set_password(self, username: str, password_hash: str) -> bool: ...


class InteractionStore(Protocol):
    """Pending authorization requests between /authorize and the code."""

    async def save_pending(self, pending: PendingAuthorization) -> None: ...
    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None: ...
    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None: ...
    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        """Atomically delete and return the unexpired pending request (ends it exactly once)."""
        ...


class SessionStore(Protocol):
    async def save_session(self, session: Session) -> None: ...
    async def get_session(self, session_digest: str, now: int) -> Session | None: ...
    async def delete_session(self, session_digest: str) -> None: ...


class ConsentStore(Protocol):
    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]: ...
    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        """Remember the scopes (added to those already granted)."""
        ...


class CodeStore(Protocol):
    async def save_code(self, code: AuthorizationCode) -> None: ...
    async def consume_code(
        self, code_digest: str, now: int, grant_id: str
    ) -> AuthorizationCode | None:
        """Atomically mark the code redeemed (recording ``grant_id``) if it is unredeemed and
        unexpired, and return it; None if it does not exist, expired or was redeemed before."""
        ...

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        """The code as stored, redeemed or not (for replay detection)."""
        ...


class GrantStore(Protocol):
    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None: ...
    async def get_grant(self, grant_id: str) -> Grant | None: ...
    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        """Revoke the grant and so every token of its family; True if it was active."""
        ...

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        """Atomically retire an unrotated, unexpired refresh token of an active grant, pointing
        it at ``successor``, and store the successor; return the retired token, else None."""
        ...

    async def find_refresh(self, token_digest: str) -> RefreshToken | None: ...
    async def revoke_access_token(self, jti: str, expires_at: int) -> None: ...
    async def is_access_token_revoked(self, jti: str) -> bool: ...


class KeyStore(Protocol):
    async def list_keys(self) -> list[SigningKey]: ...
    async def add_key(self, key: SigningKey) -> None: ...
    async def retire_key(self, kid: str, now: int) -> bool: ...
    async def delete_key(self, kid: str) -> bool: ...


class Store(
    ClientStore,
    UserStore,
    InteractionStore,
    SessionStore,
    ConsentStore,
    CodeStore,
    GrantStore,
    KeyStore,
    Protocol,
):
    """A whole backend: every role, plus lifecycle and housekeeping."""

    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the versions applied."""
        ...

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` expired rows per table; return how many went."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class RateLimiter(Protocol):
    """Counts events per key in a sliding window (login failures, requests)."""

    async def retry_after(self, key: str, limit: int, window: int, now: float) -> int:
        """Seconds until ``key`` is below ``limit`` events in ``window`` (0: allowed now)."""
        ...

    async def hit(self, key: str, window: int, now: float) -> None: ...
    async def reset(self, key: str) -> None: ...
