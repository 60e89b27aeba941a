"""``proofkey registration token create|list|revoke``: initial access tokens for ``POST
/register`` when ``PROOFKEY_REGISTRATION=token`` (RFC 7591 §3).

A token is printed once and stored as a digest with its expiry and remaining uses; ``list``
shows each token's public id (never the token), ``revoke ID`` deletes one.
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
    warn,
)
from proofkey.flows.initial_tokens import MAX_LIFETIME, MAX_USES, create_initial_token
from proofkey.models import InitialAccessToken
from proofkey.protocol.client_policy import parse_duration
from proofkey.store.base import Store

__all__ = ["app", "duration_seconds"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Dynamic client registration (RFC 7591): initial access tokens.")
token_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Initial access tokens for POST /register in mode token.")
app.add_typer(token_app, name="token")


def duration_seconds(text: str, option: str) -> int:
    """``30d``, ``1h``, ``90m``, ``45s``, ``PT1H`` or plain seconds; a usage error otherwise."""
    seconds = parse_duration(text)
    if seconds is None or seconds < 1:
        raise fail(f"{option} must be a duration such as 90s, 10m, 1h or 30d, got {text!r}", 2)
    return int(seconds)


def _token_dict(token: InitialAccessToken) -> dict[str, Any]:
    return {"id": token.token_id, "created_at": token.created_at,
            "expires_at": token.expires_at, "uses_left": token.uses_left}


@token_app.command("create")
def token_create(
    expires: Annotated[str, typer.Option(help="Lifetime, e.g. 1h, 7d.")] = "1h",
    uses: Annotated[int, typer.Option(help="Registrations it allows.")] = 1,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an initial access token; it is printed once and stored only as a digest."""
    settings = settings_from(config)
    lifetime = duration_seconds(expires, "--expires")
    if lifetime > MAX_LIFETIME:
        raise fail(f"--expires must be at most {MAX_LIFETIME // 86400}d", 2)
    if not 1 <= uses <= MAX_USES:
        raise fail(f"--uses must be between 1 and {MAX_USES}", 2)

    async def work(store: Store) -> Any:
        return await create_initial_token(store, lifetime=lifetime, uses=uses,
                                          now=int(time.time()))

    made = run(settings, work)
    audit(settings, "initial_token_created", made.record.token_id)
    if settings.registration != "token":
        warn(f"registration is {settings.registration!r}: set PROOFKEY_REGISTRATION=token for "
             "POST /register to ask for this token")
    if as_json:
        emit({**_token_dict(made.record), "token": made.token.reveal()}, True)
        return
    out.print(f"initial access token {made.record.token_id} for {made.record.uses_left} "
              f"registration(s), valid {expires} (shown once, send it as "
              "Authorization: Bearer):", markup=False)
    print(made.token.reveal())


@token_app.command("list")
def token_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List initial access tokens (ids, expiry, uses left; never the tokens)."""
    rows = [_token_dict(t) for t in run(settings_from(config),
                                        lambda s: s.list_initial_tokens())]
    emit(rows, as_json, make_table("initial access tokens", rows,
                                   ["id", "created_at", "expires_at", "uses_left"]))


@token_app.command("revoke")
def token_revoke(token_id: str, config: ConfigOpt = None) -> None:
    """Revoke an initial access token by its id."""
    settings = settings_from(config)
    if not run(settings, lambda s: s.revoke_initial_token(token_id)):
        raise fail(f"no initial access token {token_id!r}")
    audit(settings, "initial_token_revoked", token_id)
    out.print(f"revoked initial access token {token_id}", markup=False)
