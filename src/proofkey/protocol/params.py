"""Parse application/x-www-form-urlencoded requests strictly (RFC 6749 §3.1, §3.2, Appendix B).

RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once" (refused
with ``invalid_request``) and "Parameters sent without a value MUST be treated as if they were
omitted" (dropped, so a required one reads as missing). Malformed percent-encoding, invalid
UTF-8 and control characters are refused rather than guessed at.

The one exception to "not more than once": ``resource`` (RFC 8707 §2), whose values are joined
with ``VALUE_SEPARATOR``, a control character no decoded value can hold; ``values_of`` splits
them again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import unquote_to_bytes

from proofkey.errors import InvalidRequest

__all__ = ["REPEATABLE", "VALUE_SEPARATOR", "Params", "parse_urlencoded", "values_of"]

Params = Mapping[str, str]
REPEATABLE = frozenset({"resource"})  # RFC 8707 §2: "may be used multiple times"
VALUE_SEPARATOR = "\n"

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bytes that decode to themselves: no '+', no '%', nothing outside printable ASCII. Most names
# and values (client ids, challenges, codes, verifiers, scopes) are only these, and skip
# ``_decode`` (a third of a query's parsing time; docs/performance.md).
_PLAIN = re.compile(rb"[A-Za-z0-9._~\-]*").fullmatch


def _decode(part: bytes) -> str:
    if b"+" in part:
        part = part.replace(b"+", b" ")
    if b"%" in part:
        if _BAD_PERCENT.search(part):
            raise InvalidRequest("malformed percent-encoding in request parameters")
        part = unquote_to_bytes(part)
    try:
        text = part.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("request parameters must be UTF-8") from None
    if _CONTROL.search(text):
        raise InvalidRequest("request parameters must not contain control characters")
    return text


def parse_urlencoded(data: bytes | str, *, max_bytes: int = 16384) -> Params:
    """Decode a query string or form body into an immutable mapping, strictly."""
    try:
        raw = data.encode("latin-1") if isinstance(data, str) else data
    except UnicodeEncodeError:
        # A raw query string is bytes; text beyond latin-1 cannot have come off the wire.
        raise InvalidRequest("request parameters must be UTF-8") from None
    if len(raw) > max_bytes:
        raise InvalidRequest("request parameters are too large")
    seen: dict[str, str] = {}
    names: set[str] = set()
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, sep, value_raw = pair.partition(b"=")
        name = name_raw.decode("ascii") if _PLAIN(name_raw) else _decode(name_raw)
        if not sep:
            value = ""
        else:
            value = value_raw.decode("ascii") if _PLAIN(value_raw) else _decode(value_raw)
        if name in REPEATABLE:
            if value:
                seen[name] = f"{seen[name]}{VALUE_SEPARATOR}{value}" if name in seen else value
            continue
        if name in names:
            raise InvalidRequest(f"parameter {_safe(name)} must not be repeated")
        names.add(name)
        if value:
            seen[name] = value
    return MappingProxyType(seen)


def values_of(params: Params, name: str) -> tuple[str, ...]:
    """Every value of a repeatable parameter, in the order sent (none when it is absent)."""
    raw = params.get(name)
    return () if raw is None else tuple(raw.split(VALUE_SEPARATOR))


def _safe(name: str) -> str:
    """A parameter name fit for an error_description (it is attacker-chosen text)."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "?", name)[:40]
    return clean or "?"
