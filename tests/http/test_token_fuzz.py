"""Malformed, hostile and wrongly typed tokens at every endpoint that parses one (issue 17
item 10): whatever a bearer token, a token to introspect or revoke, or a refresh token looks
like, the answer is the spec's, never a 5xx — 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` at userinfo (RFC 6750 §3.1), ``{"active": false}`` at introspection
(RFC 7662 §2.2), 200 at revocation (RFC 7009 §2.2), ``invalid_grant`` at /token as a refresh
token, an authorization code or a device code (RFC 6749 §5.2, RFC 8628 §3.5).

The fuzz draws JWT-shaped inputs: huge or deeply nested JSON, many members, wrong claim types,
bad base64url, wrong segment counts, non-ASCII, ``alg: none``, unknown ``kid``; some are
signed with the server's own key, so that a wrongly typed claim set gets past the signature.
The inputs that failed before the fix are kept below as explicit regression cases.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey

from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER, PUBLIC_ID, PUBLIC_REDIRECT, WEB_ID
from tests.http.test_token_code_grant import app_services, register

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Signer = Callable[[str, bytes, bytes], str]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# -- the app, with its server errors answered rather than raised ------------------------------


TV_ID = "fuzz-tv"


@pytest.fixture
async def client(settings: Settings, seeded: object) -> AsyncIterator[httpx.AsyncClient]:
    await register(settings, TV_ID, client_type="public", grant_types=[DEVICE_GRANT_TYPE])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            yield http


@pytest.fixture
def sign(client: httpx.AsyncClient) -> Signer:
    """Sign any header and payload bytes with the server's own key for ``alg``, as a compact
    JWS: what a token with a wrongly typed claim set would look like had it been signed here."""
    keys = {r.alg: r for r in app_services(client).minter.keys.records()}

    def signed(alg: str, header: bytes, payload: bytes) -> str:
        record = keys[alg]
        data = json.loads(record.private_jwk)
        signing_input = f"{b64url(header)}.{b64url(payload)}".encode("ascii")
        if alg == "ES256":
            ec_key: Any = ECKey.import_key(data).private_key
            assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
            r, s = decode_dss_signature(ec_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            rsa_key: Any = RSAKey.import_key(data).private_key
            assert isinstance(rsa_key, rsa.RSAPrivateKey)
            signature = rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{b64url(signature)}"

    return signed


def kids(client: httpx.AsyncClient) -> dict[str, str]:
    return {r.alg: r.kid for r in app_services(client).minter.keys.records()}


def real_claims(**overrides: Any) -> dict[str, Any]:
    """A claim set like the server's own access tokens (RFC 9068 §2.2)."""
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "alice", "aud": ISSUER, "exp": 4102444800,
                              "iat": 1700000000, "jti": "j" * 22, "client_id": WEB_ID,
                              "scope": "openid profile"}
    claims.update(overrides)
    return claims


