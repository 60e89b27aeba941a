"""The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1, OIDC Core §3.1.2): one ordered
list of checks, then a decision — redirect with a code, redirect with an error, or interact.

Until the client and its redirect URI are verified, every error is shown on a page and never
redirected (RFC 6749 §4.1.2.1: the server "MUST NOT automatically redirect the user-agent to the
invalid redirection URI"). After that, errors go back to the client with ``state`` and ``iss``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from proofkey.crypto import digest, fingerprint, new_handle
from proofkey.errors import (
    ConsentRequired,
    InvalidClient,
    InvalidRequest,
    LoginRequired,
    OAuthError,
    RateLimited,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from proofkey.models import AuthorizationCode, Client, PendingAuthorization, Session
from proofkey.observability.events import (
    AuthorizationFailed,
    AuthorizationStarted,
    CodeIssued,
    challenge_problem,
    state_problem,
)
from proofkey.protocol import pkce
from proofkey.protocol.client_id_document import is_metadata_document_id
from proofkey.protocol.params import Params, values_of
from proofkey.protocol.redirect_uri import match_redirect_uri, redirect_assures_client
from proofkey.protocol.resource import Catalog, parse_resources, require_registered
from proofkey.protocol.responses import redirect_with
from proofkey.protocol.scope import check_scope, format_scope, parse_scope
from proofkey.settings import Settings
from proofkey.store.base import (
    ChallengeStore,
    ClientStore,
    CodeStore,
    ConsentStore,
    InteractionStore,
    RateLimiter,
    ResourceDirectory,
)

from .challenge_reuse import note_challenge
from .context import Context
from .profile import check_client, code_lifetime, require_pushed
from .resources import catalog_for
from .row_caps import pending_cap

__all__ = [
    "AuthorizeRequest",
    "Interact",
    "Redirect",
    "ShowError",
    "check_request",
    "error_redirect",
    "issue_code",
    "start",
]

_PROMPTS = frozenset({"none", "login", "consent"})
_MAX_NONCE = 512
_MAX_STATE = 2048
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """A request whose client and redirect URI are verified and whose parameters are valid."""

    client: Client
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str
    state: str | None
    nonce: str | None
    prompt: frozenset[str]
    max_age: int | None
    resources: tuple[str, ...] = ()  # RFC 8707, registered
    dpop_jkt: str | None = None  # RFC 9449 §10: the code is bound to this DPoP key


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the user agent back to the client (303) at ``url``."""

    url: str


@dataclass(frozen=True, slots=True)
class ShowError:
    """Render an error page; the redirect URI could not be trusted."""

    error: OAuthError


@dataclass(frozen=True, slots=True)
class Interact:
    """Continue at the login/consent pages with this interaction handle."""

    handle: str


Outcome = Redirect | ShowError | Interact


