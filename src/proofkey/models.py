"""The domain records that flows and stores exchange: frozen dataclasses, no behaviour but reads.

Times are integer Unix seconds. Secrets never live in a model: codes, tokens, session handles
and client secrets appear only as SHA-256 digests (``*_digest``), passwords only as argon2 hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AdminSession",
    "AdminToken",
    "AuthorizationCode",
    "Client",
    "ClientProfile",
    "ClientType",
    "Connector",
    "ConnectorKind",
    "DeviceAuthorization",
    "Grant",
    "InitialAccessToken",
    "PendingAuthorization",
    "RefreshToken",
    "RegisteredBy",
    "Resource",
    "Secret",
    "Session",
    "SigningKey",
    "TokenAuthMethod",
    "UpstreamLogin",
    "User",
    "UserRole",
]

ClientType = Literal["public", "confidential"]
ConnectorKind = Literal["oidc", "oauth2"]
TokenAuthMethod = Literal["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]
# A per-client security profile: "" (the server's defaults) or "fapi2" (FAPI 2.0 Security
# Profile without mTLS; the rules PKL10x of ``protocol.client_policy``, the checks of
# ``flows.profile``).
ClientProfile = Literal["", "fapi2"]
# How a stored client came in: ``proofkey client add`` (cli) or ``POST /register`` (dynamic,
# RFC 7591; managed with its registration access token, RFC 7592, and pruned when unused).
RegisteredBy = Literal["cli", "dynamic"]
# Only an ``admin`` may enter the operator console (``proofkey user set NAME --role admin``).
UserRole = Literal["user", "admin"]


class Secret:
    """A secret string whose ``repr`` and ``str`` are masked; read it with ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode("utf-8"), other._value.encode("utf-8")
        )

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client."""

    client_id: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    grant_types: frozenset[str]
    token_endpoint_auth_method: TokenAuthMethod
    secret_digest: str | None = None
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name
    name: str = ""
    created_at: int = 0
    require_pushed_authorization_requests: bool = False
    resource_server: bool = False  # may introspect other clients' access tokens (RFC 7662)
    client_uri: str = ""  # RFC 7591 §2; shown escaped on consent, never fetched by the server
    logo_uri: str = ""  # RFC 7591 §2; stored and returned, never fetched by the server
    registered_by: RegisteredBy = "cli"
    registration_token_digest: str | None = None  # RFC 7592 access token (dynamic clients)
    last_used_at: int | None = None  # seen issuing a grant or refresh (housekeeping, ~1 h)
    reject_reused_challenge: bool = False  # refuse a code_challenge seen within the window
    # OIDC RP-Initiated Logout 1.0 §3.1: compared exactly, like redirect_uris.
    post_logout_redirect_uris: tuple[str, ...] = ()
    revoke_on_logout: bool = False  # logout revokes the grants issued in the ended session
    # private_key_jwt (RFC 7523 §2.2, OIDC Core §9): the client's public keys, either inline (a
    # JWK Set as JSON text, RFC 7591 ``jwks``) or where to fetch them (``jwks_uri``); never both.
    jwks: str = ""
    jwks_uri: str = ""
    token_endpoint_auth_signing_alg: str = ""  # "" any alg of CLIENT_ASSERTION_ALGORITHMS
    require_dpop: bool = False  # RFC 9449 §5.2 dpop_bound_access_tokens (shared with h-dpop-as)
    profile: ClientProfile = ""  # "fapi2": FAPI 2.0 Security Profile (flows.profile)
    # Bumped by the store on every update_client (never set by a caller): the admin API's ETag
    # and the compare-and-swap behind If-Match across server instances.
    version: int = 0

    @property
    def is_public(self) -> bool:
        return self.client_type == "public"


@dataclass(frozen=True, slots=True)
class User:
    """A resource owner who logs in with a username and password."""

    user_id: str
    username: str
    password_hash: str
    name: str = ""
    email: str = ""
    created_at: int = 0
    role: UserRole = "user"
    disabled_at: int | None = None  # disabled: no login (docs/admin.md, user lifecycle)

    @property
    def has_password(self) -> bool:
        """False for a user created with a password-set link who has not used it yet."""
        return self.password_hash.startswith("$")


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A verified authorization request waiting for login and consent (keyed by handle digest)."""

    handle_digest: str
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str
    state: str | None
    nonce: str | None
    prompt: frozenset[str]
    max_age: int | None
    browser_digest: str
    created_at: int
    expires_at: int
    user_id: str | None = None
    auth_time: int | None = None
    resources: tuple[str, ...] = ()  # RFC 8707 resource indicators, as requested
    dpop_jkt: str | None = None  # RFC 9449 §10: the code will be bound to this key


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's login session at the authorization server (keyed by handle digest)."""

    session_digest: str
    user_id: str
    auth_time: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An issued authorization code, bound to everything the token request must match."""

    code_digest: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: tuple[str, ...]
    nonce: str | None
    user_id: str
    auth_time: int
    issued_at: int
    expires_at: int
    redeemed_at: int | None = None
    grant_id: str | None = None
    resources: tuple[str, ...] = ()  # RFC 8707 resources authorized with the code
    dpop_jkt: str | None = None  # RFC 9449 §10: only a proof with this key redeems it


@dataclass(frozen=True, slots=True)
class Grant:
    """What one code redemption (or client-credentials request) authorized: the token family."""

    grant_id: str
    client_id: str
    user_id: str | None
    scope: tuple[str, ...]
    auth_time: int | None
    created_at: int
    expires_at: int
    revoked_at: int | None = None
    resources: tuple[str, ...] = ()  # RFC 8707: the resources its tokens may be for


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """An opaque refresh token of a grant; rotated on each use (RFC 9700 §4.14.2)."""

    token_digest: str
    grant_id: str
    client_id: str
    issued_at: int
    expires_at: int
    parent_digest: str | None = None
    rotated_at: int | None = None
    replaced_by: str | None = None
    dpop_jkt: str | None = None  # RFC 9449 §5: a public client's token works only with this key


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """A device authorization request (RFC 8628), keyed by the device code's digest; the user
    code is kept only as the digest of its normalised form (``normalize_user_code``).

    ``status`` goes pending → approved | denied; ``consumed_at`` is set once, when the device's
    token request wins the approved authorization.
    """

    device_digest: str
    user_code_digest: str
    client_id: str
    scope: tuple[str, ...]
    created_at: int
    expires_at: int
    interval: int
    status: Literal["pending", "approved", "denied"] = "pending"
    user_id: str | None = None
    auth_time: int | None = None
    last_polled_at: int | None = None
    consumed_at: int | None = None
    grant_id: str | None = None
    resources: tuple[str, ...] = ()  # RFC 8707 resources requested


@dataclass(frozen=True, slots=True)
class Resource:
    """A protected resource (RFC 8707) that access tokens may be issued for: its URI is the
    tokens' ``aud``, and its scopes are the only ones (besides the server's own, such as
    ``openid``) that such a token carries."""

    uri: str
    scopes: frozenset[str]
    name: str = ""
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class InitialAccessToken:
    """An initial access token for ``POST /register`` (RFC 7591 §3, mode ``token``), kept as
    its digest; each registration takes one of ``uses_left`` until ``expires_at``."""

    token_digest: str
    token_id: str  # a short public name for ``proofkey registration token list|revoke``
    created_at: int
    expires_at: int
    uses_left: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A signing key as stored: its private JWK (JSON) and its life span."""

    kid: str
    alg: str
    private_jwk: str = field(repr=False)
    created_at: int
    retired_at: int | None = None  # stopped signing then (``proofkey keys retire``)
    activates_at: int | None = None  # signs from then on (None: from ``created_at``)

    def is_active(self) -> bool:
        return self.retired_at is None

    @property
    def signs_from(self) -> int:
        return self.created_at if self.activates_at is None else self.activates_at


