"""What the SQLite and PostgreSQL backends share: tables, column lists, row <-> model conversion.

Every table's columns are named and ordered like its model's fields, so the SQL takes its
column lists from the dataclass fields (``expand("SELECT {code} FROM auth_codes")``). A backend
supplies only how it encodes the fields that are not plain scalars (scopes, sets, URI lists).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from proofkey.models import (
    AuthorizationCode,
    Client,
    DeviceAuthorization,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
    SigningKey,
    User,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "CODE_REPLAY_WINDOW",
    "COLUMNS",
    "FIELDS",
    "PURGED",
    "TABLES",
    "Codec",
    "check_family",
    "expand",
    "inserts",
]

CODE_REPLAY_WINDOW = 600
"""Seconds a code (or device code) outlives its expiry before purging, so that a late replay
is still recognised."""

_M = TypeVar("_M", bound="DataclassInstance")

TABLES: dict[str, tuple[str, type[Any]]] = {
    "client": ("clients", Client), "user": ("users", User),
    "pending": ("pending_authorizations", PendingAuthorization), "session": ("sessions", Session),
    "code": ("auth_codes", AuthorizationCode), "grant": ("grants", Grant),
    "refresh": ("refresh_tokens", RefreshToken), "key": ("signing_keys", SigningKey),
    "device": ("device_authorizations", DeviceAuthorization),
}  # fmt: skip
"""Short name -> (table, model)."""

FIELDS: dict[type[Any], tuple[str, ...]] = {
    model: tuple(f.name for f in fields(model)) for _, model in TABLES.values()
}
COLUMNS = {name: ", ".join(FIELDS[model]) for name, (_, model) in TABLES.items()}

# Tables purged by expires_at, and how long past expiry their rows stay. Deleting a grant
# deletes its refresh tokens (ON DELETE CASCADE).
PURGED: tuple[tuple[str, int], ...] = (
    ("pending_authorizations", 0), ("sessions", 0), ("auth_codes", CODE_REPLAY_WINDOW),
    ("refresh_tokens", 0), ("grants", 0), ("revoked_access_tokens", 0),
    ("device_authorizations", CODE_REPLAY_WINDOW), ("pushed_requests", 0),
)  # fmt: skip


@functools.cache
def expand(template: str) -> str:
    """Expand ``{code}``-style column lists (from the models' fields; never input)."""
    return template.format_map(COLUMNS)


def inserts(marks: Callable[[int], str]) -> dict[str, str]:
    """``INSERT INTO <table> (<columns>) VALUES (<placeholders>)`` per table; ``marks(n)``
    gives the backend's ``n`` placeholders."""
    return {
        name: f"INSERT INTO {table} ({COLUMNS[name]}) VALUES ({marks(len(FIELDS[model]))})"  # noqa: S608 - constants
        for name, (table, model) in TABLES.items()
    }


def check_family(grant_id: str, refresh: RefreshToken | None) -> None:
    """Refuse to store a refresh token under another grant than the one being written."""
    if refresh is not None and refresh.grant_id != grant_id:
        raise ValueError(f"refresh token of grant {refresh.grant_id!r}, expected {grant_id!r}")


class Codec:
    """Rows as one backend stores them: ``encode``/``decode`` convert the named fields, every
    other field is stored as it is."""

    def __init__(self, encode: Mapping[str, Callable[[Any], Any]],
                 decode: Mapping[str, Callable[[Any], Any]]) -> None:  # fmt: skip
        self._encode = dict(encode)
        self._decode = dict(decode)

    def row(self, record: DataclassInstance) -> tuple[Any, ...]:
        """The record's column values, in field order, encoded as stored."""
        encode = self._encode
        return tuple(
            encode[name](getattr(record, name)) if name in encode else getattr(record, name)
            for name in FIELDS[type(record)]
        )

    def reader(self, model: type[_M]) -> Callable[[Any], _M]:
        """Turn a row (columns in field order) back into ``model``."""
        decoders = [self._decode.get(name) for name in FIELDS[model]]
        return lambda row: model(*(d(v) if d else v for d, v in zip(decoders, row, strict=True)))