async def start(
    params: Params,
    *,
    clients: ClientStore,
    interactions: InteractionStore,
    consents: ConsentStore,
    codes: CodeStore,
    challenges: ChallengeStore,
    session: Session | None,
    browser_id: str,
    ctx: Context,
    limiter: RateLimiter,
    address: str,
    pushed: bool = False,
    resources: ResourceDirectory | None = None,
) -> Outcome:
    """Validate an authorization request and decide what happens next; ``pushed`` says the
    parameters came from a pushed authorization request (RFC 9126). A request that has to be
    stored while the user logs in or consents counts against the caps of ``row_caps`` for its
    client and ``address``; beyond them it gets a 429 page, never a redirect. A valid request
    notes its challenge in ``challenges`` (``challenge_reuse``; a pushed one was noted at
    /par)."""
    now = ctx.now()
    started = time.perf_counter()
    # 1. Client and redirect URI: until both are verified, errors are shown, not redirected.
    client_id = params.get("client_id")
    if client_id is None:
        return _page(ctx, None, InvalidRequest("client_id is required", redirectable=False))
    try:
        client = await clients.get_client(client_id)
    except InvalidClient as error:  # a metadata document that cannot be used: say why
        return _page(ctx, None, InvalidRequest(error.description, redirectable=False))
    if client is None:
        return _page(ctx, None, InvalidRequest("unknown client_id", redirectable=False))
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        return _page(ctx, client_id, InvalidRequest("redirect_uri is required",
                                                    redirectable=False))
    if not match_redirect_uri(client.redirect_uris, redirect_uri,
                              loopback_any_port=client.is_public):
        return _page(ctx, client_id, InvalidRequest(
            "redirect_uri does not match a registered redirect URI", redirectable=False))
    state = params.get("state")
    if state is not None and len(state) > _MAX_STATE:
        return _to_client(ctx, client_id, redirect_uri, None,
                          InvalidRequest("state is too long"), params)
    try:
        catalog = await catalog_for(params, ctx.settings, resources)
        request = check_request(params, client, redirect_uri, ctx.settings, pushed=pushed,
                                catalog=catalog)
        if not pushed:
            await note_challenge(client, request.code_challenge, challenges=challenges, ctx=ctx,
                                 endpoint="authorize")
    except OAuthError as error:
        return _to_client(ctx, client_id, redirect_uri, state, error, params)

    # 2. Login and consent: what does this request still need from the user?
    needs_login = session is None or "login" in request.prompt or _too_old(
        session.auth_time, request.max_age, now)
    granted = await consents.get_consent(session.user_id, client.client_id) if session else None
    # No consent on record (an empty set) must ask even for an empty scope: a client the user
    # never approved gets no code in silence.
    remembered = granted is not None and len(granted) > 0 and set(request.scope) <= granted
    # A metadata-document client is whoever controls a URL: never remembered, always asked.
    assured = redirect_assures_client(redirect_uri, public=client.is_public) and \
        not is_metadata_document_id(client.client_id)
    needs_consent = "consent" in request.prompt or not remembered or not assured
    immediate = session is not None and not needs_login and not needs_consent
    ctx.bus.emit(AuthorizationStarted(client.client_id, format_scope(request.scope),
                                      " ".join(sorted(request.prompt)),
                                      state_problem=state_problem(state), immediate=immediate))
    if not assured:
        # RFC 8252 §8.6: any local app can listen on a public client's loopback or private-use
        # redirect, so remembered consent never makes its request silent. The pending request
        # asks as for prompt=consent, so a login on the way asks too.
        request = replace(request, prompt=request.prompt | {"consent"})
    if "none" in request.prompt and (needs_login or needs_consent):
        # OIDC Core §3.1.2.6: prompt=none MUST NOT display UI; answer with an error.
        refusal: OAuthError = (
            LoginRequired("the user is not logged in") if needs_login
            else ConsentRequired("the user has not consented to this client") if not remembered
            else ConsentRequired("this client's redirect cannot prove the client's identity, "
                                 "so consent is asked every time"))
        return _to_client(ctx, client_id, redirect_uri, state, refusal, params)
    if immediate and session is not None:
        code = await issue_code(request, session.user_id, session.auth_time, codes=codes,
                                ctx=ctx, started=started, client_profile=client.profile)
        return Redirect(redirect_with(redirect_uri, {
            "code": code, "state": state, "iss": ctx.settings.effective_issuer}))

    try:
        await pending_cap(ctx.settings).admit(limiter, client_id=client.client_id,
                                              address=address, now=ctx.clock())
    except RateLimited as error:
        return _page(ctx, client_id, error)
    handle = new_handle()
    await interactions.save_pending(PendingAuthorization(
        handle_digest=digest(handle),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        state=state,
        nonce=request.nonce,
        prompt=request.prompt,
        max_age=request.max_age,
        browser_digest=digest(browser_id),
        created_at=now,
        expires_at=now + ctx.settings.interaction_ttl_seconds,
        user_id=None if needs_login or session is None else session.user_id,
        auth_time=None if needs_login or session is None else session.auth_time,
        resources=request.resources,
        dpop_jkt=request.dpop_jkt,
    ))
    return Interact(handle)


