"""Recorded requests grouped into sign-in attempts: each authorization request (at
``/authorize`` or pushed at ``/par``, RFC 9126) opens one; the login pages, the code the
server redirected with and the token requests that redeemed it are tied back to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from proofkey.ops.client_check_record import Exchange

__all__ = ["Attempt", "Redemption", "group_attempts"]


@dataclass(frozen=True, slots=True)
class Redemption:
    """A token request with ``grant_type=authorization_code``."""

    exchange: Exchange
    code: str = field(repr=False)
    redirect_uri: str | None = field(repr=False)


@dataclass(slots=True)
class Attempt:
    """One sign-in attempt, numbered from 1 in the order the client started them."""

    number: int
    opened_by: Exchange
    params: dict[str, str] = field(repr=False)  # the authorization request's parameters
    pushed: bool = False
    request_uri: str = ""
    authorize_requests: list[Exchange] = field(default_factory=list, repr=False)
    handles: set[str] = field(default_factory=set)  # /interaction/{handle}
    codes: list[str] = field(default_factory=list, repr=False)  # codes the server issued
    issued_iss: list[str] = field(default_factory=list)  # iss of each code's redirect
    issued_error: list[str] = field(default_factory=list)  # error beside each code, or ""
    redemptions: list[Redemption] = field(default_factory=list)


def _handle(path_or_url: str) -> str | None:
    path = urlsplit(path_or_url).path
    if not path.startswith("/interaction/"):
        return None
    return path.split("/")[2] or None


def _redirect_query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


def group_attempts(exchanges: list[Exchange]) -> list[Attempt]:
    """The attempts in ``exchanges`` (in the order they were made)."""
    attempts: list[Attempt] = []
    by_request_uri: dict[str, Attempt] = {}
    by_handle: dict[str, Attempt] = {}
    by_code: dict[str, Attempt] = {}
    for exchange in exchanges:
        current: Attempt | None = None
        params = exchange.params()
        if exchange.path == "/par" and exchange.method == "POST":
            current = Attempt(len(attempts) + 1, exchange, params, pushed=True)
            attempts.append(current)
            request_uri = str((exchange.body or {}).get("request_uri", ""))
            if request_uri:
                current.request_uri = request_uri
                by_request_uri[request_uri] = current
        elif exchange.path == "/authorize":
            current = by_request_uri.get(params.get("request_uri", ""))
            if current is None:
                current = Attempt(len(attempts) + 1, exchange, params)
                attempts.append(current)
            current.authorize_requests.append(exchange)
        elif (handle := _handle(exchange.path)) is not None:
            current = by_handle.get(handle)
        elif exchange.path == "/token" and params.get("grant_type") == "authorization_code":
            code = params.get("code", "")
            owner = by_code.get(code)
            if owner is not None:
                owner.redemptions.append(Redemption(exchange, code, params.get("redirect_uri")))
        if current is None or not exchange.location:
            continue
        if (handle := _handle(exchange.location)) is not None:
            current.handles.add(handle)
            by_handle[handle] = current
            continue
        answer = _redirect_query(exchange.location)
        if answer.get("code"):
            current.codes.append(answer["code"])
            current.issued_iss.append(answer.get("iss", ""))
            current.issued_error.append(answer.get("error", ""))
            by_code[answer["code"]] = current
    return attempts
