"""Local accounts for upstream subjects: find the user linked to (connector, subject), or make
the link on a first login.

An upstream subject is unique only within its issuer, so a link is keyed by the connector's
name and removing a connector deletes its links (``FederationStore.remove_connector``). A
first login is never linked to an existing user by e-mail alone: only when the operator set
``link_verified_email`` AND the upstream says ``email_verified`` AND exactly one local user
has that address. Otherwise a new local user is made, with no usable password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from proofkey.crypto import fingerprint, new_id
from proofkey.flows.context import Context
from proofkey.models import User
from proofkey.observability.events import UpstreamLinked
from proofkey.store.base import AlreadyExists, FederationStore, UserStore

__all__ = ["NO_PASSWORD", "account_for"]

NO_PASSWORD = "!federated"  # noqa: S105 - not an argon2 hash: no password ever verifies against it
_USERNAME = re.compile(r"[A-Za-z0-9._@+-]{1,96}")


def _verified(value: Any) -> bool:
    return value is True or value == "true"


def _username(connector: str, claims: Mapping[str, Any]) -> str:
    sub = str(claims["sub"])
    return f"{connector}:{sub}" if _USERNAME.fullmatch(sub) else \
        f"{connector}:{fingerprint(sub)[:24]}"


async def account_for(connector: str, claims: Mapping[str, Any], *, users: UserStore,
                      links: FederationStore, ctx: Context) -> User | None:
    """The local user for ``claims`` (our names: sub, name, email, email_verified) at
    ``connector``; None when a link names a user that no longer exists or is disabled."""
    subject = str(claims["sub"])
    user_id = await links.get_link(connector, subject)
    if user_id is not None:
        linked = await users.get_user(user_id)
        return linked if linked is not None and linked.disabled_at is None else None
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    now = ctx.now()
    if email and ctx.settings.link_verified_email and _verified(claims.get("email_verified")):
        found = await links.users_with_email(email)
        if len(found) == 1:
            if found[0].disabled_at is not None:
                return None
            return await _link(connector, subject, found[0], "verified_email", links, ctx)
    user = User(user_id=new_id(), username=_username(connector, claims),
                password_hash=NO_PASSWORD, name=str(claims.get("name") or "")[:200],
                email=(email or "")[:254] if _verified(claims.get("email_verified")) else "",
                created_at=now)
    try:
        await users.add_user(user)
    except AlreadyExists:  # a concurrent first login of the same subject won
        raced = await links.get_link(connector, subject)
        return await users.get_user(raced) if raced else None
    return await _link(connector, subject, user, "created", links, ctx)


async def _link(connector: str, subject: str, user: User, how: str, links: FederationStore,
                ctx: Context) -> User:
    await links.add_link(connector, subject, user.user_id, ctx.now())
    ctx.bus.emit(UpstreamLinked(connector, user.user_id, how, fingerprint(subject)))
    return user
