"""``proofkey client add|list|show|set|remove``: register and inspect OAuth clients."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
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
from proofkey.cli.registration import duration_seconds
from proofkey.flows.admin import check_policy, register_client
from proofkey.flows.admin_clients import rotate_secret
from proofkey.flows.resources import known_scopes
from proofkey.models import Client, ClientProfile
from proofkey.store.base import Store

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Register and inspect OAuth clients.")


def _client_dict(client: Client) -> dict[str, Any]:
    return {"client_id": client.client_id, "type": client.client_type, "name": client.name,
            "redirect_uris": list(client.redirect_uris), "scopes": sorted(client.scopes),
            "grant_types": sorted(client.grant_types),
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "id_token_signed_response_alg": client.id_token_signed_response_alg,
            "require_pushed_authorization_requests":
                client.require_pushed_authorization_requests,
            "resource_server": client.resource_server,
            "registered_by": client.registered_by, "client_uri": client.client_uri,
            "logo_uri": client.logo_uri, "last_used_at": client.last_used_at,
            "reject_reused_challenge": client.reject_reused_challenge,
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "revoke_on_logout": client.revoke_on_logout,
            "jwks": json.loads(client.jwks) if client.jwks else None,
            "jwks_uri": client.jwks_uri or None,
            "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg or None,
            "require_dpop": client.require_dpop, "profile": client.profile or "none",
            "created_at": client.created_at}


def _read_jwks(path: Path | None) -> str:
    """The JWK Set in ``path`` as compact JSON ("" without a path); a single JWK is wrapped.
    Whether it may be registered is the policy's call (PKL060-PKL066)."""
    if path is None:
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise fail(f"{path} is not JSON (expected a JWK Set)") from None
    if isinstance(data, dict) and "kty" in data:
        data = {"keys": [data]}
    if not isinstance(data, dict):
        raise fail(f"{path} must hold a JWK Set (an object with a keys array)")
    return json.dumps(data, separators=(",", ":"))


_PROFILES: dict[str, ClientProfile] = {"none": "", "fapi2": "fapi2"}
_PROFILE_HELP = ("Security profile: fapi2 (FAPI 2.0 Security Profile: confidential with "
                 "private_key_jwt, PAR and DPoP required, ES256 id_tokens, codes live at most "
                 "60 s; turns on PAR and DPoP) or none.")


def _profile(value: str | None) -> ClientProfile | None:
    if value is not None and value not in _PROFILES:
        raise fail("--profile must be fapi2 or none")
    return None if value is None else _PROFILES[value]


