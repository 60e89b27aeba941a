"""Storage roles as small Protocols, named for what a flow needs; every backend implements all.

Rules every backend keeps (the contract suite in ``tests/store`` checks each):
- secrets are looked up by SHA-256 digest only; no raw code, token, handle or user code is
  ever stored;
- single use is a conditional ``UPDATE … WHERE <still unused> … RETURNING``, so of N
  concurrent callers exactly one wins (``redeem_code``, ``rotate_refresh``,
  ``rotate_refresh_for_client``, ``take_pending``, ``decide_device``, ``consume_device``);
  what the winner writes besides (a grant, a refresh token, a successor) goes in the same
  transaction, and a loser writes nothing;
- ``save_grant`` writes the grant and its first refresh token in one transaction;
- reads never return expired pending authorizations or sessions;
- a store that cannot reach its database raises ``StoreUnavailable``, never a driver error.

(Over the ~400-line guideline: every role's Protocol is here so a backend author sees the
whole contract at once; the next role should start ``store/base`` as a package, one module per
role, re-exported here.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from proofkey.models import (
    AdminSession,
    AdminToken,
    AuthorizationCode,
    Client,
    Connector,
    DeviceAuthorization,
    Grant,
    InitialAccessToken,
    PendingAuthorization,
    RefreshToken,
    Resource,
    Session,
    SigningKey,
    UpstreamLogin,
    User,
    UserRole,
)
from proofkey.protocol.resource import Catalog

__all__ = [
    "AccountStore",
    "AdminTokenStore",
    "AlreadyExists",
    "ChallengeReuse",
    "ChallengeSighting",
    "ChallengeStore",
    "ClientStore",
    "CodeStore",
    "ConsentStore",
    "ConsoleStore",
    "DeviceStore",
    "DpopSecretStore",
    "FederationStore",
    "GrantStore",
    "InteractionStore",
    "KeyStore",
    "LifecycleStore",
    "PushedRequestStore",
    "RateLimiter",
    "RegistrationStore",
    "ReplayStore",
    "Reservation",
    "ResourceDirectory",
    "ResourceStore",
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
    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        """Delete the client and, in the same transaction, revoke its grants (revoked_at
        ``now``, default the current time; so every refresh token of the client stops working)
        and delete the consents given to it. False if there was no such client."""
        ...


class RegistrationStore(Protocol):
    """Dynamic client registration (RFC 7591, RFC 7592): clients changed in place, their use
    recorded off the token path, and the initial access tokens of mode ``token``."""

    async def update_client(self, client: Client, expected_version: int | None = None) -> bool:
        """Replace every field of the stored client with ``client``'s (the id stays; the
        stored ``version`` goes up by one, whatever ``client.version`` says); False if there
        is no such client, or, given ``expected_version``, if the stored version is another
        (a compare-and-swap: of two updates expecting the same version, one succeeds)."""
        ...

    async def record_client_use(self, since: int, now: int) -> int:
        """Set ``last_used_at`` to ``now`` on dynamic clients that issued a grant or a refresh
        token at or after ``since``; return how many changed."""
        ...

    async def unused_clients(self, before: int) -> list[Client]:
        """Dynamic clients last used (or, never used, created) before ``before``."""
        ...

    async def add_initial_token(self, token: InitialAccessToken) -> None: ...

    async def use_initial_token(self, token_digest: str, now: int) -> InitialAccessToken | None:
        """Take one use of an unexpired token with uses left, atomically (of N concurrent
        callers for its last use exactly one wins); the token after the use, or None."""
        ...

    async def list_initial_tokens(self) -> list[InitialAccessToken]: ...
    async def revoke_initial_token(self, token_id: str) -> bool: ...


class ResourceStore(Protocol):
    """Registered protected resources (RFC 8707), by URI."""

    async def get_resource(self, uri: str) -> Resource | None: ...
    async def add_resource(self, resource: Resource) -> None:
        """Store a new resource; AlreadyExists if its URI is registered."""
        ...

    async def list_resources(self) -> list[Resource]: ...
    async def remove_resource(self, uri: str) -> bool:
        """Delete the resource; False if there was none. Tokens issued for it stop being
        active at introspection; grants that named it get ``invalid_target`` on refresh."""
        ...


class ResourceDirectory(Protocol):
    """What the flows read: every registered resource (stored and configured) at once."""

    async def catalog(self) -> Catalog: ...


class UserStore(Protocol):
    async def get_user(self, user_id: str) -> User | None: ...
    async def get_user_by_username(self, username: str) -> User | None: ...
    async def add_user(self, user: User) -> None: ...
    async def list_users(self) -> list[User]: ...
    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        """Delete the user and, in the same transaction, revoke their grants (revoked_at
        ``now``, default the current time) and delete their sessions, consents, pending
        authorizations, codes (redeemed ones too), device requests, password-set links and
        upstream links: nothing of theirs is left that could become a token. False if there
        was no such user."""
        ...

    async def set_password(self, username: str, password_hash: str) -> bool: ...
    async def end_user_access(self, user_id: str, now: int) -> tuple[int, int]:
        """Take back what the user's current credentials gave (after a password change), in
        ONE transaction: delete their sessions, the pending authorizations they logged in to
        and their unredeemed codes (redeemed ones stay, for replay detection), deny their
        approved device requests not yet consumed, and revoke their active grants (revoked_at
        ``now``; so every refresh token stops) — the grants last, so that a grant a concurrent
        redemption or device poll commits first is revoked too. Consents and the user stay.
        Return (sessions ended, grants revoked)."""
        ...


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


class AccountStore(Protocol):
    """What a user sees and ends on /account, and what logout revokes (docs/logout.md).

    A grant records its session's ``auth_time``, not the session: the grants of a session are
    the user's grants with that ``auth_time``."""

    async def list_sessions(self, user_id: str, now: int) -> list[Session]:
        """The user's unexpired sessions, newest first."""
        ...

    async def list_grants(self, user_id: str, now: int) -> list[Grant]:
        """The user's active, unexpired grants, newest first."""
        ...

    async def end_session(self, session_digest: str, user_id: str) -> bool:
        """Delete the session if it is the user's; False otherwise (nothing written)."""
        ...

    async def revoke_session_grants(self, user_id: str, auth_time: int,
                                    client_ids: Collection[str], now: int) -> int:
        """Revoke (at ``now``) the user's active grants of ``auth_time`` held by one of
        ``client_ids``, in one transaction; return how many."""
        ...

    async def disconnect_client(self, user_id: str, client_id: str, now: int) -> int:
        """In one transaction: forget the user's consent to the client and revoke (at ``now``)
        every active grant the client holds for the user; return the grants revoked."""
        ...


