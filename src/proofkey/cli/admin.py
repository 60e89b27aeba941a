"""``proofkey admin token create|list|revoke``: bearer tokens for the admin REST API.

A token is printed once and stored as a SHA-256 digest with its scopes (``clients:read``,
``clients:write`` …) and expiry; ``list`` shows ids, scopes and state (never a token),
``revoke ID`` ends one at once. The API checks the same records (``flows.admin_tokens``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from proofkey.cli.common import (
    ConfigOpt,
    JsonOpt,
    audit,
    emit,
    fail,
    make_table,
    out,
    run,
    settings_from,
)
from proofkey.cli.registration import duration_seconds
from proofkey.flows.admin_tokens import ADMIN_SCOPES, create_admin_token, revoke_admin_token
from proofkey.models import AdminToken
from proofkey.store.base import Store

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="The admin REST API (/admin/api/v1): its bearer tokens.")
token_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Admin tokens: create (printed once), list, revoke.")
app.add_typer(token_app, name="token")


def _row(token: AdminToken, now: int) -> dict[str, Any]:
    state = "revoked" if token.revoked_at is not None else "expired" if (
        token.expires_at is not None and token.expires_at <= now) else "active"
    return {"id": token.token_id, "scopes": list(token.scopes), "state": state,
            "created_at": token.created_at, "expires_at": token.expires_at,
            "revoked_at": token.revoked_at, "description": token.description}


@token_app.command("create")
def token_create(
    scope: Annotated[list[str], typer.Option(
        help="A scope (repeatable, or space-separated): " + " ".join(ADMIN_SCOPES))],
    expires: Annotated[str | None, typer.Option(
        help="Lifetime, e.g. 90d, 12h (default: until revoked).")] = None,
    description: Annotated[str, typer.Option(help="What it is for (shown by list).")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an admin token; it is printed once and stored only as a digest."""
    settings = settings_from(config)
    lifetime = None if expires is None else duration_seconds(expires, "--expires")
    scopes = [s for item in scope for s in item.split()]

    async def work(store: Store) -> Any:
        return await create_admin_token(store, scopes=scopes, lifetime=lifetime,
                                        description=description, now=int(time.time()))

    made = run(settings, work)
    audit(settings, "admin_token_created", made.record.token_id)
    if as_json:
        emit({**_row(made.record, made.record.created_at), "token": made.token.reveal()}, True)
        return
    out.print(f"admin token {made.record.token_id} for {' '.join(made.record.scopes)} "
              f"(shown once, send it as Authorization: Bearer):", markup=False)
    print(made.token.reveal())


@token_app.command("list")
def token_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List admin tokens (ids, scopes, state; never the tokens)."""
    now = int(time.time())
    rows = [_row(t, now) for t in run(settings_from(config), lambda s: s.list_admin_tokens())]
    emit(rows, as_json, make_table("admin tokens", rows, [
        "id", "scopes", "state", "created_at", "expires_at", "description"]))


@token_app.command("revoke")
def token_revoke(token_id: str, config: ConfigOpt = None) -> None:
    """Revoke an admin token by its id."""
    settings = settings_from(config)
    if not run(settings, lambda s: revoke_admin_token(s, token_id, int(time.time()))):
        raise fail(f"no active admin token {token_id!r}")
    audit(settings, "admin_token_revoked", token_id)
    out.print(f"revoked admin token {token_id}", markup=False)
