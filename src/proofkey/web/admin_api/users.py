"""``/admin/api/v1/users``: the user lifecycle (``flows.user_admin``, the flows behind
``proofkey user``). A user is named in paths by username or user id. No password ever enters
or leaves: a new user, and ``POST .../password-link``, answer with a single-use link to hand
to the person, shown once. Disabling (``PATCH {"disabled": true}``) and removal take back the
user's sessions and grants."""

from __future__ import annotations

from typing import Any

from proofkey.flows.admin import AdminError
from proofkey.flows.user_admin import (
    DEFAULT_LINK_TTL,
    MAX_LINK_TTL,
    PasswordLink,
    create_user,
    disable_user,
    enable_user,
    find_user,
    issue_password_link,
    remove_user,
    update_profile,
)
from proofkey.models import User
from proofkey.store.base import AlreadyExists

from .items import PAGE_QUERY, check_if_match, etag_of, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Bool, Int, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_NAME = Str(128, 1, r"[A-Za-z0-9._@+-]+", description="A username or a user id.")
_USERNAME = Str(128, 1, r"[A-Za-z0-9._@+-]+")
_DISPLAY = Str(200, description="The display name.")
_EMAIL = Str(254)
_TTL = Int(60, MAX_LINK_TTL, description=f"Seconds the link works (default {DEFAULT_LINK_TTL}).")
USER = Obj("User", (
    Prop("id", Str(128, 1), required=True), Prop("username", _USERNAME, required=True),
    Prop("name", _DISPLAY, required=True), Prop("email", _EMAIL, required=True),
    Prop("role", Str(20), required=True), Prop("created_at", Int(0, 2**53), required=True),
    Prop("disabled", Bool(), required=True),
    Prop("disabled_at", Int(0, 2**53, nullable=True), required=True),
    Prop("has_password", Bool(description="False until the password-set link is used."),
         required=True),
))
_LINK = Obj("PasswordLink", (
    Prop("url", Str(4096, 1, description="Single-use; shown only in this answer."),
         required=True),
    Prop("expires_at", Int(0, 2**53), required=True)))
NEW_USER = Obj("NewUser", (Prop("username", _USERNAME, required=True),
                           Prop("name", _DISPLAY), Prop("email", _EMAIL),
                           Prop("link_ttl_seconds", _TTL)),
               description="No password: the answer carries a link with which the person "
                           "chooses one.")
CREATED_USER = Obj("CreatedUser", (Prop("user", USER, required=True),
                                   Prop("password_link", _LINK, required=True)))
USER_CHANGE = Obj("UserChange", (
    Prop("name", _DISPLAY), Prop("email", _EMAIL),
    Prop("disabled", Bool(description="true: no login, and the user's sessions and grants "
                                      "are taken back at once; false: may log in again."))))
LINK_REQUEST = Obj("PasswordLinkRequest", (Prop("link_ttl_seconds", _TTL),))
LINK_ANSWER = Obj("IssuedPasswordLink", (Prop("user", USER, required=True),
                                         Prop("password_link", _LINK, required=True)))
USER_QUERY = Obj("UserQuery", (*PAGE_QUERY.props, Prop("username_prefix", Str(
    128, 1, r"[A-Za-z0-9._@+-]+", description="Only usernames starting with this."))))


def view(user: User) -> dict[str, Any]:
    return {"id": user.user_id, "username": user.username, "name": user.name,
            "email": user.email, "role": user.role, "created_at": user.created_at,
            "disabled": user.disabled_at is not None, "disabled_at": user.disabled_at,
            "has_password": user.has_password}


def _link(link: PasswordLink) -> dict[str, Any]:
    return {"user": view(link.user),
            "password_link": {"url": link.url.reveal(), "expires_at": link.expires_at}}


async def _current(call: Call) -> User:
    """The user the path names (by username, else by id). The flows are then given the
    username: it names the same user, where an id could also be another user's username."""
    user = await find_user(call.services.store, call.path["user"])
    if user is None:
        raise Problem(404, "not-found", "no user with this username or id")
    return user


def _issuer(call: Call) -> str:
    return call.services.settings.effective_issuer