class LifecycleStore(Protocol):
    """What operators do to users, grants and sessions (docs/admin.md, flows/user_admin and
    flows/grant_admin). Password-set links are kept as digests and taken once."""

    async def set_user_disabled(self, user_id: str, disabled_at: int | None) -> bool:
        """Mark the user disabled at ``disabled_at`` (None: enabled); False if no such user."""
        ...

    async def set_user_profile(self, user_id: str, name: str, email: str) -> bool:
        """Set the user's display name and e-mail; False if no such user."""
        ...

    async def add_password_link(self, token_digest: str, user_id: str, now: int,
                                expires_at: int) -> None:
        """Store a password-set link's digest, replacing the user's earlier links."""
        ...

    async def peek_password_link(self, token_digest: str, now: int) -> str | None:
        """The user of an unexpired, unused link (nothing written)."""
        ...

    async def take_password_link(self, token_digest: str, now: int) -> str | None:
        """Atomically delete an unexpired link and return its user: of N concurrent callers
        exactly one gets it."""
        ...

    async def list_client_grants(self, client_id: str, now: int) -> list[Grant]:
        """The client's active, unexpired grants, newest first."""
        ...

    async def revoke_user_grants(self, user_id: str, now: int) -> int: ...
    async def revoke_client_grants(self, client_id: str, now: int) -> int: ...
    async def end_user_sessions(self, user_id: str) -> int: ...
    async def end_session_by_digest(self, session_digest: str) -> Session | None:
        """Delete the session, whoever's it is; the session deleted, or None."""
        ...

    async def list_client_sessions(self, client_id: str, now: int) -> list[Session]:
        """Unexpired sessions in which the client got an active grant (same user and
        ``auth_time``), newest first."""
        ...

    async def end_client_sessions(self, client_id: str, now: int) -> int: ...


class ConsentStore(Protocol):
    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]: ...
    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        """Remember the scopes (added to those already granted)."""
        ...