def check_request(params: Params, client: Client, redirect_uri: str, settings: Settings, *,
                  pushed: bool = False, catalog: Catalog | None = None) -> AuthorizeRequest:
    """The checks after client and redirect URI, in order; each raises a redirectable
    OAuthError. ``/par`` runs the same checks on a pushed request (RFC 9126 §2.1).
    ``catalog``: the registered resources (RFC 8707), whose scopes are known scopes too."""
    catalog = catalog or Catalog()
    if "request" in params:
        raise RequestNotSupported("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupported("only request_uri values from /par are supported")
    check_client(client)  # a profiled client still meets its profile (flows.profile)
    require_pushed(client, pushed=pushed)  # FAPI 2.0 SP §5.3.2.2
    if client.require_pushed_authorization_requests and not pushed:
        # RFC 9126 §6: such a client's requests MUST come through the PAR endpoint.
        raise InvalidRequest("this client must use pushed authorization requests (/par)")
    state = params.get("state")
    if state is not None and len(state) > _MAX_STATE:
        raise InvalidRequest("state is too long")
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        # OAuth 2.1 §4.1.1: only the authorization code response type exists.
        raise UnsupportedResponseType("only response_type=code is supported")
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("the client may not use the authorization code grant")
    response_mode = params.get("response_mode")
    if response_mode is not None and response_mode != "query":
        raise InvalidRequest("only response_mode=query is supported")
    scope = check_scope(parse_scope(params.get("scope")), allowed=client.scopes,
                        supported=catalog.known_scopes(settings.scopes_supported))
    # RFC 8707 §2: an invalid or unknown resource is invalid_target.
    resources = parse_resources(values_of(params, "resource"))
    require_registered(resources, catalog, settings.audience)
    challenge = pkce.check_challenge(params.get("code_challenge"),
                                     params.get("code_challenge_method"))
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > _MAX_NONCE:
        raise InvalidRequest("nonce is too long")
    prompt = frozenset(params.get("prompt", "").split())
    if not prompt <= _PROMPTS:
        raise InvalidRequest("prompt may only contain none, login and consent")
    if "none" in prompt and len(prompt) > 1:
        # OIDC Core §3.1.2.1: "none" MUST NOT be combined with other values.
        raise InvalidRequest("prompt=none cannot be combined with other values")
    max_age = _max_age(params.get("max_age"))
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and _JKT.fullmatch(dpop_jkt) is None:
        # RFC 9449 §10: the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key, base64url.
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    return AuthorizeRequest(client, redirect_uri, scope, challenge, state, nonce, prompt,
                            max_age, resources, dpop_jkt)


def _too_old(auth_time: int, max_age: int | None, now: int) -> bool:
    """OIDC Core §3.1.2.1: "If the elapsed time is greater than this value, the OP MUST attempt
    to actively re-authenticate"; max_age=0 is equivalent to prompt=login (errata set 2), even
    within the second the session was made."""
    if max_age is None:
        return False
    return max_age == 0 or now - auth_time > max_age


def _max_age(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidRequest("max_age must be a non-negative integer")
    return int(raw)


async def issue_code(
    request: AuthorizeRequest | PendingAuthorization,
    user_id: str,
    auth_time: int,
    *,
    codes: CodeStore,
    ctx: Context,
    client_profile: str,
    started: float | None = None,
) -> str:
    """Mint a single-use code bound to the request, store its digest, return the code; it
    lives ``code_ttl_seconds``, at most 60 s for a fapi2 client (``flows.profile``)."""
    now = ctx.now()
    code = new_handle()
    client_id = (request.client.client_id if isinstance(request, AuthorizeRequest)
                 else request.client_id)
    await codes.save_code(AuthorizationCode(
        code_digest=digest(code),
        client_id=client_id,
        redirect_uri=request.redirect_uri,
        code_challenge=request.code_challenge,
        scope=request.scope,
        nonce=request.nonce,
        user_id=user_id,
        auth_time=auth_time,
        issued_at=now,
        expires_at=now + code_lifetime(client_profile, ctx.settings),
        resources=request.resources,
        dpop_jkt=request.dpop_jkt,
    ))
    latency = (time.perf_counter() - started) if started is not None else float(
        now - request.created_at if isinstance(request, PendingAuthorization) else 0)
    ctx.bus.emit(CodeIssued(client_id, user_id, fingerprint(code), latency,
                            scope=format_scope(request.scope),
                            prompt=" ".join(sorted(request.prompt))))
    return code


def error_redirect(ctx: Context, redirect_uri: str, state: str | None,
                   error: OAuthError) -> Redirect:
    """RFC 6749 §4.1.2.1 error response, with ``iss`` (RFC 9207 §2)."""
    return Redirect(redirect_with(redirect_uri, {
        "error": error.error,
        "error_description": error.description,
        "state": state,
        "iss": ctx.settings.effective_issuer,
    }))


def _page(ctx: Context, client_id: str | None, error: OAuthError) -> ShowError:
    ctx.bus.emit(AuthorizationFailed(client_id, error.error, False, False))
    return ShowError(error)


def _to_client(ctx: Context, client_id: str, redirect_uri: str, state: str | None,
               error: OAuthError, params: Params) -> Redirect:
    missing = "code_challenge" not in params
    ctx.bus.emit(AuthorizationFailed(
        client_id, error.error, True, missing,
        challenge_problem=challenge_problem(params.get("code_challenge"),
                                            params.get("code_challenge_method")),
        state_problem=state_problem(params.get("state"))))
    return error_redirect(ctx, redirect_uri, state, error)