def real_header(kid: str, **overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    header.update(overrides)
    return header


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# -- what each endpoint must answer ------------------------------------------------------------


async def assert_refused_everywhere(http: httpx.AsyncClient, token: str, web_secret: str,
                                    *, form: bool = True) -> None:
    """The token is not good: every endpoint that takes one says so in its spec's words."""
    as_header: Any = {"Authorization": b"Bearer " + token.encode("utf-8")}
    for method in ("GET", "POST"):
        response = await http.request(method, "/userinfo", headers=as_header)
        assert_invalid_token(response)
    if not form:
        return
    body = f"access_token={quote(token, safe='')}".encode()
    assert_invalid_token(await http.post("/userinfo", content=body, headers=FORM))
    body = f"token={quote(token, safe='')}".encode()
    for hint in (b"", b"&token_type_hint=access_token", b"&token_type_hint=refresh_token"):
        response = await http.post("/introspect", content=body + hint, headers=FORM,
                                   auth=(WEB_ID, web_secret))
        assert response.status_code == 200, response.text
        assert response.json() == {"active": False}
        response = await http.post("/revoke", content=body + hint, headers=FORM,
                                   auth=(WEB_ID, web_secret))
        assert response.status_code == 200, response.text
        assert response.content == b""
    await assert_invalid_grant_at_token(http, token, web_secret)


async def assert_invalid_grant_at_token(http: httpx.AsyncClient, token: str,
                                        web_secret: str) -> None:
    """As a refresh token, an authorization code or a device code: ``invalid_grant``."""
    value = quote(token, safe="")
    requests: list[tuple[str, tuple[str, str] | None]] = [
        (f"grant_type=refresh_token&refresh_token={value}", (WEB_ID, web_secret)),
        (f"grant_type=refresh_token&refresh_token={value}&client_id={PUBLIC_ID}", None),
        (f"grant_type=authorization_code&code={value}&client_id={PUBLIC_ID}"
         f"&redirect_uri={quote(PUBLIC_REDIRECT, safe='')}&code_verifier={'a' * 43}", None),
        (f"grant_type={quote(DEVICE_GRANT_TYPE, safe='')}&device_code={value}"
         f"&client_id={TV_ID}", None),
    ]
    for body, auth in requests:
        response = await http.post("/token", content=body.encode(), headers=FORM, auth=auth)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant", response.text


def assert_invalid_token(response: httpx.Response) -> None:
    # RFC 6750 §3.1: invalid_token is answered with 401 and the error in the challenge.
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"
    assert response.headers["cache-control"] == "no-store"


# -- regression cases: each of these answered 500 (or the wrong error) before the fix ----------


def nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("header", [nested_array(2000), nested_object(1500)],
                         ids=["array", "object"])
async def test_a_deeply_nested_header_is_an_invalid_token(
        client: httpx.AsyncClient, web_secret: str, header: bytes) -> None:
    # Was: RecursionError in KeyRing.knows_signer_of, a 500 at all three endpoints.
    token = f"{b64url(header)}.e30.AAAA"
    await assert_refused_everywhere(client, token, web_secret)


@pytest.mark.parametrize("payload", [nested_array(1400), nested_object(1000)],
                         ids=["array", "object"])
async def test_a_deeply_nested_claim_set_is_an_invalid_token_even_when_signed(
        client: httpx.AsyncClient, web_secret: str, sign: Signer, payload: bytes) -> None:
    # Was: RecursionError in joserfc's json.loads after the signature check: a 500.
    header = dumps(real_header(kids(client)["ES256"]))
    await assert_refused_everywhere(client, sign("ES256", header, payload), web_secret)


@pytest.mark.parametrize("claims", [
    real_claims(jti=None),
    real_claims(iat=float("nan")),
    real_claims(exp=float("inf")),
    real_claims(scope=["openid", "profile"]),
    real_claims(exp="4102444800"),
    real_claims(aud={"aud": ISSUER}),
    real_claims(jti=12345),
    real_claims(gid=12345),
    real_claims(sub={"id": "alice"}),
    real_claims(exp=True),
    real_claims(auth_time="yesterday"),
    real_claims(client_id=["web-app"]),
    real_claims(exp=10 ** 80),
], ids=["no-jti", "iat-nan", "exp-inf", "scope-list", "exp-string", "aud-object",
        "jti-number", "gid-number", "sub-object", "exp-bool", "auth_time-string",
        "client_id-list", "exp-huge"])
async def test_a_signed_token_with_a_wrongly_typed_claim_is_an_invalid_token(
        client: httpx.AsyncClient, web_secret: str, sign: Signer,
        claims: dict[str, Any]) -> None:
    # Was: no jti -> KeyError at /revoke; NaN/Infinity -> unserialisable introspection answer;
    # scope as a list -> 403 insufficient_scope instead of invalid_token at userinfo.
    claims = {k: v for k, v in claims.items() if v is not None}
    payload = json.dumps(claims).encode()  # allow_nan: NaN and Infinity as JSON extensions
    header = dumps(real_header(kids(client)["ES256"]))
    await assert_refused_everywhere(client, sign("ES256", header, payload), web_secret)


@pytest.mark.parametrize("payload", [
    b'{"iss":"x","iss":"y"}',
    b"[]",
    b'"claims"',
    b"null",
    b'{"exp":1e400}',
    dumps({f"c{i}": i for i in range(300)}),
], ids=["duplicate", "array", "string", "null", "overflow", "many-members"])
async def test_a_signed_token_whose_claims_are_not_a_plain_claim_set_is_an_invalid_token(
        client: httpx.AsyncClient, web_secret: str, sign: Signer, payload: bytes) -> None:
    header = dumps(real_header(kids(client)["ES256"]))
    await assert_refused_everywhere(client, sign("ES256", header, payload), web_secret)


@pytest.mark.parametrize("header", [
    {"alg": "ES256", "typ": "at+jwt"},
    {"alg": "ES256", "typ": "at+jwt", "kid": "unknown-kid"},
    {"alg": "RS256", "typ": "at+jwt", "kid": "ES256"},
    {"alg": "ES256", "typ": "JWT", "kid": "ES256"},
    {"alg": "ES256", "typ": ["at+jwt"], "kid": "ES256"},
    {"alg": "ES256", "typ": "at+jwt", "kid": "ES256", "crit": ["exp"]},
    {"alg": "ES256", "typ": "at+jwt", "kid": "ES256", "b64": False, "crit": ["b64"]},
    {"alg": "ES256", "typ": "at+jwt", "kid": "ES256", "x": [[[]]] * 40},
], ids=["no-kid", "unknown-kid", "alg-of-another-key", "typ-jwt", "typ-list", "crit", "b64",
        "bulky"])
async def test_a_header_the_server_did_not_write_is_an_invalid_token_even_when_signed(
        client: httpx.AsyncClient, web_secret: str, sign: Signer,
        header: dict[str, Any]) -> None:
    header = {k: kids(client)[v] if k == "kid" and v in ("ES256", "RS256") else v
              for k, v in header.items()}
    token = sign("ES256", dumps(header), dumps(real_claims()))
    await assert_refused_everywhere(client, token, web_secret)


async def test_a_huge_bearer_token_is_an_invalid_token(client: httpx.AsyncClient,
                                                       web_secret: str) -> None:
    header = b64url(dumps({"alg": "ES256", "kid": "k" * 60000}))
    await assert_refused_everywhere(client, f"{header}.e30.AAAA", web_secret, form=False)
    body = f"token={header[:12000]}.e30.AAAA".encode()
    response = await client.post("/introspect", content=body, headers=FORM,
                                 auth=(WEB_ID, web_secret))
    assert response.json() == {"active": False}


async def test_alg_none_is_an_invalid_token(client: httpx.AsyncClient, web_secret: str) -> None:
    for alg in ("none", "None", "NONE", "HS256"):
        token = f"{b64url(dumps({'alg': alg, 'typ': 'at+jwt'}))}.{b64url(dumps(real_claims()))}."
        await assert_refused_everywhere(client, token, web_secret)
        await assert_refused_everywhere(client, token + "AAAA", web_secret)


async def test_the_servers_own_tokens_still_work(client: httpx.AsyncClient,
                                                 web_secret: str, sign: Signer) -> None:
    """The bounds refuse nothing the server issues (and the fuzz's signer is a real one)."""
    token = sign("ES256", dumps(real_header(kids(client)["ES256"])), dumps(real_claims()))
    response = await client.post("/introspect", data={"token": token},
                                 auth=(WEB_ID, web_secret))
    assert response.json()["active"] is True
    assert response.json()["scope"] == "openid profile"


# -- the fuzz -----------------------------------------------------------------------------------

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
WRONG = ["é", "☃", "+", "/", "=", "%", "~", "!", "\u00a0", "\U0001f600", ".."]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["ES256", "RS256", "none", "at+jwt", ISSUER, WEB_ID,
                                     "openid", "KID_ES256", "KID_RS256"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
DEEP = st.tuples(st.integers(10, 3000), st.booleans()).map(
    lambda d: nested_array(d[0]) if d[1] else nested_object(d[0]))
WIDE = st.integers(10, 1500).map(lambda n: dumps({f"m{i}": i for i in range(n)}))
LONG = st.integers(100, 20000).map(lambda n: dumps({"alg": "ES256", "kid": "k" * n}))
ODD_JSON = st.sampled_from([b"", b"{", b"null", b"[]", b'"x"', b"1", b"NaN", b'{"a":NaN}',
                            b'{"alg":"ES256","alg":"none"}', b"\xff\xfe", b'{"a":1e999}',
                            b'{"a":' + b"9" * 5000 + b"}", "{\"é\":1}".encode("utf-16")])
WRONG_CLAIM = st.sampled_from(["exp", "iat", "aud", "iss", "sub", "jti", "gid", "scope",
                               "client_id", "auth_time"])
REQUIRED_CLAIM = st.sampled_from(["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])


def wrongly_typed(name: str, value: Any) -> bool:
    """Whether ``value`` is not a type the claim may have (RFC 7519 §4.1, RFC 9068 §2.2)."""
    if name in ("exp", "iat", "auth_time"):
        return isinstance(value, bool) or not isinstance(value, int)
    if name in ("iss", "aud"):
        return value != ISSUER and value != [ISSUER]
    return not isinstance(value, str)


def header_json(kid_alg: str | None, extra: dict[str, Any]) -> bytes:
    header: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt"}
    if kid_alg is not None:
        header["kid"] = f"KID_{kid_alg}"
    header.update(extra)
    return json.dumps(header).encode()


HEADERS = st.one_of(
    st.builds(header_json, st.sampled_from(["ES256", "RS256", None]),
              st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "b64", "jwk", "jku",
                                               "x5c", "zip", "cty"]), JSON, max_size=3)),
    JSON.map(lambda v: json.dumps(v).encode()), DEEP, WIDE, LONG, ODD_JSON)
CLAIMS = st.one_of(
    WRONG_CLAIM.flatmap(lambda name: JSON.filter(lambda v: wrongly_typed(name, v)).map(
        lambda value: json.dumps(real_claims(**{name: value})).encode())),
    REQUIRED_CLAIM.map(lambda name: json.dumps(
        {k: v for k, v in real_claims().items() if k != name}).encode()),
    JSON.map(lambda v: json.dumps(v).encode()), DEEP, WIDE, ODD_JSON)
# How a segment is spoiled: (kind, position, foreign text).
MANGLE = st.tuples(st.integers(0, 9), st.integers(0, 10**6),
                   st.text(st.sampled_from(B64URL + "".join(WRONG)), max_size=50))


def encode(raw: bytes, mangle: tuple[int, int, str]) -> str:
    """Mostly good base64url; sometimes standard, padded, truncated or with foreign chars."""
    kind, position, foreign = mangle
    text = b64url(raw)
    if kind == 6:
        return base64.b64encode(raw).decode("ascii")
    if kind == 7:
        return text + ["A", "AB=", "=="][position % 3]
    if kind == 8:
        at = position % (len(text) + 1)
        return text[:at] + WRONG[position % len(WRONG)] + text[at:]
    if kind == 9:
        return foreign
    return text


Shape = tuple[str, bytes, bytes, bytes, list[tuple[int, int, str]], int]
SHAPES = st.tuples(st.sampled_from(["forge", "forge", "forge", "ES256", "RS256"]), HEADERS,
                   CLAIMS, st.binary(max_size=300), st.lists(MANGLE, min_size=3, max_size=3),
                   st.sampled_from([3, 3, 3, 1, 2, 4, 5, 6]))

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@given(shape=SHAPES)
@FUZZ
async def test_no_jwt_shaped_token_gets_a_server_error_or_a_wrong_answer(
        client: httpx.AsyncClient, web_secret: str, sign: Signer, shape: Shape) -> None:
    how, header, payload, signature, mangles, count = shape
    for alg, kid in kids(client).items():
        header = header.replace(f"KID_{alg}".encode(), kid.encode())
    if how != "forge":  # signed with the server's own key: only the claims can be wrong
        token = sign(how, header, payload)
    else:
        parts = (header, payload, signature)
        segments = [encode(raw, m) for raw, m in zip(parts, mangles, strict=True)]
        token = ".".join((segments * 2)[:count])
    if not token.strip() or token != token.strip():
        token = f"x{token}x"
    await assert_refused_everywhere(client, token, web_secret,
                                    form=len(quote(token, safe="")) < 15000)
