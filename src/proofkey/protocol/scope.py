"""Scope syntax and policy (RFC 6749 §3.3): space-delimited, case-sensitive scope tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable

from proofkey.errors import InvalidScope

__all__ = ["check_scope", "format_scope", "parse_scope"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a scope string into unique tokens, order kept; refuse bad syntax."""
    if raw is None:
        return ()
    tokens = raw.split(" ")
    out: list[str] = []
    for token in tokens:
        if not token:
            continue
        if _TOKEN.fullmatch(token) is None:
            raise InvalidScope("scope contains characters not allowed by RFC 6749 section 3.3")
        if token not in out:
            out.append(token)
    return tuple(out)


def check_scope(
    requested: tuple[str, ...], *, allowed: Iterable[str], supported: Iterable[str]
) -> tuple[str, ...]:
    """Refuse scopes the server does not know or the client is not registered for."""
    known = frozenset(supported)
    permitted = frozenset(allowed)
    for token in requested:
        if token not in known:
            raise InvalidScope("the requested scope is unknown to this server")
        if token not in permitted:
            raise InvalidScope("the client is not registered for the requested scope")
    return requested


def format_scope(scope: Iterable[str]) -> str:
    return " ".join(scope)