@app.command("add")
def client_add(
    client_id: str,
    redirect_uri: Annotated[list[str] | None, typer.Option(
        "--redirect-uri", help="Redirect URI (repeat for several).")] = None,
    public: Annotated[bool, typer.Option("--public/--confidential",
                                         help="Public (PKCE only) or confidential.")] = True,
    scope: Annotated[list[str] | None, typer.Option(help="Allowed scope (repeatable).")] = None,
    grant_type: Annotated[list[str] | None, typer.Option(
        help="Grant type (repeatable); default authorization_code and refresh_token.")] = None,
    auth_method: Annotated[str | None, typer.Option(
        help="client_secret_basic, client_secret_post or private_key_jwt for confidential "
        "clients (private_key_jwt is the default with --jwks or --jwks-uri, and with "
        "--profile fapi2).")] = None,
    jwks: Annotated[Path | None, typer.Option(
        "--jwks", help="File with the client's public JWK Set, for private_key_jwt "
        "(RFC 7523).")] = None,
    jwks_uri: Annotated[str | None, typer.Option(
        "--jwks-uri", help="https URL of the client's public JWK Set, for private_key_jwt; "
        "fetched and cached by the server.")] = None,
    auth_signing_alg: Annotated[str | None, typer.Option(
        "--auth-signing-alg", help="The one JWS algorithm the client's assertions must use "
        "(e.g. ES256); default: any asymmetric algorithm the server accepts.")] = None,
    id_token_alg: Annotated[str | None, typer.Option(
        help="RS256 or ES256 (default RS256; ES256 with --profile fapi2).")] = None,
    name: Annotated[str, typer.Option(help="Name shown on consent pages.")] = "",
    require_par: Annotated[bool, typer.Option(
        "--require-par", help="Accept only pushed authorization requests (RFC 9126).")] = False,
    resource_server: Annotated[bool, typer.Option(
        "--resource-server", help="May introspect other clients' access tokens (RFC 7662); "
        "confidential clients only.")] = False,
    reject_reused_challenge: Annotated[bool, typer.Option(
        "--reject-reused-challenge", help="Refuse an authorization request whose "
        "code_challenge this client sent before within the reuse window (invalid_request); "
        "without it a reuse is only counted.")] = False,
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option(
        "--post-logout-redirect-uri", help="Where /logout may send the browser afterwards "
        "(OIDC RP-Initiated Logout; exact match; repeat for several).")] = None,
    revoke_on_logout: Annotated[bool, typer.Option(
        "--revoke-on-logout", help="Logging out at /logout revokes this client's refresh "
        "tokens issued in the ended session.")] = False,
    profile: Annotated[str | None, typer.Option(help=_PROFILE_HELP)] = None,
    require_dpop: Annotated[bool, typer.Option(
        "--require-dpop", help="Refuse this client's token requests without a DPoP proof "
        "(RFC 9449; every access token it gets is bound to its key).")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a client. A confidential client's secret is printed once, never stored."""
    settings = settings_from(config)
    if auth_method not in (None, "client_secret_basic", "client_secret_post", "none",
                           "private_key_jwt"):
        raise fail("--auth-method must be client_secret_basic, client_secret_post or "
                   "private_key_jwt")
    jwks_text = _read_jwks(jwks)
    chosen: ClientProfile = _profile(profile) or ""
    fapi2 = chosen == "fapi2"
    if fapi2:  # what the profile requires, unless given otherwise (then the policy refuses)
        require_par = True
        auth_method = auth_method or ("none" if public else "private_key_jwt")
    alg = id_token_alg or ("ES256" if fapi2 else "RS256")
    scopes = [s for item in (scope or ["openid profile email offline_access"])
              for s in item.split()]
    grants = grant_type or ["authorization_code", "refresh_token"]

    async def work(store: Store) -> Any:
        return await register_client(
            store, client_id, client_type="public" if public else "confidential",
            redirect_uris=redirect_uri or [], scopes=scopes,
            supported_scopes=await known_scopes(settings, store), grant_types=grants,
            auth_method=auth_method,  # type: ignore[arg-type]
            id_token_alg=alg, name=name, require_par=require_par,
            resource_server=resource_server, reject_reused_challenge=reject_reused_challenge,
            post_logout_redirect_uris=post_logout_redirect_uri or [],
            revoke_on_logout=revoke_on_logout, jwks=jwks_text, jwks_uri=jwks_uri or "",
            auth_signing_alg=auth_signing_alg or "", require_dpop=require_dpop or fapi2,
            profile=chosen, now=int(time.time()))

    created = run(settings, work, exists=f"a client with id {client_id!r} exists already "
                  f"(see `proofkey client show {client_id}`; remove it first to replace it)")
    for warning in created.warnings:
        warn(f"client {client_id}: {warning}")
    audit(settings, "client_registered", client_id)
    data = _client_dict(created.client)
    if created.secret is not None:
        data["client_secret"] = created.secret.reveal()
    if as_json:
        emit(data, True)
        return
    out.print(f"registered client {client_id} ({data['type']})", markup=False)
    if created.secret is not None:
        out.print("client secret (shown once, store it now):", markup=False)
        print(created.secret.reveal())


@app.command("list")
def client_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List registered clients."""
    rows = [_client_dict(c) for c in run(settings_from(config), lambda s: s.list_clients())]
    emit(rows, as_json, make_table("clients", rows, ["client_id", "type", "redirect_uris",
                                                     "scopes", "grant_types",
                                                     "resource_server", "registered_by"]))


@app.command("show")
def client_show(client_id: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show one client."""
    client = run(settings_from(config), lambda s: s.get_client(client_id))
    if client is None:
        raise fail(f"no client {client_id!r}")
    row = _client_dict(client)
    emit(row, as_json, make_table(client_id, [{"field": k, "value": v} for k, v in row.items()],
                                  ["field", "value"]))


@app.command("set")
def client_set(
    client_id: str,
    reject_reused_challenge: Annotated[bool | None, typer.Option(
        "--reject-reused-challenge/--allow-reused-challenge",
        help="Refuse (or, again, only count) an authorization request whose code_challenge "
        "this client sent before within the reuse window.")] = None,
    revoke_on_logout: Annotated[bool | None, typer.Option(
        "--revoke-on-logout/--keep-on-logout",
        help="Whether /logout revokes this client's refresh tokens issued in the ended "
        "session.")] = None,
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option(
        "--post-logout-redirect-uri", help="Replace the post-logout redirect URIs (exact "
        "match; repeatable; give '' alone to clear them).")] = None,
    jwks: Annotated[Path | None, typer.Option(
        "--jwks", help="Replace the client's keys by the public JWK Set in this file "
        "(private_key_jwt key rotation).")] = None,
    jwks_uri: Annotated[str | None, typer.Option(
        "--jwks-uri", help="Replace the client's keys by the JWK Set at this https URL.")
    ] = None,
    profile: Annotated[str | None, typer.Option(help=_PROFILE_HELP)] = None,
    require_dpop: Annotated[bool | None, typer.Option(
        "--require-dpop/--allow-bearer",
        help="Refuse (or accept again) this client's token requests without a DPoP proof "
        "(RFC 9449).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a registered client's policy flags, post-logout redirect URIs and keys; everything
    else about it stays (running servers see the change within PROOFKEY_CLIENT_CACHE_MS)."""
    chosen = _profile(profile)
    if reject_reused_challenge is None and revoke_on_logout is None and (
            post_logout_redirect_uri is None and jwks is None and jwks_uri is None
            and require_dpop is None) and chosen is None:
        raise fail("nothing to change: give --reject-reused-challenge, "
                   "--allow-reused-challenge, --revoke-on-logout, --keep-on-logout, "
                   "--post-logout-redirect-uri, --jwks, --jwks-uri, --require-dpop, "
                   "--allow-bearer or --profile")
    jwks_text = _read_jwks(jwks)
    keys = jwks is not None or jwks_uri is not None
    settings = settings_from(config)
    uris = None if post_logout_redirect_uri is None else tuple(
        dict.fromkeys(u for u in post_logout_redirect_uri if u))

    async def work(store: Store) -> Client | None:
        client = await store.get_client(client_id)
        if client is None:
            return None
        changed = replace(
            client,
            reject_reused_challenge=client.reject_reused_challenge
            if reject_reused_challenge is None else reject_reused_challenge,
            revoke_on_logout=client.revoke_on_logout
            if revoke_on_logout is None else revoke_on_logout,
            post_logout_redirect_uris=client.post_logout_redirect_uris
            if uris is None else uris,
            require_dpop=client.require_dpop if require_dpop is None else require_dpop)
        if keys:  # the new keys replace the old ones, inline or by URL
            changed = replace(changed, jwks=jwks_text, jwks_uri=jwks_uri or "")
        if chosen is not None:
            changed = replace(changed, profile=chosen)
        if chosen == "fapi2":  # what the profile turns on; the rest must be there already
            changed = replace(changed, require_pushed_authorization_requests=True,
                              require_dpop=True)
        if uris is not None or keys or changed.profile:
            # The redirect rules (PKL01x), the key rules (PKL06x); and a profiled client stays
            # within its profile (PKL10x) whatever else this command changes.
            check_policy(changed)
        return changed if await store.update_client(changed) else None

    updated = run(settings, work)
    if updated is None:
        raise fail(f"no client {client_id!r}")
    audit(settings, "client_updated", client_id)
    if as_json:
        emit(_client_dict(updated), True)
        return
    out.print(f"client {client_id}: reject_reused_challenge="
              f"{str(updated.reject_reused_challenge).lower()} revoke_on_logout="
              f"{str(updated.revoke_on_logout).lower()} require_dpop="
              f"{str(updated.require_dpop).lower()} post_logout_redirect_uris="
              f"{' '.join(updated.post_logout_redirect_uris) or '-'} profile="
              f"{updated.profile or 'none'}", markup=False)


@app.command("rotate-secret")
def client_rotate_secret(client_id: str, config: ConfigOpt = None,
                         as_json: JsonOpt = False) -> None:
    """Give a confidential client a new secret, printed once; the old one stops working
    (running servers follow within PROOFKEY_CLIENT_CACHE_MS). The admin API's
    rotateClientSecret runs the same flow."""
    settings = settings_from(config)

    async def work(store: Store) -> Any:
        client = await store.get_client(client_id)
        return None if client is None else await rotate_secret(store, client)

    rotated = run(settings, work)
    if rotated is None:
        raise fail(f"no client {client_id!r}")
    audit(settings, "client_secret_rotated", client_id)
    if as_json:
        emit({**_client_dict(rotated[0]), "client_secret": rotated[1].reveal()}, True)
        return
    out.print(f"client {client_id}: new secret (shown once, store it now):", markup=False)
    print(rotated[1].reveal())


@app.command("remove")
def client_remove(client_id: str, config: ConfigOpt = None) -> None:
    """Remove a client."""
    settings = settings_from(config)
    if not run(settings, lambda s: s.remove_client(client_id)):
        raise fail(f"no client {client_id!r}")
    audit(settings, "client_removed", client_id)
    out.print(f"removed client {client_id}", markup=False)


# Uses older than this are already recorded by the server's hourly housekeeping
# (web/app.USE_RECORDING_SECONDS plus its overlap); prune records the newer ones first.
_RECENT_USES = 3900


@app.command("prune")
def client_prune(
    unused_for: Annotated[str, typer.Option(
        help="Remove dynamically registered clients not used for this long (e.g. 30d).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list them.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove dynamically registered clients (POST /register) never used, or not used for
    --unused-for; their grants are revoked. Clients added with `client add` always stay."""
    settings = settings_from(config)
    cutoff = duration_seconds(unused_for, "--unused-for")

    async def work(store: Store) -> list[str]:
        now = int(time.time())
        await store.record_client_use(now - _RECENT_USES, now)
        stale = [c.client_id for c in await store.unused_clients(now - cutoff)]
        if not dry_run:
            stale = [c for c in stale if await store.remove_client(c, now=now)]
        return stale

    pruned = run(settings, work)
    if not dry_run:
        for client_id in pruned:
            audit(settings, "client_pruned", client_id)
    if as_json:
        emit({"dry_run": dry_run, "clients": pruned}, True)
        return
    verb = "would remove" if dry_run else "removed"
    for client_id in pruned:
        out.print(f"{verb} client {client_id}", markup=False)
    out.print(f"{verb} {len(pruned)} unused dynamically registered client(s)", markup=False)
