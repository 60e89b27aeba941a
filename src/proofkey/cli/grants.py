"""``proofkey grant list|revoke`` and ``proofkey session list|revoke``: grants and login
sessions by user or by client (docs/admin.md)."""

from __future__ import annotations

import dataclasses
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
from proofkey.flows import grant_admin
from proofkey.flows.grant_admin import Selector

__all__ = ["grant_app", "session_app"]

grant_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="List and revoke grants (token families) by user or client.")
session_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="List and end login sessions by user or client.")
UserOpt = Annotated[str | None, typer.Option("--user", help="A username or user id.")]
ClientOpt = Annotated[str | None, typer.Option("--client", help="A client id.")]


def _selector(item: str | None, user: str | None, client: str | None) -> Selector:
    selector = Selector(item, user, client)
    if sum(v is not None for v in (item, user, client)) != 1:
        raise fail("name exactly one of: an id, --user, --client", 2)
    return selector


def _rows(views: list[Any]) -> list[dict[str, Any]]:
    rows = [dataclasses.asdict(v) for v in views]
    for row in rows:
        if "scope" in row:
            row["scope"] = list(row["scope"])
    return rows


@grant_app.command("list")
def grant_list(user: UserOpt = None, client: ClientOpt = None, config: ConfigOpt = None,
               as_json: JsonOpt = False) -> None:
    """List the active grants of a user or of a client."""
    settings = settings_from(config)
    selector = _selector(None, user, client)
    rows = _rows(run(settings, lambda s: grant_admin.list_grants(s, selector,
                                                                 now=int(time.time()))))
    emit(rows, as_json, make_table("grants", rows, ["grant_id", "client_id", "user_id", "scope",
                                                    "created_at", "expires_at"]))


@grant_app.command("revoke")
def grant_revoke(grant_id: Annotated[str | None, typer.Argument(help="A grant id.")] = None,
                 user: UserOpt = None, client: ClientOpt = None,
                 config: ConfigOpt = None) -> None:
    """Revoke one grant, or every grant of a user or of a client: their refresh tokens stop
    at once, their access tokens at introspection."""
    settings = settings_from(config)
    selector = _selector(grant_id, user, client)
    count = run(settings, lambda s: grant_admin.revoke_grants(s, selector, now=int(time.time())))
    audit(settings, "grants_revoked", grant_id or (f"user={user}" if user else
                                                   f"client={client}"))
    out.print(f"revoked {count} grant(s)", markup=False)


@session_app.command("list")
def session_list(user: UserOpt = None, client: ClientOpt = None, config: ConfigOpt = None,
                 as_json: JsonOpt = False) -> None:
    """List the login sessions of a user, or those a client's live grants came from."""
    settings = settings_from(config)
    selector = _selector(None, user, client)
    rows = _rows(run(settings, lambda s: grant_admin.list_sessions(s, selector,
                                                                   now=int(time.time()))))
    emit(rows, as_json, make_table("sessions", rows, ["session_id", "user_id", "auth_time",
                                                      "expires_at"]))


@session_app.command("revoke")
def session_revoke(session_id: Annotated[str | None, typer.Argument(
                       help="A session id (from session list).")] = None,
                   user: UserOpt = None, client: ClientOpt = None,
                   config: ConfigOpt = None) -> None:
    """End one session, or every session of a user or of a client (grants stay: revoke them
    with ``grant revoke``)."""
    settings = settings_from(config)
    selector = _selector(session_id, user, client)
    count = run(settings, lambda s: grant_admin.end_sessions(s, selector, now=int(time.time())))
    audit(settings, "sessions_ended", session_id or (f"user={user}" if user else
                                                     f"client={client}"))
    out.print(f"ended {count} session(s)", markup=False)
