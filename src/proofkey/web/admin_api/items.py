"""What every collection and item of the admin API shares: opaque cursors, bounded pages,
strong ETags and the ``If-Match`` check (RFC 9110 §8.8.3, §13.1.1)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .problems import Problem
from .routing import Call
from .schema import Arr, Int, Obj, Prop, Str, Type

__all__ = ["MAX_LIMIT", "PAGE_QUERY", "check_if_match", "cursor_for", "etag_of", "page",
           "page_of", "position_of"]

MAX_LIMIT = 200
PAGE_QUERY = Obj("PageQuery", (
    Prop("limit", Int(1, MAX_LIMIT, description="Items per page (default 50).")),
    Prop("cursor", Str(max_length=400, pattern=r"[A-Za-z0-9_-]+",
                       description="The next_cursor of the previous page.")),
))
_T = TypeVar("_T")


def page_of(name: str, item: Type) -> Obj:
    """The schema of a page of ``item``s."""
    return Obj(name, (Prop("items", Arr(item, max_items=MAX_LIMIT), required=True),
                      Prop("next_cursor", Str(max_length=400, nullable=True), required=True)))


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).rstrip(b"=").decode()


def _after(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise Problem(400, "invalid-cursor", "the cursor is not one this API gave out") from None
    if not isinstance(after, str):
        raise Problem(400, "invalid-cursor", "the cursor is not one this API gave out")
    return after


def cursor_for(position: str) -> str:
    """An opaque cursor for a position that is not an item key (the audit log's offsets)."""
    return _cursor(position)


def position_of(cursor: str) -> str:
    """The position in a cursor of ``cursor_for`` (400 ``invalid-cursor`` otherwise)."""
    return _after(cursor)


def page(call: Call, items: Sequence[_T], key: Callable[[_T], str],
         show: Callable[[_T], Mapping[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` in ``key`` order after the query's cursor."""
    limit = int(call.query.get("limit", 50))
    ordered = sorted(items, key=key)
    if "cursor" in call.query:
        after = _after(str(call.query["cursor"]))
        ordered = [i for i in ordered if key(i) > after]
    chosen = ordered[:limit]
    more = len(ordered) > limit
    return {"items": [show(i) for i in chosen],
            "next_cursor": _cursor(key(chosen[-1])) if more and chosen else None}


def etag_of(body: Mapping[str, Any]) -> str:
    """A strong ETag: a digest of the item's representation."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(canonical).hexdigest()[:32] + '"'


def check_if_match(call: Call, etag: str) -> None:
    """412 unless ``If-Match`` is ``*`` or lists ``etag`` (strong comparison)."""
    header = call.if_match or ""
    tags = [t.strip() for t in header.split(",")]
    if "*" not in tags and etag not in tags:
        raise Problem(412, "precondition-failed", "the item changed since the ETag in "
                      "If-Match was read; read it again")