class CodeStore(Protocol):
    async def save_code(self, code: AuthorizationCode) -> None: ...
    async def redeem_code(
        self,
        code_digest: str,
        now: int,
        grant_id: str,
        grant_expires_at: int,
        refresh: RefreshToken | None,
    ) -> AuthorizationCode | None:
        """In ONE transaction: mark the code redeemed at ``now`` (recording ``grant_id``) if it
        is unredeemed and unexpired, create the grant ``grant_id`` from the code's client_id,
        user_id, scope and auth_time (created_at ``now``, expires_at ``grant_expires_at``) and
        store ``refresh`` (a token of that grant), if given. Return the redeemed code (with its
        bindings for the caller to check); None if it does not exist, expired or was redeemed
        before, and then nothing is written. So a replay that sees the code redeemed
        always finds its grant. ValueError if ``refresh`` belongs to another grant."""
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
        """Atomically retire an unrotated, unexpired refresh token of an active, unexpired
        grant, pointing it at ``successor``, and store the successor; return the retired token,
        else None (nothing written). The token must belong to ``successor.grant_id`` (else
        None): a successor never moves a token family to another grant."""
        ...

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        """The common refresh in one call (one round trip): atomically retire the refresh token
        ``token_digest`` if it was issued to ``client_id``, is unrotated, unexpired and not
        bound to a DPoP key (``dpop_jkt`` None), and its grant is active and unexpired,
        pointing it at ``successor_digest``, and store that successor (same grant and client,
        issued ``now``, expiring ``successor_expires_at``,
        parent ``token_digest``); return the grant. None, and nothing written, if any of that
        fails: the caller reads the token (``find_refresh``) to tell why."""
        ...

    async def find_refresh(self, token_digest: str) -> RefreshToken | None: ...
    async def revoke_access_token(self, jti: str, expires_at: int) -> None: ...
    async def is_access_token_revoked(self, jti: str) -> bool: ...


