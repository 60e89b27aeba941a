"""The admin API's schema language agrees with JSON Schema 2020-12: for every body and query
schema of the published operations, a value passes ``check`` exactly when a standard
validator accepts it against the schema printed into the OpenAPI document (one definition,
two readings that cannot drift)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofkey.web.admin_api import OPERATIONS
from proofkey.web.admin_api.schema import Arr, Bool, Int, JwkSet, Obj, Str, Type, check

SCHEMAS = {op.operation_id + (":body" if op.body else ":query"): op.body or op.query
           for op in OPERATIONS if op.body or op.query}

# Python's re.search lets "$" match before a final newline; the API anchors patterns with
# fullmatch (stricter), so strings that end in a newline are left out of the comparison.
_TEXT = st.text(max_size=30).filter(lambda t: not t.endswith("\n"))
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), _TEXT)


def _value(schema: Type) -> st.SearchStrategy[Any]:
    """Mostly values of the right shape (often valid), sometimes anything."""
    if isinstance(schema, Str):
        fitting: st.SearchStrategy[Any] = (st.sampled_from(schema.enum) if schema.enum else
                                           st.from_regex(schema.pattern or r"[a-z:/.]*",
                                                         fullmatch=True) if schema.pattern
                                           else _TEXT)
    elif isinstance(schema, Int):
        fitting = st.integers(schema.minimum - 2, min(schema.maximum + 2, 2**40))
    elif isinstance(schema, Bool):
        fitting = st.booleans()
    elif isinstance(schema, Arr):
        fitting = st.lists(_value(schema.items), max_size=schema.max_items + 1)
    elif isinstance(schema, JwkSet):  # small sets: JSON Schema cannot say "at most 16 KiB"
        jwk = st.dictionaries(st.sampled_from(["kty", "crv", "x", "kid"]), _TEXT, max_size=3)
        fitting = st.one_of(st.fixed_dictionaries({"keys": st.lists(
            st.one_of(jwk, _SCALAR), max_size=3)}), st.just({"keys": "x"}), st.just({}))
    else:
        fitting = _object(schema)
    return st.one_of(fitting, fitting, fitting, _SCALAR)


def _object(schema: Obj) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={p.name: _value(p.type) for p in schema.props})
    extra = st.dictionaries(st.sampled_from(["extra", "client_secret", "x"]), _SCALAR,
                            max_size=1)
    return st.builds(lambda a, b: {**b, **a}, known, st.one_of(st.just({}), extra))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_check_agrees_with_json_schema(name: str) -> None:
    schema = SCHEMAS[name]
    assert schema is not None
    printed = schema.json()
    jsonschema.Draft202012Validator.check_schema(printed)
    validator = jsonschema.Draft202012Validator(printed)

    @given(_object(schema))
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def agree(value: dict[str, Any]) -> None:
        _, errors = check(schema, value)
        assert (not errors) == validator.is_valid(value), (value, errors)

    agree()