async def list_users(call: Call) -> Reply:
    users = await call.services.store.list_users()
    prefix = str(call.query.get("username_prefix", ""))
    chosen = [u for u in users if u.username.startswith(prefix)]
    return Reply(200, page(call, chosen, lambda u: u.username, view))


async def get_user(call: Call) -> Reply:
    body = view(await _current(call))
    return Reply(200, body, etag_of(body))


async def post_user(call: Call) -> Reply:
    b = call.body
    try:
        link = await create_user(call.services.store, b["username"], issuer=_issuer(call),
                                 now=call.services.ctx.now(), name=b.get("name", ""),
                                 email=b.get("email", ""),
                                 ttl=b.get("link_ttl_seconds", DEFAULT_LINK_TTL))
    except AdminError as exc:
        raise Problem(422, "invalid-user", str(exc)[:300]) from None
    except AlreadyExists:
        raise Problem(409, "exists", "a user with this username exists already") from None
    body = _link(link)
    return Reply(201, body, etag_of(body["user"]), f"/users/{link.user.user_id}")


async def patch_user(call: Call) -> Reply:
    store, now = call.services.store, call.services.ctx.now()
    user = await _current(call)
    check_if_match(call, etag_of(view(user)))
    b = call.body
    changed: User | None = user
    try:
        if "name" in b or "email" in b:
            changed = await update_profile(store, user, name=b.get("name"),
                                           email=b.get("email"))
    except AdminError as exc:
        raise Problem(422, "invalid-user", str(exc)[:300]) from None
    if b.get("disabled") is True:
        ended = await disable_user(store, user.username, now)
        changed = ended.user if ended is not None else None
    elif b.get("disabled") is False and user.disabled_at is not None:
        changed = await enable_user(store, user.username)
    if changed is None:
        raise Problem(404, "not-found", "no user with this username or id")
    body = view(changed)
    return Reply(200, body, etag_of(body))


async def delete_user(call: Call) -> Reply:
    user = await _current(call)
    check_if_match(call, etag_of(view(user)))
    if await remove_user(call.services.store, user.username, call.services.ctx.now()) is None:
        raise Problem(404, "not-found", "no user with this username or id")
    return Reply(204)


async def post_password_link(call: Call) -> Reply:
    user = await _current(call)
    if user.disabled_at is not None:
        raise Problem(409, "user-disabled", "the user is disabled: a password-set link would "
                      "not work; enable the user first")
    try:
        link = await issue_password_link(call.services.store, user, issuer=_issuer(call),
                                         now=call.services.ctx.now(),
                                         ttl=call.body.get("link_ttl_seconds",
                                                           DEFAULT_LINK_TTL))
    except AdminError as exc:
        raise Problem(422, "invalid-body", str(exc)[:300]) from None
    return Reply(201, _link(link))


_ITEM = "/users/{user}"
_PATH = {"user": _NAME}
OPERATIONS = (
    Operation("GET", "/users", "listUsers", "List users by username.", "users:read",
              list_users, {200: ("A page of users.", page_of("UserPage", USER))},
              query=USER_QUERY, tag="users"),
    Operation("POST", "/users", "createUser", "Create a user without a password; the answer "
              "carries the single-use password-set link (shown once).", "users:write",
              post_user, {201: ("The user and the link.", CREATED_USER)}, body=NEW_USER,
              tag="users"),
    Operation("GET", _ITEM, "getUser", "Read a user.", "users:read", get_user,
              {200: ("The user.", USER)}, path_params=_PATH, tag="users"),
    Operation("PATCH", _ITEM, "updateUser", "Change the name or e-mail; disable (sessions and "
              "grants are taken back) or enable.", "users:write", patch_user,
              {200: ("The user.", USER)}, body=USER_CHANGE, path_params=_PATH, if_match=True,
              tag="users"),
    Operation("DELETE", _ITEM, "deleteUser", "Remove a user and everything of theirs that "
              "could become a token.", "users:write", delete_user, {204: ("Removed.", None)},
              path_params=_PATH, if_match=True, tag="users"),
    Operation("POST", _ITEM + "/password-link", "issueUserPasswordLink", "A new single-use "
              "password-set link (earlier ones stop working).", "users:write",
              post_password_link, {201: ("The link (shown once).", LINK_ANSWER)},
              body=LINK_REQUEST, path_params=_PATH, tag="users"),
)
