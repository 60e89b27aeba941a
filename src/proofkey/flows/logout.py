"""Logout (OpenID Connect RP-Initiated Logout 1.0) and the user's own session control.

``plan_logout`` is the ordered list of checks of a logout request; it never logs anyone out:
1. a present ``id_token_hint`` is verified (this server's signature and issuer; expiry is not
   checked, §4); a hint that fails is ignored — the user is asked instead, never trusted;
2. §2: "If both client_id and id_token_hint are present, the OP MUST verify that the Client
   Identifier matches the one used when issuing the ID Token" — a mismatch is refused;
3. the client (from ``client_id`` or the hint's audience) must be registered;
4. §3.1: ``post_logout_redirect_uri`` "MUST have been previously registered": exact match, or
   the request is refused (no redirect, ever, to an unregistered address);
5. without a valid hint for the signed-in user, the user confirms first (§6: a third party
   must not log the user out silently).

``end_session`` ends a session: it deletes it and revokes, for the clients that chose it
(``Client.revoke_on_logout``), the grants issued in it — so their refresh tokens stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.errors import InvalidRequest, InvalidToken
from proofkey.models import Client, Session
from proofkey.observability.events import LoggedOut
from proofkey.protocol.logout import LogoutRequest, post_logout_target
from proofkey.store.base import AccountStore, ClientStore, SessionStore
from proofkey.tokens.mint import TokenMinter

from .context import Context

__all__ = ["LogoutPlan", "disconnect_app", "end_other_session", "end_session", "plan_logout"]


@dataclass(frozen=True, slots=True)
class LogoutPlan:
    """What a valid logout request asks: where to go afterwards (None: the signed-out page),
    and whether the user must confirm first."""

    client: Client | None
    target: str | None
    confirm: bool
    hint_ignored: bool = False


async def plan_logout(request: LogoutRequest, *, session: Session | None, clients: ClientStore,
                      minter: TokenMinter, ctx: Context) -> LogoutPlan:
    """Check a logout request (InvalidRequest for a refusal, shown as a page)."""
    hint_sub: str | None = None
    hint_aud: tuple[str, ...] = ()
    hint_ignored = False
    if request.id_token_hint is not None:
        try:
            hint = minter.verify_id_token_hint(request.id_token_hint)
            hint_sub, hint_aud = hint.sub, hint.aud
        except InvalidToken:
            hint_ignored = True
    client_id = request.client_id
    if client_id is not None and hint_aud and client_id not in hint_aud:
        raise InvalidRequest("client_id does not match the audience of the id_token_hint",
                             redirectable=False)
    if client_id is None and len(hint_aud) == 1:
        client_id = hint_aud[0]
    client = await clients.get_client(client_id) if client_id else None
    if client_id and client is None:
        raise InvalidRequest("unknown client_id", redirectable=False)
    target = None
    if request.post_logout_redirect_uri is not None:
        if client is None:
            raise InvalidRequest("post_logout_redirect_uri needs client_id or a valid "
                                 "id_token_hint", redirectable=False)
        target = post_logout_target(client.post_logout_redirect_uris,
                                    request.post_logout_redirect_uri, request.state)
        if target is None:
            raise InvalidRequest("post_logout_redirect_uri is not registered for this client",
                                 redirectable=False)
    confirm = session is not None and (hint_sub is None or hint_sub != session.user_id)
    return LogoutPlan(client, target, confirm, hint_ignored)


async def end_session(session: Session, *, how: str, client_id: str | None,
                      sessions: SessionStore, accounts: AccountStore, clients: ClientStore,
                      ctx: Context) -> int:
    """Delete the session and revoke the grants issued in it to clients with
    ``revoke_on_logout``; return how many grants were revoked."""
    await sessions.delete_session(session.session_digest)
    revoked = await _revoke_session_grants(session, accounts=accounts, clients=clients, ctx=ctx)
    ctx.bus.emit(LoggedOut(session.user_id, how, client_id, revoked))
    return revoked


async def end_other_session(user_id: str, session_digest: str, *, accounts: AccountStore,
                            clients: ClientStore, ctx: Context) -> bool:
    """End one of the user's sessions from /account (as a logout: same revocations)."""
    mine = [s for s in await accounts.list_sessions(user_id, ctx.now())
            if s.session_digest == session_digest]
    if not mine or not await accounts.end_session(session_digest, user_id):
        return False
    revoked = await _revoke_session_grants(mine[0], accounts=accounts, clients=clients, ctx=ctx)
    ctx.bus.emit(LoggedOut(user_id, "session_ended", None, revoked))
    return True


async def disconnect_app(user_id: str, client_id: str, *, accounts: AccountStore,
                         ctx: Context) -> int:
    """Revoke every grant the client holds for the user and forget the consent."""
    revoked = await accounts.disconnect_client(user_id, client_id, ctx.now())
    ctx.bus.emit(LoggedOut(user_id, "app_disconnected", client_id, revoked))
    return revoked


async def _revoke_session_grants(session: Session, *, accounts: AccountStore,
                                 clients: ClientStore, ctx: Context) -> int:
    now = ctx.now()
    holders = {g.client_id for g in await accounts.list_grants(session.user_id, now)
               if g.auth_time == session.auth_time}
    flagged = set()
    for client_id in holders:
        client = await clients.get_client(client_id)
        if client is not None and client.revoke_on_logout:
            flagged.add(client_id)
    if not flagged:
        return 0
    return await accounts.revoke_session_grants(session.user_id, session.auth_time, flagged, now)
