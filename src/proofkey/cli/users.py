"""``proofkey user add|create|link|list|set|disable|enable|remove|passwd``: manage the users
who sign in (``set --role admin`` lets a user into the operator console; the lifecycle:
docs/admin.md)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from proofkey.cli.common import (
    ConfigOpt,
    JsonOpt,
    audit,
    cell,
    emit,
    fail,
    make_table,
    out,
    read_password,
    run,
    settings_from,
)
from proofkey.cli.keys import parse_duration
from proofkey.flows import user_admin
from proofkey.flows.admin import change_password, register_user
from proofkey.flows.console_auth import ROLES, set_role
from proofkey.models import User
from proofkey.store.base import Store

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Manage users who sign in.")


def _user_dict(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "username": user.username, "name": user.name,
            "email": user.email, "created_at": user.created_at, "role": user.role,
            "disabled_at": user.disabled_at,
            "awaiting_setup": user.password_hash == user_admin.UNSET_PASSWORD}


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
                                                   "role", "awaiting_setup", "disabled_at"]))


LinkTtlOpt = Annotated[str, typer.Option("--link-ttl", help="How long the link works: 72h, 7d.")]


def _print_link(link: user_admin.PasswordLink, as_json: bool, what: str) -> None:
    """The link, once: it is a credential until used (never in the audit log)."""
    if as_json:
        emit({**_user_dict(link.user), "password_set_url": link.url.reveal(),
              "link_expires_at": link.expires_at}, True)
        return
    out.print(f"{what}; hand this single-use link to them (it works once, until "
              f"{cell('expires_at', link.expires_at)}):", markup=False)
    print(link.url.reveal())


@app.command("create")
def user_create(
    username: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    email: Annotated[str, typer.Option(help="Email address.")] = "",
    link_ttl: LinkTtlOpt = "72h",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user without a password and print a single-use link with which they set one."""
    settings = settings_from(config)
    ttl = parse_duration(link_ttl)
    link = run(settings, lambda s: user_admin.create_user(
        s, username, issuer=settings.effective_issuer, now=int(time.time()), name=name,
        email=email, ttl=ttl), exists=f"a user named {username!r} exists already")
    audit(settings, "user_added", link.user.user_id)
    _print_link(link, as_json, f"created user {username}")


@app.command("link")
def user_link(username: str, link_ttl: LinkTtlOpt = "72h", config: ConfigOpt = None,
              as_json: JsonOpt = False) -> None:
    """Print a new single-use password-set link for a user (earlier links stop working);
    using it ends the user's sessions and grants, like ``passwd``."""
    settings = settings_from(config)
    ttl = parse_duration(link_ttl)

    async def issue(store: Store) -> user_admin.PasswordLink | None:
        user = await user_admin.find_user(store, username)
        if user is None:
            return None
        return await user_admin.issue_password_link(
            store, user, issuer=settings.effective_issuer, now=int(time.time()), ttl=ttl)

    link = run(settings, issue)
    if link is None:
        raise fail(f"no user {username!r}")
    audit(settings, "password_link_issued", link.user.user_id)
    _print_link(link, as_json, f"new password-set link for {username}")


@app.command("disable")
def user_disable(username: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a user: no more sign-ins; their sessions end and their grants (so their
    refresh tokens) are revoked at once."""
    settings = settings_from(config)
    ended = run(settings, lambda s: user_admin.disable_user(s, username, int(time.time())))
    if ended is None:
        raise fail(f"no user {username!r}")
    audit(settings, "user_disabled", ended.user.user_id)
    if as_json:
        emit({**_user_dict(ended.user), "sessions_ended": ended.sessions_ended,
              "grants_revoked": ended.grants_revoked}, True)
        return
    out.print(f"disabled user {username}; ended {ended.sessions_ended} session(s) and "
              f"revoked {ended.grants_revoked} grant(s)", markup=False)


@app.command("enable")
def user_enable(username: str, config: ConfigOpt = None) -> None:
    """Let a disabled user sign in again (what was revoked stays revoked)."""
    settings = settings_from(config)
    user = run(settings, lambda s: user_admin.enable_user(s, username))
    if user is None:
        raise fail(f"no user {username!r}")
    audit(settings, "user_enabled", user.user_id)
    out.print(f"enabled user {username}", markup=False)


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
    """Remove a user and everything of theirs: sessions, sign-ins in flight, codes, device
    requests, consents, password-set links; their grants are revoked."""
    settings = settings_from(config)
    user = run(settings, lambda s: user_admin.remove_user(s, username, int(time.time())))
    if user is None:
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
