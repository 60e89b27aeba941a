"""Resource indicators (RFC 8707 §2): which values may be a ``resource``, how a token request
narrows a grant's resources, and the audience and scopes of a token for them."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.errors import InvalidTarget
from proofkey.models import Resource
from proofkey.protocol.params import parse_urlencoded, values_of
from proofkey.protocol.resource import (
    MAX_RESOURCES,
    SERVER_SCOPES,
    Catalog,
    check_resource_uri,
    narrow,
    parse_resources,
    require_registered,
    token_target,
)

DEFAULT = "https://as.example.com"
A = Resource("https://a.example.com/api", frozenset({"a:read", "a:write"}))
B = Resource("https://b.example.com/mcp", frozenset({"b:read"}))
CATALOG = Catalog.of([A, B])

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True), max_size=4).map(
    lambda parts: "/" + "/".join(parts) if parts else "")
queries = st.one_of(st.just(""), st.from_regex(r"\?[a-z]{1,8}=[a-z0-9]{0,8}", fullmatch=True))
https_uris = st.builds(lambda h, p, q: f"https://{h}{p}{q}", hosts, paths, queries)
scopes = st.lists(st.sampled_from(["openid", "profile", "email", "offline_access", "a:read",
                                   "a:write", "b:read", "z:other"]), unique=True, max_size=8)


@given(https_uris)
def test_every_absolute_https_uri_without_fragment_can_be_a_resource(uri: str) -> None:
    assert check_resource_uri(uri) == uri
    assert parse_resources([uri, uri]) == (uri,)


@given(https_uris, st.text(max_size=10))
def test_a_fragment_is_always_refused(uri: str, fragment: str) -> None:
    # RFC 8707 §2: the URI "MUST NOT include a fragment component".
    with pytest.raises(ValueError, match="fragment"):
        check_resource_uri(f"{uri}#{fragment}")
    with pytest.raises(InvalidTarget):
        parse_resources([f"{uri}#{fragment}"])


@given(hosts, paths)
def test_http_is_refused_unless_the_host_is_loopback(host: str, path: str) -> None:
    if host == "localhost":
        return
    with pytest.raises(ValueError, match="https"):
        check_resource_uri(f"http://{host}{path}")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/api", "http://[::1]/", "http://localhost/x"])
def test_http_on_loopback_is_allowed_for_development(uri: str) -> None:
    assert check_resource_uri(uri) == uri


@pytest.mark.parametrize("uri", [
    "", "api", "/relative/path", "//a.example.com/x", "urn:ietf:params:oauth:x", "ftp://a.example",
    "https://", "https:///path", "https://user:pw@a.example.com/", "https://a.example.com:99999/",
    "https://a.example.com/a b", "https://a.example.com/\u00e9", "https://a.example.com/\n",
    "https://a.example.com/" + "x" * 2100])
def test_what_is_not_an_absolute_https_uri_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="must"):
        check_resource_uri(uri)
    with pytest.raises(InvalidTarget) as raised:
        parse_resources([uri])
    if len(uri) > 4:
        assert uri not in raised.value.description  # the value is never echoed


@given(st.text(max_size=200))
def test_any_text_is_a_resource_or_invalid_target_and_nothing_else(text: str) -> None:
    try:
        parsed = parse_resources([text])
    except InvalidTarget as error:
        refusal = error
    else:
        assert parsed == (text,)
        return
    assert (refusal.error, refusal.status_code) == ("invalid_target", 400)


def test_too_many_resources_are_refused() -> None:
    many = [f"https://r{i}.example.com/" for i in range(MAX_RESOURCES + 1)]
    with pytest.raises(InvalidTarget, match="at most"):
        parse_resources(many)


@given(st.lists(https_uris, min_size=1, max_size=5))
def test_resource_may_be_repeated_in_a_request(uris: list[str]) -> None:
    params = parse_urlencoded(urlencode([("scope", "x"), *(("resource", u) for u in uris)]))
    assert values_of(params, "resource") == tuple(uris)
    assert values_of(parse_urlencoded(b"scope=x"), "resource") == ()


def test_an_empty_resource_is_omitted() -> None:
    assert values_of(parse_urlencoded(b"resource=&resource=https%3A%2F%2Fa.example"),
                     "resource") == ("https://a.example",)


def test_unregistered_resources_are_invalid_target() -> None:
    require_registered([A.uri, B.uri], CATALOG, DEFAULT)
    with pytest.raises(InvalidTarget, match="unknown"):
        require_registered([A.uri, "https://c.example.com/"], CATALOG, DEFAULT)


def test_the_default_audience_is_always_a_resource_without_scope_limits() -> None:
    require_registered([DEFAULT], Catalog(), DEFAULT)
    assert narrow((DEFAULT,), (), DEFAULT) == (DEFAULT,)  # a grant of none is one for it
    with pytest.raises(InvalidTarget):
        narrow((DEFAULT,), (A.uri,), DEFAULT)
    assert token_target(("openid", "z:other"), (DEFAULT,), Catalog(), DEFAULT).audience == DEFAULT
    both = token_target(("a:read", "z:other"), (A.uri, DEFAULT), CATALOG, DEFAULT)
    assert both.audience == (A.uri, DEFAULT)
    assert both.scope == ("a:read", "z:other")


@given(st.lists(https_uris, unique=True, max_size=4), st.lists(https_uris, unique=True,
                                                              max_size=4))
def test_a_token_request_narrows_the_grant_and_never_widens_it(
        granted: list[str], requested: list[str]) -> None:
    try:
        chosen = narrow(tuple(requested), tuple(granted), DEFAULT)
    except InvalidTarget:
        assert not set(requested) <= set(granted or [DEFAULT])
        return
    assert set(chosen) <= set(granted)
    assert chosen == (tuple(requested) if requested else tuple(granted))


@given(scopes)
def test_without_resources_the_token_is_for_the_default_audience_with_every_scope(
        scope: list[str]) -> None:
    target = token_target(tuple(scope), (), Catalog(), DEFAULT)
    assert target.audience == DEFAULT
    assert target.scope == tuple(scope)


@given(scopes, st.lists(st.sampled_from([A, B]), min_size=1, max_size=2, unique=True))
def test_a_token_for_resources_has_them_as_audience_and_only_their_scopes(
        scope: list[str], chosen: list[Resource]) -> None:
    uris = tuple(r.uri for r in chosen)
    target = token_target(tuple(scope), uris, CATALOG, DEFAULT)
    allowed = SERVER_SCOPES.union(*(r.scopes for r in chosen))
    assert target.scope == tuple(s for s in scope if s in allowed)
    audience = (target.audience,) if isinstance(target.audience, str) else target.audience
    assert audience[:len(uris)] == uris
    # The default audience joins only with openid, so that UserInfo accepts the token.
    assert (DEFAULT in audience) == ("openid" in scope)
    assert isinstance(target.audience, str) == (len(audience) == 1)


def test_a_resource_removed_from_the_catalog_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget, match="no longer registered"):
        token_target(("a:read",), ("https://gone.example.com/",), CATALOG, DEFAULT)


def test_the_catalog_knows_the_resources_scopes_after_the_servers() -> None:
    assert CATALOG.known_scopes(["openid", "a:read"]) == ("openid", "a:read", "a:write", "b:read")
    replaced = Catalog.of([A, Resource(A.uri, frozenset({"x"}))])
    assert replaced.get(A.uri) == Resource(A.uri, frozenset({"x"}))
    assert replaced.scopes == frozenset({"x"})
