"""``proofkey resource add|list|remove``: the protected resources (RFC 8707) tokens may be for.

A registered resource's URI is what a client sends as ``resource`` and what the access token's
``aud`` then says; its scopes become scopes the server knows (clients may be registered for
them) and are the only ones, besides openid, profile, email and offline_access, that a token
for it carries. Resources can also be configured (``PROOFKEY_RESOURCES``); ``list`` shows both.
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
from proofkey.flows.resources import register_resource
from proofkey.models import Resource
from proofkey.store.base import Store

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Register the protected resources (APIs) tokens may be requested for.")


def _resource_dict(resource: Resource, source: str) -> dict[str, Any]:
    return {"uri": resource.uri, "scopes": sorted(resource.scopes),
            "name": "" if source == "configuration" else resource.name, "source": source,
            "created_at": resource.created_at}


@app.command("add")
def resource_add(
    uri: str,
    scope: Annotated[list[str] | None, typer.Option(
        help="A scope the resource declares (repeatable; space-separated lists too).")] = None,
    name: Annotated[str, typer.Option(help="A name for operators.")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a resource: an absolute https URI without fragment (http on loopback only)."""
    settings = settings_from(config)
    scopes = [s for item in scope or [] for s in item.split()]

    async def work(store: Store) -> Resource:
        return await register_resource(store, uri, scopes=scopes, name=name,
                                       now=int(time.time()))

    created = run(settings, work, exists=f"the resource {uri!r} is registered already "
                  "(remove it first to change it)")
    audit(settings, "resource_added", created.uri)
    if any(r.uri == uri for r in settings.configured_resources):
        out.print(f"note: {uri} is also configured (PROOFKEY_RESOURCES); the configured "
                  "scopes apply", markup=False)
    if as_json:
        emit(_resource_dict(created, "store"), True)
        return
    out.print(f"registered resource {created.uri}", markup=False)


@app.command("list")
def resource_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the resources: registered ones and configured ones."""
    settings = settings_from(config)
    stored = run(settings, lambda s: s.list_resources())
    rows = [_resource_dict(r, "store") for r in stored]
    rows += [_resource_dict(r, "configuration") for r in settings.configured_resources]
    emit(rows, as_json, make_table("resources", rows, ["uri", "scopes", "name", "source"]))


@app.command("remove")
def resource_remove(uri: str, config: ConfigOpt = None) -> None:
    """Remove a registered resource: tokens for it stop being active at introspection, and
    grants that named it get invalid_target on their next token request."""
    settings = settings_from(config)
    if not run(settings, lambda s: s.remove_resource(uri)):
        configured = any(r.uri == uri for r in settings.configured_resources)
        raise fail(f"no registered resource {uri!r}" + (
            " (it is configured: remove it from PROOFKEY_RESOURCES)" if configured else ""))
    audit(settings, "resource_removed", uri)
    out.print(f"removed resource {uri}", markup=False)
