"""``proofkey user add|list|remove|passwd|set``: manage the users who sign in (``set --role
admin`` lets a user into the operator console)."""

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
    read_password,
    run,
    settings_from,
)
from proofkey.flows.admin import change_password, register_user
from proofkey.flows.console_auth import ROLES, set_role
from proofkey.models import User

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Manage users who sign in.")


def _user_dict(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "username": user.username, "name": user.name,
            "email": user.email, "created_at": user.created_at, "role": user.role}


RoleOpt = Annotated[str, typer.Option(
    help="user, or admin (may sign in to the operator console at /admin).")]


@app.command("add")
def user_add(
    username: str,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (required).")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    email: Annotated[str, typer.Option(help="Email address.")] = "",
    role: RoleOpt = "user",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user; the password is read from standard input, never from arguments."""
    if not password_stdin:
        raise fail("pass --password-stdin and write the password to standard input", 2)
    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}", 2)
    settings = settings_from(config)
    password = read_password()
    user = run(settings, lambda s: register_user(s, username, password, name=name,
                                                  email=email, now=int(time.time())),
               exists=f"a user named {username!r} exists already")
    audit(settings, "user_added", user.user_id)
    if role != "user":
        run(settings, lambda s: set_role(username, role, roles=s))
        audit(settings, "role_changed", f"{username}:{role}")
    if as_json:
        emit(_user_dict(user), True)
    else:
        out.print(f"added user {username}", markup=False)


@app.command("list")
def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List users."""
    rows = [_user_dict(u) for u in run(settings_from(config), lambda s: s.list_users())]
    emit(rows, as_json, make_table("users", rows, ["username", "user_id", "name", "email",
                                                   "role"]))


@app.command("set")
def user_set(username: str, role: RoleOpt, config: ConfigOpt = None) -> None:
    """Change a user's role (--role admin: may sign in to the operator console)."""
    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}", 2)
    settings = settings_from(config)
    if not run(settings, lambda s: set_role(username, role, roles=s)):
        raise fail(f"no user {username!r}")
    audit(settings, "role_changed", f"{username}:{role}")
    out.print(f"{username} now has the role {role}", markup=False)


@app.command("remove")
def user_remove(username: str, config: ConfigOpt = None) -> None:
    """Remove a user."""
    settings = settings_from(config)
    if not run(settings, lambda s: s.remove_user(username)):
        raise fail(f"no user {username!r}")
    audit(settings, "user_removed", username)
    out.print(f"removed user {username}", markup=False)


@app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the new password from stdin.")] = False,
    keep_sessions: Annotated[bool, typer.Option(
        "--keep-sessions", help="Keep the user's sessions and refresh tokens (by default "
                                "they end with the old password).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password (read from standard input); end their sessions and revoke their
    refresh tokens unless --keep-sessions."""
    if not password_stdin:
        raise fail("pass --password-stdin and write the password to standard input", 2)
    settings = settings_from(config)
    password = read_password()
    changed = run(settings, lambda s: change_password(
        s, username, password, keep_sessions=keep_sessions, now=int(time.time())))
    if changed is None:
        raise fail(f"no user {username!r}")
    audit(settings, "password_changed", username)
    if keep_sessions:
        out.print(f"password changed for {username}", markup=False)
        return
    audit(settings, "sessions_revoked", username)
    out.print(f"password changed for {username}; ended {changed.sessions_ended} session(s) "
              f"and revoked {changed.grants_revoked} grant(s)", markup=False)
