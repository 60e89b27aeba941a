"""Client, user and key administration: the use cases behind ``proofkey client|user|keys``.

Registration enforces the policy the protocol relies on: redirect URIs that are absolute, have
no fragment, use https (or loopback http, or a reverse-domain private scheme for native apps);
then the rule set ``proofkey lint`` applies (``protocol/client_policy``): an error refuses the
client, warnings come back with it. Confidential clients get a 256-bit secret that is shown
once and stored as a digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from proofkey.crypto import digest, hash_password_async, new_handle, new_id
from proofkey.models import Client, ClientType, Secret, TokenAuthMethod, User
from proofkey.protocol.client_policy import SEVERITIES, Issue, Policy, lint, view_of_client
from proofkey.protocol.redirect_uri import validate_registration
from proofkey.protocol.registration import GRANT_TYPES
from proofkey.store.base import ClientStore, UserStore

__all__ = [
    "DEFAULT_GRANTS",
    "AdminError",
    "NewClient",
    "PasswordChange",
    "build_client",
    "change_password",
    "check_policy",
    "policy_issues",
    "register_client",
    "register_user",
    "validate_password",
]

DEFAULT_GRANTS = ("authorization_code", "refresh_token")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_USERNAME = re.compile(r"[A-Za-z0-9._@+-]{1,128}")
_ID_TOKEN_ALGS = frozenset({"RS256", "ES256"})


class AdminError(ValueError):
    """A registration that breaks policy; the message says which rule (``rule``, if any)."""

    def __init__(self, message: str, *, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class NewClient:
    client: Client
    secret: Secret | None
    warnings: tuple[str, ...] = ()  # the registration policy's warnings, with their rule ids


def policy_issues(client: Client) -> list[Issue]:
    """The findings of ``proofkey lint``'s rule set for a client, errors first (the console
    lists them; ``check_policy`` decides with them)."""
    view = view_of_client(client)
    # Post-logout redirect URIs (OIDC RP-Initiated Logout 1.0 §3.1) take the redirect rules
    # PKL010-PKL016 too: the same lint over a view that lists them as its redirect URIs.
    logout_view = replace(view, redirect_uris=client.post_logout_redirect_uris, code_flow=False)
    return sorted([*lint(view, Policy()), *(
        replace(i, message=f"post-logout {i.message}") for i in lint(logout_view, Policy())
        if i.rule.startswith("PKL01"))], key=lambda i: (SEVERITIES.index(i.severity), i.rule))


def check_policy(client: Client) -> tuple[str, ...]:
    """Apply the registration policy that ``proofkey lint`` applies (one rule set): raise
    ``AdminError`` naming the first error's rule, else return the warnings. A redirect URI
    that ``protocol.redirect_uri`` refuses (a warning, PKL016, when linting another
    provider's export) refuses a registration here."""
    issues = policy_issues(client)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise AdminError(f"{errors[0].message} [{errors[0].rule}]", rule=errors[0].rule)
    for kind, uris in (("redirect", client.redirect_uris),
                       ("post-logout redirect", client.post_logout_redirect_uris)):
        for uri in uris:
            try:
                validate_registration(uri, public=client.is_public)
            except ValueError as exc:
                raise AdminError(f"{kind} URI {uri!r}: {exc} [PKL016]", rule="PKL016") from None
    return tuple(f"{i.message} [{i.rule}]" for i in issues if i.severity == "warning")


def build_client(
    client_id: str,
    *,
    client_type: ClientType,
    redirect_uris: Sequence[str],
    scopes: Iterable[str],
    supported_scopes: Iterable[str],
    grant_types: Iterable[str] = DEFAULT_GRANTS,
    auth_method: TokenAuthMethod | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    name: str = "",
    require_par: bool = False,
    resource_server: bool = False,
    reject_reused_challenge: bool = False,
    post_logout_redirect_uris: Sequence[str] = (),
    revoke_on_logout: bool = False,
    jwks: str = "",
    jwks_uri: str = "",
    auth_signing_alg: str = "",
    require_dpop: bool = False,
    now: int,
) -> NewClient:
    """Validate a client against the registration policy without storing it (metadata
    documents are resolved this way); a confidential client gets a new secret."""
    grants = frozenset(grant_types)
    if not grants or not grants <= GRANT_TYPES:
        raise AdminError("grant types must be among " + ", ".join(sorted(GRANT_TYPES))
                         + " [PKL053]", rule="PKL053")
    public = client_type == "public"
    if "authorization_code" in grants and not redirect_uris:
        raise AdminError("at least one redirect URI is required for the code flow [PKL017]",
                         rule="PKL017")
    if public and resource_server:
        raise AdminError("a resource server must be a confidential client (it authenticates "
                         "to introspect tokens)")
    scope_set = frozenset(scopes)
    unknown = scope_set - frozenset(supported_scopes)
    if unknown:
        raise AdminError("unknown scopes: " + " ".join(sorted(unknown)) + " [PKL058]",
                         rule="PKL058")
    if id_token_alg not in _ID_TOKEN_ALGS:
        raise AdminError("id_token signing alg must be RS256 or ES256 [PKL057]", rule="PKL057")
    keys = bool(jwks or jwks_uri)
    method: TokenAuthMethod = auth_method or (
        "none" if public else "private_key_jwt" if keys else "client_secret_basic")
    if public != (method == "none"):
        raise AdminError("public clients authenticate with 'none'; confidential clients with "
                         "client_secret_basic, client_secret_post or private_key_jwt [PKL031]",
                         rule="PKL031")
    # private_key_jwt (RFC 7523 §2.2): the client proves a private key; no shared secret.
    secret = None if public or method == "private_key_jwt" else Secret(new_handle())
    client = Client(
        client_id=client_id, client_type=client_type, redirect_uris=tuple(redirect_uris),
        scopes=scope_set, grant_types=grants, token_endpoint_auth_method=method,
        secret_digest=digest(secret.reveal()) if secret else None,
        id_token_signed_response_alg=id_token_alg, name=name, created_at=now,
        require_pushed_authorization_requests=require_par, resource_server=resource_server,
        reject_reused_challenge=reject_reused_challenge,
        post_logout_redirect_uris=tuple(dict.fromkeys(post_logout_redirect_uris)),
        revoke_on_logout=revoke_on_logout, jwks=jwks, jwks_uri=jwks_uri,
        token_endpoint_auth_signing_alg=auth_signing_alg, require_dpop=require_dpop)
    return NewClient(client, secret, check_policy(client))


async def register_client(
    clients: ClientStore,
    client_id: str,
    *,
    client_type: ClientType,
    redirect_uris: Sequence[str],
    scopes: Iterable[str],
    supported_scopes: Iterable[str],
    grant_types: Iterable[str] = DEFAULT_GRANTS,
    auth_method: TokenAuthMethod | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    name: str = "",
    require_par: bool = False,
    resource_server: bool = False,
    reject_reused_challenge: bool = False,
    post_logout_redirect_uris: Sequence[str] = (),
    revoke_on_logout: bool = False,
    jwks: str = "",
    jwks_uri: str = "",
    auth_signing_alg: str = "",
    require_dpop: bool = False,
    now: int,
) -> NewClient:
    """Validate and store a client; a confidential client's secret is returned once."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise AdminError("client id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -")
    new = build_client(
        client_id, client_type=client_type, redirect_uris=redirect_uris, scopes=scopes,
        supported_scopes=supported_scopes, grant_types=grant_types, auth_method=auth_method,
        id_token_alg=id_token_alg, name=name, require_par=require_par,
        resource_server=resource_server, reject_reused_challenge=reject_reused_challenge,
        post_logout_redirect_uris=post_logout_redirect_uris, revoke_on_logout=revoke_on_logout,
        jwks=jwks, jwks_uri=jwks_uri, auth_signing_alg=auth_signing_alg,
        require_dpop=require_dpop, now=now)
    await clients.add_client(new.client)
    return new


def validate_password(password: str) -> None:
    if len(password) < 8:
        raise AdminError("passwords must have at least 8 characters")
    if len(password) > 1024:
        raise AdminError("passwords must have at most 1024 characters")


async def register_user(
    users: UserStore, username: str, password: str, *, name: str = "", email: str = "",
    now: int,
) -> User:
    if not _USERNAME.fullmatch(username):
        raise AdminError("usernames are 1-128 characters of A-Z a-z 0-9 . _ @ + -")
    validate_password(password)
    user = User(user_id=new_id(), username=username,
                password_hash=await hash_password_async(password), name=name, email=email,
                created_at=now)
    await users.add_user(user)
    return user


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """A changed password and what it ended (both 0 when the sessions were kept)."""

    user: User
    sessions_ended: int
    grants_revoked: int


async def change_password(
    users: UserStore, username: str, password: str, *, keep_sessions: bool = False, now: int,
) -> PasswordChange | None:
    """Set a new password and, unless ``keep_sessions``, take back what the old one gave
    (``UserStore.end_user_access``: sessions, refresh tokens and grants, codes and logins in
    flight): whoever knew the old password, the usual reason for a change, keeps nothing. The
    password is set first, so no login with the old one can start after access has ended.
    None if there is no such user."""
    validate_password(password)
    user = await users.get_user_by_username(username)
    if user is None or not await users.set_password(username,
                                                    await hash_password_async(password)):
        return None
    if keep_sessions:
        return PasswordChange(user, 0, 0)
    ended, revoked = await users.end_user_access(user.user_id, now)
    return PasswordChange(user, ended, revoked)
