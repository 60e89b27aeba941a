"""``proofkey keys list|rotate|retire``: signing keys in phases (docs/admin.md)."""

from __future__ import annotations

import dataclasses
import re
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
    run,
    settings_from,
)
from proofkey.flows import key_rotation
from proofkey.settings import Settings

__all__ = ["app", "parse_duration"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="List, rotate and retire signing keys.")
_DURATION = re.compile(r"(\d{1,9})([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_COLUMNS = ["kid", "alg", "phase", "created_at", "activates_at", "signing_ended_at",
            "leaves_jwks_at"]


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``15m``, ``24h`` or ``7d``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise fail(f"not a duration: {text!r} (write e.g. 90s, 15m, 24h, 7d)", 2)
    return int(match.group(1)) * _UNIT[match.group(2)]


def _keep(settings: Settings) -> int:
    from proofkey.tokens.keys import keep_seconds_for

    return keep_seconds_for(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)


def _key_dict(view: key_rotation.KeyView) -> dict[str, Any]:
    row = dataclasses.asdict(view)
    row["active"] = view.phase == "active"
    return row


@app.command("list")
def keys_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List signing keys with their phase (published, active, retiring, retired) and dates
    (public information only)."""
    settings = settings_from(config)
    views = run(settings, lambda s: key_rotation.list_keys(s, now=int(time.time()),
                                                          keep_seconds=_keep(settings)))
    rows = [_key_dict(v) for v in views]
    emit(rows, as_json, make_table("signing keys", rows, _COLUMNS))


@app.command("rotate")
def keys_rotate(
    activate_after: Annotated[str, typer.Option(
        "--activate-after", help="Publish the new keys now, sign with them after this long "
                                 "(relying parties' JWKS caches fill first): 24h, 90m, 0."),
    ] = "24h",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish new signing keys (one per algorithm) that start signing after --activate-after;
    the current keys then stop signing and leave the JWKS once their tokens have expired.
    Running servers follow without a restart."""
    settings = settings_from(config)
    delay = parse_duration(activate_after)
    fresh = run(settings, lambda s: key_rotation.start_rotation(
        s, now=int(time.time()), keep_seconds=_keep(settings), activate_after=delay))
    audit(settings, "keys_rotated", " ".join(k.kid for k in fresh))
    rows = [_key_dict(k) for k in fresh]
    if as_json:
        emit(rows, True)
        return
    out.print("new signing keys: " + ", ".join(f"{r['kid']} ({r['alg']})" for r in rows),
              markup=False)
    if delay:
        out.print(f"published now; they start signing in {activate_after}", markup=False)


@app.command("retire")
def keys_retire(kid: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a key signing now; it stays in the JWKS until the tokens it signed have expired.
    The only key of an algorithm that can sign is not retired."""
    settings = settings_from(config)
    view = run(settings, lambda s: key_rotation.retire_key(
        s, kid, now=int(time.time()), keep_seconds=_keep(settings)))
    audit(settings, "key_retired", kid)
    if as_json:
        emit(_key_dict(view), True)
    else:
        out.print(f"retired key {kid}; it leaves the JWKS at "
                  f"{cell('leaves_jwks_at', view.leaves_jwks_at)}", markup=False)
