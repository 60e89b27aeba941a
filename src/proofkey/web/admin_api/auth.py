"""The admin API's authentication: ``Authorization: Bearer <token>``, an admin token or an
access token with admin scopes (``flows.admin_tokens.caller_of``); a 401 problem otherwise."""

from __future__ import annotations

from starlette.requests import Request

from proofkey.flows.admin_tokens import Caller, caller_of

from ..services import Services
from .problems import Problem

__all__ = ["authenticate", "require"]

_CHALLENGE = 'Bearer realm="proofkey-admin"'


def _unauthorized(detail: str, *, invalid: bool) -> Problem:
    challenge = _CHALLENGE + (', error="invalid_token"' if invalid else "")
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


async def authenticate(request: Request, services: Services) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("send Authorization: Bearer <admin token or access token>",
                            invalid=False)
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'", invalid=True)
    caller = await caller_of(token.strip(), tokens=services.store, grants=services.store,
                             minter=services.minter, now=services.ctx.now())
    if caller is None:
        raise _unauthorized("the token is unknown, expired, revoked or carries no admin "
                            "scope for this server", invalid=True)
    return caller


def require(caller: Caller, scope: str) -> None:
    """403 unless ``caller`` holds ``scope``."""
    if not caller.may(scope):
        raise Problem(403, "insufficient-scope", f"this call needs the scope {scope}",
                      headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", '
                                                   f'scope="{scope}"'})
