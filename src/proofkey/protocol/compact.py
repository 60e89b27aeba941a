"""One bounded, typed parse of a compact JWS (RFC 7515 §7.1, §5.2) and of the JSON inside it.

Every verifier goes through here before anything is decoded: the token and each segment are
length-checked (O(1)), the segments must be base64url (RFC 7515 §2), and JSON is parsed only
after its nesting is bounded (the number of opening brackets, counted in C, bounds the depth,
so the decoder cannot recurse out of the stack). Objects have at most ``MAX_MEMBERS`` members
and no duplicate names (RFC 7515 §4, RFC 7519 §4: a parser "MUST either reject" them);
NaN, Infinity and numbers that do not fit a double are refused. The header members proofkey
uses come out typed. Anything else raises ``InvalidToken``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from proofkey.errors import InvalidToken

__all__ = ["MAX_TOKEN_CHARS", "CompactJws", "JwsHeader", "json_object", "parse_compact",
           "parse_header"]

MAX_TOKEN_CHARS = 4096
MAX_HEADER_CHARS = 512  # proofkey's own headers are about 100
MAX_SIGNATURE_CHARS = 700  # RS256 with a 4096-bit key: 683; ES256: 86
MAX_BRACKETS = 16  # opening brackets per JSON text, hence also its depth
MAX_MEMBERS = 50  # per object
MAX_KID_CHARS = 128

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_MALFORMED = "the token is malformed"


@dataclass(frozen=True, slots=True)
class JwsHeader:
    """The protected header members a verifier looks at (RFC 7515 §4.1)."""

    alg: str
    kid: str | None
    typ: str | None


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A compact JWS split and decoded, not yet verified: ``claims`` are untrusted."""

    header: JwsHeader
    claims: Mapping[str, Any]
    members: Mapping[str, Any]  # every protected header member (e.g. DPoP's "jwk"), untrusted


def _refuse(*_: object) -> NoReturn:
    raise InvalidToken(_MALFORMED)


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs) or len(pairs) > MAX_MEMBERS:
        _refuse()
    return members


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _refuse()
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_members, parse_constant=_refuse,
                            parse_float=_finite)


def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object ``raw`` holds (UTF-8), its depth bounded before it is parsed."""
    if raw.count(b"[") + raw.count(b"{") > MAX_BRACKETS:
        _refuse()
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        _refuse()
    if not isinstance(value, dict):
        _refuse()
    return value


def _json_segment(segment: str) -> dict[str, Any]:
    """The JSON object a base64url segment encodes (RFC 7515 §2: no padding)."""
    if len(segment) % 4 == 1 or _SEGMENT.fullmatch(segment) is None:
        _refuse()
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):
        _refuse()
    return json_object(raw)


def _typed_header(members: dict[str, Any]) -> JwsHeader:
    alg, kid, typ = members.get("alg"), members.get("kid"), members.get("typ")
    if not isinstance(alg, str) or not isinstance(kid, str | None) or not isinstance(
            typ, str | None):
        _refuse()
    if kid is not None and len(kid) > MAX_KID_CHARS:
        _refuse()
    if "crit" in members:
        # RFC 7515 §4.1.11: extensions listed in "crit" that are not understood MUST make
        # the JWS invalid; proofkey understands none.
        _refuse()
    return JwsHeader(alg, kid, typ)


def _segments(token: str, max_header_chars: int = MAX_HEADER_CHARS) -> list[str]:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        _refuse()
    segments = token.split(".")
    if len(segments[0]) > max_header_chars or len(segments[2]) > MAX_SIGNATURE_CHARS:
        _refuse()
    return segments


def parse_header(token: str) -> JwsHeader:
    """The typed protected header of a compact JWS; ``InvalidToken`` if it is not one."""
    return _typed_header(_json_segment(_segments(token)[0]))


def parse_compact(token: str, *, max_header_chars: int = MAX_HEADER_CHARS) -> CompactJws:
    """Header and claim set of a compact JWS, each bounded and parsed once. The signature is
    not checked here: the caller verifies it before trusting ``claims``. A header that carries
    its key (a DPoP proof's ``jwk``: an RSA-4096 key is about 1 000 characters encoded) needs a
    larger ``max_header_chars`` than proofkey's own tokens."""
    header, payload, signature = _segments(token, max_header_chars)
    if len(signature) % 4 == 1 or _SEGMENT.fullmatch(signature) is None:
        _refuse()
    members = _json_segment(header)
    return CompactJws(_typed_header(members), _json_segment(payload), members)
