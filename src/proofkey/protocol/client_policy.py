"""Client registration policy (OAuth 2.1 / RFC 9700): one rule set, as pure functions.

Every way a client comes in — ``proofkey client add``, and the registration and admin
endpoints as they come — and ``proofkey lint`` (for any provider's exports) decide with these
rules, so the linter and the server can never disagree. A registration is refused on an
``error`` and stored with its ``warning``s shown; each finding carries its rule id:

* PKL001 no PKCE S256 for a client that uses the code flow (error if public, else warning);
  PKL002 ``plain`` PKCE allowed (RFC 9700 §2.1.1: S256 only).
* PKL010 wildcard redirect URI; PKL011 prefix-looking one (origin only);
  PKL012 ``http`` off loopback; PKL013 ``localhost`` instead of a loopback IP (RFC 8252 §8.3);
  PKL014 fragment; PKL015 ``javascript:``/``data:``/``file:``/``vbscript:`` scheme;
  PKL016 anything else ``protocol.redirect_uri`` refuses; PKL017 code flow without any.
* PKL020 implicit grant (``token``/``id_token`` response types); PKL021 password grant;
  PKL022 hybrid response type carrying an ID token in the front channel (warning);
  PKL023 ``client_credentials`` for a public client.
* PKL030 ``token_endpoint_auth_method: none`` with a secret; PKL031 confidential client
  without authentication; PKL032 short secret (warning); PKL033 public client with a secret.
* PKL060 both ``jwks`` and ``jwks_uri`` (RFC 7591 §2: "MUST NOT both be present");
  PKL061 a private key in ``jwks``; PKL062 a symmetric key in ``jwks``; PKL063 a ``jwks_uri``
  that is not https; PKL064 ``private_key_jwt`` without keys; PKL065 a
  ``token_endpoint_auth_signing_alg`` that is not asymmetric (``none``, HMAC); PKL066 a
  ``jwks`` that is not a JWK Set of usable public signature keys (``protocol/client_assertion``).
* PKL040 code lifetime over the policy's maximum (RFC 6749 §4.1.2: at most 10 minutes
  recommended); PKL041 refresh lifetime over it; PKL042 refresh tokens that never expire.

Registering (not linting) also refuses PKL016 (a warning when linting another provider's
export) and PKL017 (info there), and applies the metadata shape rules PKL050-PKL058 of
``protocol/registration`` to metadata from outside (the registration endpoint and metadata
documents).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from proofkey.models import Client
from proofkey.protocol.client_assertion import (
    CLIENT_ASSERTION_ALGORITHMS,
    ClientKeyRefused,
    check_jwks,
    check_jwks_uri,
    key_fits,
)
from proofkey.protocol.redirect_uri import is_loopback_ip_uri, validate_registration

__all__ = ["SEVERITIES", "ClientView", "Issue", "Policy", "Severity", "lint", "lint_lifetimes",
           "parse_duration", "view_of_client"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob"})
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob"})
_DURATION = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|m|h|d|w)?")
_ISO_DURATION = re.compile(r"P(?:(?P<d>[0-9]+)D)?(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?"
                           r"(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: object) -> float | None:
    """Seconds in ``value``: a number (seconds), ``"90"``, ``"10m"``, ``"30d"``, ``"PT5M"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if (iso := _ISO_DURATION.fullmatch(text.upper())) and text.upper() not in ("P", "PT"):
        parts = iso.groupdict()
        return (float(parts["d"] or 0) * 86400 + float(parts["h"] or 0) * 3600
                + float(parts["m"] or 0) * 60 + float(parts["s"] or 0))
    if simple := _DURATION.fullmatch(text.lower()):
        return float(simple["n"]) * _UNITS[simple["unit"] or "s"]
    return None


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the policy needs to know about one client, whatever the provider's spelling."""

    name: str
    public: bool
    explicitly_confidential: bool = False
    auth_method: str | None = None
    secret: str | None = None
    has_secret: bool = False
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    code_flow: bool = True
    pkce_methods: tuple[str, ...] = ()
    pkce_required: bool | None = None
    plain_allowed: bool = False
    implicit_flag: bool = False
    password_flag: bool = False
    lifetimes: tuple[tuple[str, str, object], ...] = ()  # (code|refresh|infinite, field, value)
    jwks: object = None  # the registered JWK Set (parsed JSON), if any
    jwks_uri: str | None = None
    auth_signing_alg: str | None = None  # token_endpoint_auth_signing_alg


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    rule: str
    client: str
    message: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    max_code_ttl: float = 600.0
    max_refresh_ttl: float = 30 * 86400.0


