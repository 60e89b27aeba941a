"""``proofkey keys list|rotate``: list and rotate the signing keys."""

from __future__ import annotations

import time
from typing import Any

import typer

from proofkey.cli.common import ConfigOpt, JsonOpt, audit, emit, make_table, out, run, settings_from
from proofkey.models import SigningKey

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="List and rotate signing keys.")


def _key_dict(key: SigningKey) -> dict[str, Any]:
    return {"kid": key.kid, "alg": key.alg, "created_at": key.created_at,
            "retired_at": key.retired_at, "active": key.is_active()}


@app.command("list")
def keys_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List signing keys (public information only)."""
    rows = [_key_dict(k) for k in run(settings_from(config), lambda s: s.list_keys())]
    emit(rows, as_json, make_table("signing keys", rows, ["kid", "alg", "active", "created_at",
                                                          "retired_at"]))


@app.command("rotate")
def keys_rotate(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Add new signing keys and retire the current ones (still published until their tokens
    expire); running servers pick the new keys up within a minute, JWKS at once."""
    settings = settings_from(config)
    from proofkey.tokens.keys import rotate_keys

    keep = max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
    fresh = run(settings, lambda s: rotate_keys(s, int(time.time()), keep_seconds=keep))
    audit(settings, "keys_rotated", " ".join(k.kid for k in fresh))
    rows = [_key_dict(k) for k in fresh]
    if as_json:
        emit(rows, True)
    else:
        out.print("new signing keys: " + ", ".join(f"{r['kid']} ({r['alg']})" for r in rows),
                  markup=False)
