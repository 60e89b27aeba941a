"""``proofkey connector add|list|show|remove``: upstream identity providers users may sign in
through (docs/federation.md). The client secret is read from standard input and stored sealed
with the data directory's connector key; it is never printed."""

from __future__ import annotations

import sys
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
from proofkey.connectors.admin import add_connector, remove_connector
from proofkey.connectors.config import ConnectorError
from proofkey.connectors.upstream import callback_url
from proofkey.models import Connector

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Manage upstream identity providers (connectors).")


def _dict(c: Connector, issuer: str) -> dict[str, Any]:
    return {"name": c.name, "kind": c.kind, "issuer": c.issuer, "client_id": c.client_id,
            "has_secret": bool(c.secret_sealed), "scope": " ".join(c.scope),
            "legacy": c.legacy, "callback": callback_url(issuer, c.name),
            "authorization_endpoint": c.authorization_endpoint,
            "token_endpoint": c.token_endpoint, "userinfo_endpoint": c.userinfo_endpoint,
            "claims": dict(c.claims), "created_at": c.created_at}


@app.command("add")
def connector_add(
    name: str,
    issuer: Annotated[str, typer.Option(help="The upstream's issuer URL.")],
    client_id: Annotated[str, typer.Option(help="Our client id at the upstream.")],
    client_secret_stdin: Annotated[bool, typer.Option(
        "--client-secret-stdin", help="Read our client secret there from standard input.")
    ] = False,
    scope: Annotated[list[str] | None, typer.Option(help="Scope to ask for (repeatable).")
                     ] = None,
    kind: Annotated[str, typer.Option(help="oidc (discovery) or oauth2 (named endpoints).")
                    ] = "oidc",
    legacy: Annotated[bool, typer.Option(help="Allow an upstream that does not advertise "
                                              "PKCE S256 (flagged by lint).")] = False,
    authorization_endpoint: Annotated[str, typer.Option(help="oauth2 only.")] = "",
    token_endpoint: Annotated[str, typer.Option(help="oauth2 only.")] = "",
    userinfo_endpoint: Annotated[str, typer.Option(help="oauth2 only.")] = "",
    claim: Annotated[list[str] | None, typer.Option(
        help="OURS=THEIRS claim mapping, e.g. sub=id (repeatable).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a connector; register its callback URL (printed) at the upstream."""
    settings = settings_from(config)
    secret = sys.stdin.readline().rstrip("\r\n") if client_secret_stdin else None
    if client_secret_stdin and not secret:
        raise fail("no client secret on standard input", 2)
    if kind not in ("oidc", "oauth2"):
        raise fail("--kind is oidc or oauth2", 2)
    claims = dict(pair.split("=", 1) for pair in (claim or []) if "=" in pair)
    words = tuple(w for item in (scope or []) for w in item.split())
    try:
        record = run(settings, lambda s: add_connector(
            s, settings.data_dir, name, issuer=issuer, client_id=client_id,
            client_secret=secret, scope=words, kind=kind,  # type: ignore[arg-type]
            legacy=legacy, authorization_endpoint=authorization_endpoint,
            token_endpoint=token_endpoint, userinfo_endpoint=userinfo_endpoint, claims=claims,
            now=int(time.time())))
    except ConnectorError as exc:
        raise fail(str(exc)) from None
    audit(settings, "connector_added", name)
    if as_json:
        emit(_dict(record, settings.effective_issuer), True)
    else:
        out.print(f"added connector {name}; its redirect URI at the upstream is "
                  f"{callback_url(settings.effective_issuer, name)}", markup=False)


@app.command("list")
def connector_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the connectors stored in the database (TOML ones are in the config file)."""
    settings = settings_from(config)
    rows = [_dict(c, settings.effective_issuer)
            for c in run(settings, lambda s: s.list_connectors())]
    emit(rows, as_json, make_table("connectors", rows, ["name", "kind", "issuer", "client_id",
                                                         "legacy"]))


@app.command("show")
def connector_show(name: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show one stored connector (never its secret)."""
    settings = settings_from(config)
    found = run(settings, lambda s: s.get_connector(name))
    if found is None:
        raise fail(f"no connector {name!r}")
    row = _dict(found, settings.effective_issuer)
    emit(row, as_json, make_table(f"connector {name}", [row], list(row)))


@app.command("remove")
def connector_remove(name: str, config: ConfigOpt = None) -> None:
    """Remove a connector and its users' links: they can no longer sign in through it."""
    settings = settings_from(config)
    if not run(settings, lambda s: remove_connector(s, name)):
        raise fail(f"no connector {name!r}")
    audit(settings, "connector_removed", name)
    out.print(f"removed connector {name}", markup=False)