def _redirect_issues(view: ClientView) -> Iterator[tuple[Severity, str, str]]:
    if view.code_flow and not view.redirect_uris and not view.implicit_flag:
        yield "info", "PKL017", "uses the code flow but registers no redirect URI"
    for uri in view.redirect_uris:
        parts = urlsplit(uri)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        specific: list[tuple[Severity, str, str]] = []
        if "*" in uri:
            specific.append(("error", "PKL010", f"wildcard in redirect URI {uri!r}: redirect "
                             "URIs are compared exactly (RFC 9700 §4.1.3)"))
        if scheme in _DANGEROUS_SCHEMES:
            specific.append(("error", "PKL015", f"redirect URI {uri!r} uses the {scheme}: "
                             "scheme"))
        if "#" in uri:
            specific.append(("error", "PKL014", f"redirect URI {uri!r} has a fragment "
                             "(RFC 6749 §3.1.2)"))
        if scheme == "http" and host == "localhost":
            specific.append(("warning", "PKL013", f"redirect URI {uri!r}: use 127.0.0.1 or "
                             "[::1] instead of localhost (RFC 8252 §8.3)"))
        elif scheme == "http" and not is_loopback_ip_uri(uri.split("#")[0]) and "*" not in uri:
            specific.append(("error", "PKL012", f"redirect URI {uri!r} uses http off "
                             "loopback: the code travels in clear (RFC 9700 §4.1.1)"))
        if (scheme in ("http", "https") and parts.path in ("", "/") and not parts.query
                and "*" not in uri and not is_loopback_ip_uri(uri)):
            specific.append(("warning", "PKL011", f"redirect URI {uri!r} is an origin only; "
                             "it looks like a prefix - register the full callback path"))
        yield from specific
        if specific:
            continue
        if not scheme:
            yield "error", "PKL016", f"redirect URI {uri!r} is not absolute (RFC 6749 §3.1.2)"
            continue
        try:
            validate_registration(uri, public=view.public)
        except ValueError as exc:
            yield "warning", "PKL016", f"redirect URI {uri!r}: {exc}"


def _grant_issues(view: ClientView) -> Iterator[tuple[Severity, str, str]]:
    parts = {p for r in view.response_types for p in r.split()}
    implicit = ("implicit" in view.grant_types or view.implicit_flag or "token" in parts
                or any(r.split() == ["id_token"] for r in view.response_types))
    if implicit:
        yield "error", "PKL020", ("implicit grant enabled: tokens in the front channel "
                                  "(removed in OAuth 2.1; RFC 9700 §2.1.2)")
    elif "id_token" in parts:
        yield "warning", "PKL022", ("hybrid response type returns an ID token in the front "
                                    "channel; use response_type=code")
    if view.password_flag or any(g == "password" or g.endswith(("/password", "password-realm"))
                                 for g in view.grant_types):
        yield "error", "PKL021", ("resource owner password grant enabled (removed in OAuth "
                                  "2.1; RFC 9700 §2.4)")
    if view.public and "client_credentials" in view.grant_types:
        yield "error", "PKL023", ("client_credentials for a public client: it cannot "
                                  "authenticate, so anyone could get its tokens")


def _pkce_issues(view: ClientView) -> Iterator[tuple[Severity, str, str]]:
    if not view.code_flow:
        return
    severity: Severity = "error" if view.public else "warning"
    methods = {m.strip() for m in view.pkce_methods}
    if "plain" in methods or view.plain_allowed:
        yield severity, "PKL002", "PKCE method plain is allowed; allow S256 only (RFC 9700 §2.1.1)"
    elif view.pkce_required is False or not (methods or view.pkce_required):
        who = "public client" if view.public else "confidential client"
        yield severity, "PKL001", (f"{who} without PKCE S256 required (OAuth 2.1 §4.1.1, "
                                   "RFC 9700 §2.1.1)")


