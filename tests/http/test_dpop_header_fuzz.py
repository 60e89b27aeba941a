"""Whatever the ``DPoP`` headers of a token request hold (none, one or several; text, JWS-shaped
segments of arbitrary JSON, headers naming any alg and key), the answer is 200 without a header
and otherwise ``400 invalid_dpop_proof`` (RFC 9449 §5): never a 5xx, never the value echoed."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER, WEB_ID

# Header values: visible latin-1 text and spaces (what an HTTP header can carry).
_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                              blacklist_categories=("Cc",)), max_size=300).map(str.strip)
_JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12)
_HEADER = st.fixed_dictionaries(
    {"typ": st.sampled_from(["dpop+jwt", "JWT", "DPOP+JWT"]),
     "alg": st.sampled_from(["ES256", "RS256", "EdDSA", "HS256", "none", "PS256"])},
    optional={"jwk": st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d"]),
                                     st.text(max_size=50), max_size=6) | _JSON})
_CLAIMS = st.fixed_dictionaries(
    {}, optional={"jti": _JSON, "htm": st.sampled_from(["POST", "GET"]) | _JSON,
                  "htu": st.just(f"{ISSUER}/token") | _JSON,
                  "iat": st.integers(-2**63, 2**63) | _JSON})


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


_JWS = st.builds(lambda h, c, s: f"{_segment(h)}.{_segment(c)}.{s}", _HEADER, _CLAIMS,
                 st.text("ABCDEFabcdef0123456789-_", max_size=90))
_VALUES = st.lists(_TEXT | _JWS, max_size=3)


@pytest.fixture
def store_backend() -> str:
    return "sqlite"  # the header is read before the store is asked anything about it


@pytest.fixture
async def client(settings: Settings, seeded: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            yield http


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_VALUES)
async def test_any_dpop_header_is_refused_cleanly(client: httpx.AsyncClient, web_secret: str,
                                                  values: list[str]) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials"},
                                 headers=[("DPoP", v.encode("latin-1")) for v in values],
                                 auth=(WEB_ID, web_secret))
    if not values:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    for value in values:
        if len(value) > 8:
            assert value not in response.text
