"""A small schema language for the admin API: the one definition that both validates request
bodies and query strings and is printed into the OpenAPI 3.1 document (JSON Schema 2020-12).

Each type checks a decoded JSON value and returns it (tuples for arrays) or records what is
wrong at its JSON Pointer; an object refuses fields it does not declare. No dependency: the
few types the API needs are short, and a second copy of the rules cannot drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .problems import FieldError

__all__ = ["Arr", "Bool", "Int", "JwkSet", "Obj", "Prop", "Str", "Type", "check"]


class _Errors(list[FieldError]):
    pass


@dataclass(frozen=True, slots=True)
class Str:
    max_length: int = 200
    min_length: int = 0
    pattern: str = ""
    enum: tuple[str, ...] = ()
    nullable: bool = False
    description: str = ""

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ["string", "null"] if self.nullable else "string"}
        if self.enum:
            out["enum"] = [*self.enum, *([None] if self.nullable else [])]
        else:
            out["maxLength"] = self.max_length
            if self.min_length:
                out["minLength"] = self.min_length
            if self.pattern:
                out["pattern"] = f"^{self.pattern}$"
        return _described(out, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, str):
            errors.append((where, "must be a string"))
        elif self.enum and value not in self.enum:
            errors.append((where, "must be one of " + ", ".join(self.enum)))
        elif not self.min_length <= len(value) <= self.max_length:
            errors.append((where, f"must have {self.min_length} to {self.max_length} "
                                  "characters"))
        elif self.pattern and re.fullmatch(self.pattern, value) is None:
            errors.append((where, "has characters or a form it may not have"))
        return value


@dataclass(frozen=True, slots=True)
class Int:
    minimum: int = 0
    maximum: int = 2**31 - 1
    nullable: bool = False
    description: str = ""

    def json(self) -> dict[str, Any]:
        return _described({"type": ["integer", "null"] if self.nullable else "integer",
                           "minimum": self.minimum, "maximum": self.maximum}, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if value is None and self.nullable:
            return None
        if isinstance(value, float) and value.is_integer():  # JSON Schema: 1.0 is an integer
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append((where, "must be an integer"))
        elif not self.minimum <= value <= self.maximum:
            errors.append((where, f"must be between {self.minimum} and {self.maximum}"))
        return value


@dataclass(frozen=True, slots=True)
class Bool:
    description: str = ""

    def json(self) -> dict[str, Any]:
        return _described({"type": "boolean"}, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if not isinstance(value, bool):
            errors.append((where, "must be true or false"))
        return value


@dataclass(frozen=True, slots=True)
class Arr:
    items: Type
    max_items: int = 20
    min_items: int = 0
    description: str = ""

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.items.json(),
                               "maxItems": self.max_items, "uniqueItems": True}
        if self.min_items:
            out["minItems"] = self.min_items
        return _described(out, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if not isinstance(value, list):
            errors.append((where, "must be an array"))
            return value
        if not self.min_items <= len(value) <= self.max_items:
            errors.append((where, f"must have {self.min_items} to {self.max_items} items"))
            return value
        items = tuple(self.items.check(v, f"{where}/{i}", errors) for i, v in enumerate(value))
        if len(set(map(repr, items))) != len(items):
            errors.append((where, "must not repeat an item"))
        return items


@dataclass(frozen=True, slots=True)
class JwkSet:
    """A JWK Set (RFC 7517 §5): an object with a ``keys`` array of JWK objects. The members of
    each key are not checked here: whether the set may be registered is the client policy's
    call (PKL061-PKL066), so a refusal names its rule."""

    max_keys: int = 20
    max_bytes: int = 16 * 1024
    nullable: bool = False
    description: str = ""

    def json(self) -> dict[str, Any]:
        return _described({
            "type": ["object", "null"] if self.nullable else "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "maxItems": self.max_keys,
                                    "items": {"type": "object"}}}}, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
            errors.append((where, "must be a JWK Set: an object with a keys array"))
        elif len(value["keys"]) > self.max_keys or not all(
                isinstance(k, dict) for k in value["keys"]):
            errors.append((f"{where}/keys", f"must hold at most {self.max_keys} JWK objects"))
        elif len(json.dumps(value, separators=(",", ":"))) > self.max_bytes:
            errors.append((where, f"must be at most {self.max_bytes} bytes as JSON"))
        return value


@dataclass(frozen=True, slots=True)
class Prop:
    name: str
    type: Type
    required: bool = False


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object with exactly these properties (no others)."""

    name: str
    props: tuple[Prop, ...]
    description: str = ""
    by_name: Mapping[str, Prop] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.props})

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object", "additionalProperties": False,
            "properties": {p.name: p.type.json() for p in self.props}}
        required = [p.name for p in self.props if p.required]
        if required:
            out["required"] = required
        return _described(out, self.description)

    def check(self, value: Any, where: str, errors: _Errors) -> Any:
        if not isinstance(value, dict):
            errors.append((where or "/", "must be a JSON object"))
            return value
        out: dict[str, Any] = {}
        for name, item in value.items():
            prop = self.by_name.get(name)
            if prop is None:
                errors.append((f"{where}/{_escape(name)[:80]}", "is not a known field"))
            else:
                out[name] = prop.type.check(item, f"{where}/{name}", errors)
        errors.extend((f"{where}/{p.name}", "is required") for p in self.props
                      if p.required and p.name not in value)
        return out


Type = Str | Int | Bool | Arr | Obj | JwkSet


def check(schema: Type, value: Any) -> tuple[Any, list[FieldError]]:
    """The checked value and every error found (the value is usable only without errors)."""
    errors = _Errors()
    checked = schema.check(value, "", errors)
    return checked, list(errors[:20])


def _escape(name: str) -> str:
    """RFC 6901: a field name as one JSON Pointer reference token."""
    return name.replace("~", "~0").replace("/", "~1")


def _described(out: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        out["description"] = description
    return out