def _auth_issues(view: ClientView) -> Iterator[tuple[Severity, str, str]]:
    if view.auth_method == "none" and view.has_secret:
        yield "error", "PKL030", ("token_endpoint_auth_method is none but the client has a "
                                  "secret: the secret is never checked")
    elif view.explicitly_confidential and view.auth_method == "none":
        yield "error", "PKL031", "confidential client with no client authentication"
    elif view.public and view.has_secret:
        yield "warning", "PKL033", "public client with a secret: a public client cannot keep one"
    if view.secret is not None and len(view.secret) < 32:
        yield "warning", "PKL032", (f"client secret of {len(view.secret)} characters; use at "
                                    "least 32 random characters (RFC 6749 §10.10)")


def _key_issues(view: ClientView) -> Iterator[tuple[Severity, str, str]]:
    """private_key_jwt (RFC 7523 §2.2): the keys the client's assertions are checked with."""
    if view.jwks is not None and view.jwks_uri:
        yield "error", "PKL060", ("both jwks and jwks_uri are registered; use one (RFC 7591 "
                                  "§2: they MUST NOT both be present)")
    try:
        if view.jwks is not None:
            check_jwks(view.jwks)
        if view.jwks_uri:
            check_jwks_uri(view.jwks_uri)
    except ClientKeyRefused as refused:
        yield "error", refused.rule, refused.message
    if view.auth_method == "private_key_jwt" and view.jwks is None and not view.jwks_uri:
        yield "error", "PKL064", ("private_key_jwt without jwks or jwks_uri: there is no key "
                                  "to check the client's assertions with")
    alg = view.auth_signing_alg
    if alg and alg not in CLIENT_ASSERTION_ALGORITHMS:
        yield "error", "PKL065", (f"token_endpoint_auth_signing_alg {alg!r} is not an "
                                  "asymmetric signature algorithm (none and HMAC are refused); "
                                  "use one of " + ", ".join(CLIENT_ASSERTION_ALGORITHMS))
    elif alg and isinstance(view.jwks, Mapping) and isinstance(view.jwks.get("keys"), list) \
            and not any(isinstance(k, Mapping) and key_fits(alg, k.get("kty"), k.get("crv"))
                        for k in view.jwks["keys"]):
        yield "error", "PKL066", (f"no key in jwks can verify {alg} (the "
                                  "token_endpoint_auth_signing_alg): its assertions would "
                                  "never verify")


def lint_lifetimes(lifetimes: Sequence[tuple[str, str, object]],
                   policy: Policy) -> Iterator[tuple[Severity, str, str]]:
    for kind, label, value in lifetimes:
        if kind == "infinite":
            yield "warning", "PKL042", f"{label}: refresh tokens never expire"
            continue
        seconds = parse_duration(value)
        limit = policy.max_code_ttl if kind == "code" else policy.max_refresh_ttl
        if seconds is not None and seconds > limit:
            rule = "PKL040" if kind == "code" else "PKL041"
            what = "authorization code" if kind == "code" else "refresh token"
            yield "warning", rule, (f"{label}: {what} lifetime {_human(seconds)} exceeds "
                                    f"{_human(limit)}")


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def lint(view: ClientView, policy: Policy, source: str = "") -> list[Issue]:
    """Every policy issue of one client, errors first."""
    found = [*_pkce_issues(view), *_redirect_issues(view), *_grant_issues(view),
             *_auth_issues(view), *_key_issues(view), *lint_lifetimes(view.lifetimes, policy)]
    issues = [Issue(sev, rule, view.name, message, source) for sev, rule, message in found]
    return sorted(issues, key=lambda i: (SEVERITIES.index(i.severity), i.rule))


def view_of_client(client: Client) -> ClientView:
    """proofkey's own client: PKCE S256 is enforced for every client by the server itself."""
    return ClientView(
        name=client.client_id, public=client.is_public,
        explicitly_confidential=not client.is_public,
        auth_method=client.token_endpoint_auth_method,
        has_secret=client.secret_digest is not None, redirect_uris=client.redirect_uris,
        grant_types=tuple(sorted(client.grant_types)), response_types=("code",),
        code_flow="authorization_code" in client.grant_types, pkce_methods=("S256",),
        pkce_required=True, jwks=json.loads(client.jwks) if client.jwks else None,
        jwks_uri=client.jwks_uri or None,
        auth_signing_alg=client.token_endpoint_auth_signing_alg or None)