class DeviceStore(Protocol):
    """Device authorization requests (RFC 8628) between the device and the user's browser."""

    async def save_device(self, device: DeviceAuthorization) -> None:
        """Store a new request; AlreadyExists if the device digest or user code digest is taken."""
        ...

    async def get_device_by_user_code(
        self, user_code_digest: str, now: int
    ) -> DeviceAuthorization | None:
        """The unexpired request whose (normalised) user code has this digest, whatever its
        status."""
        ...

    async def decide_device(
        self, user_code_digest: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        """Atomically move an unexpired pending request to approved (with the user) or denied;
        False if it is not pending or has expired."""
        ...

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        """Atomically record a poll at ``now``; return the request (expired ones too) and the
        time of the previous poll (for slow_down), or None for an unknown device code."""
        ...

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        """Atomically mark an approved, unconsumed, unexpired request consumed (recording
        ``grant.grant_id``) and store ``grant`` and ``refresh`` in the same transaction; None
        if another poll won, or it is not approved, or it expired."""
        ...


class PushedRequestStore(Protocol):
    """Pushed authorization requests (RFC 9126), each usable once before it expires."""

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None: ...

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        """Atomically delete and return (client_id, params) of an unexpired request."""
        ...


@dataclass(frozen=True, slots=True)
class ChallengeSighting:
    """What ``ChallengeStore.note_challenge`` answered: how often the client sent this
    challenge within the window (1: never before) and when it was first seen."""

    count: int
    first_seen: int

    @property
    def reused(self) -> bool:
        return self.count > 1


@dataclass(frozen=True, slots=True)
class ChallengeReuse:
    """One client's reuse within the window: challenges sent more than once, and how many
    sightings came after each one's first."""

    client_id: str
    challenges: int
    reuses: int


class ChallengeStore(Protocol):
    """Digests of each client's recent ``code_challenge`` values, shared by every instance on
    the database (the challenge-reuse signal); never the challenge itself."""

    async def note_challenge(self, client_id: str, challenge_digest: str, now: int,
                             expires_at: int) -> ChallengeSighting:
        """In ONE statement: record a sighting at ``now`` and keep the digest until
        ``expires_at``; count 1 if the client never sent it or its last sighting has expired.
        Of concurrent first sightings exactly one answers 1."""
        ...

    async def challenge_reuse(self, now: int) -> list[ChallengeReuse]:
        """Per client, ordered by client id: the reuse among digests still kept at ``now``."""
        ...


class FederationStore(Protocol):
    """Upstream identity providers, the users linked to their subjects, and the upstream
    leg's transactions (``take_upstream_login`` is single use: one atomic delete)."""

    async def add_connector(self, connector: Connector) -> None: ...
    async def get_connector(self, name: str) -> Connector | None: ...
    async def list_connectors(self) -> list[Connector]: ...
    async def remove_connector(self, name: str) -> bool:
        """Delete the connector and every user link through it."""
        ...

    async def get_link(self, connector: str, subject: str) -> str | None: ...
    async def add_link(self, connector: str, subject: str, user_id: str, now: int) -> None: ...
    async def users_with_email(self, email: str) -> list[User]:
        """Up to two users with this e-mail address (two: it is ambiguous)."""
        ...

    async def save_upstream_login(self, state_digest: str, login: UpstreamLogin,
                                  expires_at: int) -> None: ...
    async def take_upstream_login(self, state_digest: str, now: int) -> UpstreamLogin | None:
        """Atomically delete and return an unexpired transaction."""
        ...


class ConsoleStore(Protocol):
    """The operator console: users' roles and the console's own sessions (by digest)."""

    async def set_role(self, username: str, role: UserRole) -> bool:
        """Give the user ``role``; False if there is no such user."""
        ...

    async def save_admin_session(self, session: AdminSession) -> None: ...
    async def get_admin_session(self, session_digest: str, now: int) -> AdminSession | None:
        """The unexpired console session with this digest."""
        ...

    async def delete_admin_session(self, session_digest: str) -> None: ...

class DpopSecretStore(Protocol):
    """The one secret DPoP nonces are derived from (RFC 9449 §8), shared by every instance."""

    async def dpop_nonce_secret(self, candidate: str, now: int) -> str:
        """The stored secret; if there is none yet, store ``candidate`` first. Of concurrent
        first callers exactly one's candidate is kept, and every caller gets that one."""
        ...


class KeyStore(Protocol):
    async def list_keys(self) -> list[SigningKey]: ...
    async def add_key(self, key: SigningKey) -> None: ...
    async def retire_key(self, kid: str, now: int) -> bool: ...
    async def delete_key(self, kid: str) -> bool: ...


class AdminTokenStore(Protocol):
    """Bearer tokens of the admin REST API, looked up by digest; revoked ones stay listed."""

    async def add_admin_token(self, token: AdminToken) -> None: ...
    async def find_admin_token(self, token_digest: str) -> AdminToken | None: ...
    async def list_admin_tokens(self) -> list[AdminToken]: ...
    async def revoke_admin_token(self, token_id: str, now: int) -> bool:
        """Mark it revoked (False if unknown or already revoked)."""
        ...


class ReplayStore(Protocol):
    """One-time ids (a DPoP proof's or a client assertion's ``jti``), shared by every instance."""

    async def first_use(self, kind: str, id_digest: str, expires_at: int, now: int) -> bool:
        """Record the id (the SHA-256 digest of it, never the id) of ``kind`` until
        ``expires_at``: True the first time, False while a live record of it exists; of N
        concurrent callers exactly one gets True. Expired records go with ``purge_expired``."""
        ...


class Store(
    ClientStore,
    ResourceStore,
    UserStore,
    InteractionStore,
    SessionStore,
    AccountStore,
    LifecycleStore,
    ConsentStore,
    CodeStore,
    GrantStore,
    DeviceStore,
    PushedRequestStore,
    FederationStore,
    KeyStore,
    RegistrationStore,
    ChallengeStore,
    AdminTokenStore,
    ReplayStore,
    ConsoleStore,
    DpopSecretStore,
    Protocol,
):
    """A whole backend: every role, plus lifecycle and housekeeping."""

    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the versions applied."""
        ...

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` expired rows per table; return how many went. Codes and
        device authorizations stay until they have been expired for CODE_REPLAY_WINDOW, so
        that a late replay is still recognised."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Reservation:
    """What ``RateLimiter.reserve`` answered: an event counted under ``key`` (``token`` names
    it for ``release``), or a refusal with the seconds to wait (``retry_after`` > 0)."""

    key: str
    retry_after: int
    token: str = ""

    @property
    def granted(self) -> bool:
        return self.retry_after == 0


class RateLimiter(Protocol):
    """Counts events per key in a sliding window (failed logins, client authentications).

    Guard an attempt with ``reserve`` BEFORE verifying it and ``release`` it when it succeeded:
    checking first and counting after the verification lets N concurrent guesses all pass the
    check (RFC 6749 §10.10). Reads (``retry_after``) have no side effects and never create a
    key, so probing cannot grow or flush the limiter."""

    async def retry_after(self, key: str, limit: int, window: int, now: float) -> int:
        """Seconds until ``key`` is below ``limit`` events in ``window`` (0: allowed now)."""
        ...

    async def reserve(self, key: str, limit: int, window: int, now: float) -> Reservation:
        """Atomically (also across instances sharing the limiter): if ``key`` has fewer than
        ``limit`` events in ``window``, count one at ``now`` and grant it; else count nothing
        and refuse with the seconds until the next event will be allowed."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Uncount a granted reservation (the attempt succeeded); nothing for a refusal, or
        when it was released, reset or has left the window already."""
        ...

    async def hit(self, key: str, window: int, now: float) -> None:
        """Count one event unconditionally (prefer ``reserve``)."""
        ...

    async def reset(self, key: str) -> None: ...

    @property
    def evictions(self) -> int:
        """Keys with events still in their window dropped to bound memory (a metric)."""
        ...

    async def close(self) -> None:
        """Release connections (the app's lifespan calls it on shutdown)."""
        ...
