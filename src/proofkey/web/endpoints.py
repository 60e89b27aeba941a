"""The protocol endpoints: parse the HTTP request, call one flow, render its outcome.

This is the only layer that knows Starlette. Each handler reads its input strictly
(``protocol.params``), passes plain values to a flow and turns the flow's result or
``OAuthError`` into the response the RFC prescribes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proofkey.errors import InvalidRequest, InvalidToken, OAuthError, RateLimited
from proofkey.flows import par as par_flow
from proofkey.flows.client_auth import authenticate_client
from proofkey.flows.introspection import introspect as introspect_flow
from proofkey.flows.presented_token import DpopProofRefused, Presented
from proofkey.flows.revocation import revoke as revoke_flow
from proofkey.flows.userinfo import userinfo as userinfo_flow
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.discovery import server_metadata as metadata
from proofkey.protocol.dpop import DPOP_ALGORITHMS
from proofkey.protocol.responses import NO_STORE_HEADERS
from proofkey.store.base import StoreUnavailable

from .addresses import client_ip
from .cors import allow_any_origin
from .forms import read_form
from .middleware import error_response
from .services import Services, services_of

__all__ = [
    "client_ip",
    "healthz",
    "introspect",
    "jwks",
    "par",
    "preflight",
    "readyz",
    "revoke",
    "server_metadata",
    "userinfo",
]

_FORM = "application/x-www-form-urlencoded"


def _json(body: dict[str, Any], *, no_store: bool = True, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status,
                        headers=dict(NO_STORE_HEADERS) if no_store else None)


async def server_metadata(request: Request) -> Response:
    services = services_of(request)
    try:
        catalog = await services.resources.catalog()  # resources' scopes are known (RFC 8707)
    except StoreUnavailable:  # database down (never read yet): discovery still answers
        catalog = services.resources.configured()
    body = metadata(services.settings.effective_issuer,
                    scopes=catalog.known_scopes(services.settings.scopes_supported),
                    signing_algs=services.minter.keys.algorithms,
                    registration=services.settings.registration != "off",
                    client_id_metadata_documents=services.settings.client_metadata_documents)
    return allow_any_origin(JSONResponse(body, headers={"Cache-Control": "public, max-age=300"}))


async def jwks(request: Request) -> Response:
    services = services_of(request)
    with contextlib.suppress(StoreUnavailable):  # database down: the keys held in memory
        await services.refresh_keys()  # JWKS shows a rotation at once
    return allow_any_origin(JSONResponse(services.minter.keys.jwks(),
                                         headers={"Cache-Control": "public, max-age=60"},
                                         media_type="application/jwk-set+json"))


async def par(request: Request) -> Response:
    """RFC 9126 §2: the pushed authorization request endpoint (201 with a request_uri)."""
    services = services_of(request)
    try:
        form = await read_form(request)
        client = await authenticate_client(
            read_client_credentials(request.headers.get("authorization"), form), services.clients,
            limiter=services.limiter, client_ip=client_ip(request), ctx=services.ctx,
            assertions=services.assertions)
        proof = await services.token.dpop.check(request.headers.getlist("dpop"), client,
                                                services.ctx, path="/par")
        body = await par_flow.push(form, client, pushed=services.store,
                                   challenges=services.store, ctx=services.ctx,
                                   limiter=services.limiter, address=client_ip(request),
                                   resources=services.resources,
                                   dpop_jkt=proof.jkt if proof else None)
    except RateLimited as error:
        return error_response(error, {"Retry-After": str(error.retry_after)})
    except OAuthError as error:
        error.redirectable = False
        return error_response(error)
    return _json(body, status=201)


async def _reload_keys_for(services: Services, token: str | None) -> None:
    """Before verifying a JWT signed with a key this instance has not loaded yet (rotated via
    another instance or the CLI), reload the key ring, at most once a second (anyone can send a
    made-up kid)."""
    if token and token.count(".") == 2 and not services.minter.keys.knows_signer_of(token):
        await services.refresh_keys_on_request()


async def revoke(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await read_form(request)
        await _reload_keys_for(services, form.get("token"))
        await revoke_flow(form, request.headers.get("authorization"), clients=services.clients,
                          grants=services.store, minter=services.minter,
                          limiter=services.limiter, client_ip=client_ip(request),
                          ctx=services.ctx, assertions=services.assertions)
        response = Response(status_code=200, headers=dict(NO_STORE_HEADERS))
    except OAuthError as error:
        response = error_response(error)
    return await services.cors.decorate(request, response)


async def introspect(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await read_form(request)
        await _reload_keys_for(services, form.get("token"))
        body = await introspect_flow(form, request.headers.get("authorization"),
                                     clients=services.clients, grants=services.store,
                                     minter=services.minter, limiter=services.limiter,
                                     client_ip=client_ip(request), ctx=services.ctx,
                                     resources=services.resources,
                                     assertions=services.assertions)
    except OAuthError as error:
        return error_response(error)
    return _json(body)


async def userinfo(request: Request) -> Response:
    services = services_of(request)
    presented: Presented | None = None
    try:
        presented = await _presented_token(request, services.settings.effective_issuer)
        await _reload_keys_for(services, presented.token)
        body = await userinfo_flow(presented, users=services.store, grants=services.store,
                                   replay=services.store, minter=services.minter,
                                   ctx=services.ctx)
        response: Response = _json(body)
    except OAuthError as error:
        scheme = None if presented is None else presented.scheme
        response = error_response(error, {"WWW-Authenticate": _challenge(error, scheme)})
    response = await services.cors.decorate(request, response)
    if "access-control-allow-origin" in response.headers:
        # RFC 9449 §7.1: a browser app reads the challenge only if it is exposed.
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return response


_DPOP_ALGS = " ".join(DPOP_ALGORITHMS)


def _challenge(error: OAuthError, scheme: str | None) -> str:
    """RFC 6750 §3 and RFC 9449 §7.1-7.2: both schemes are offered; the error goes in the
    challenge of the scheme the client used, and in neither without credentials."""
    if isinstance(error, InvalidToken) and error.description == _NO_TOKEN:
        return f'Bearer realm="proofkey", DPoP realm="proofkey", algs="{_DPOP_ALGS}"'
    params = f'error="{error.error}", error_description="{error.description}"'
    if scheme == "DPoP" or isinstance(error, DpopProofRefused):
        return f'Bearer realm="proofkey", DPoP {params}, algs="{_DPOP_ALGS}"'
    return f'Bearer {params}, DPoP algs="{_DPOP_ALGS}"'


async def preflight(request: Request) -> Response:
    """CORS preflight for the endpoints browser apps call (never /authorize)."""
    return await services_of(request).cors.preflight(request)


_NO_TOKEN = "an access token is required"  # noqa: S105 - a message, not a secret


async def _presented_token(request: Request, issuer: str) -> Presented:
    """RFC 6750 §2.1 header, or §2.2 form body; never both, never the query string. A
    ``DPoP`` token (RFC 9449 §7.1) comes with every ``DPoP`` header and the URL its proof must
    name: the configured issuer's UserInfo endpoint, never one built from ``Host``."""
    header = request.headers.get("authorization")
    from_body: str | None = None
    if request.method == "POST" and request.headers.get("content-type", "").startswith(_FORM):
        from_body = (await read_form(request)).get("access_token")
    if header and from_body:
        raise InvalidRequest("send the access token only once")
    if header:
        scheme, _, value = header.partition(" ")
        token = value.strip()
        if scheme.lower() not in ("bearer", "dpop") or not token:
            raise InvalidToken(_NO_TOKEN)
        if scheme.lower() == "bearer":
            return Presented("Bearer", token)
        return Presented("DPoP", token, tuple(request.headers.getlist("dpop")),
                         request.method, f"{issuer}/userinfo")
    if from_body:
        return Presented("Bearer", from_body)
    raise InvalidToken(_NO_TOKEN)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = services_of(request)
    await services.store.ping()
    return JSONResponse({"status": "ready"})