@dataclass(frozen=True, slots=True)
class Connector:
    """An upstream identity provider users may sign in through (``proofkey.connectors``).

    ``kind`` "oidc" finds its endpoints by discovery from ``issuer``; "oauth2" (no OpenID
    Connect) names them and maps userinfo claims with ``claims`` ((our claim, theirs) pairs).
    The upstream client secret is never kept in the clear: ``secret_sealed`` is its AES-GCM
    ciphertext under the data directory's connector key (empty: a public upstream client).
    ``legacy`` allows an upstream that does not advertise PKCE S256 (flagged by ``lint``)."""

    name: str
    kind: ConnectorKind
    issuer: str
    client_id: str
    secret_sealed: str = field(repr=False)
    scope: tuple[str, ...]
    legacy: bool = False
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    claims: tuple[tuple[str, str], ...] = ()
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class UpstreamLogin:
    """One upstream authorization in flight (keyed by the digest of its ``state``): for which
    connector, bound to which browser (the digest of its cookie), and its secrets — verifier,
    nonce, the pending downstream request's handle — sealed with a key only that browser's
    cookie and the state together give (``connectors.sealing``)."""

    connector: str
    browser_digest: str
    sealed: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AdminToken:
    """A bearer token for the admin REST API, kept as its SHA-256 digest; ``token_id`` is its
    public name (``proofkey admin token list|revoke``, the audit log's "who")."""

    token_id: str
    token_digest: str
    scopes: tuple[str, ...]
    created_at: int
    expires_at: int | None = None  # None: until revoked
    revoked_at: int | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class AdminSession:
    """An operator console session (apart from the login sessions of the OAuth flows): the
    digest of its handle, and the digest of the password hash it was opened with (a changed
    password ends it)."""

    session_digest: str
    user_id: str
    credential_digest: str
    created_at: int
    expires_at: int
