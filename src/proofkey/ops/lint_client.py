"""Audit OAuth client registrations against OAuth 2.1 / RFC 9700 policy, from any provider.

Input is RFC 7591 client metadata (JSON or YAML, one object or a list, or a document holding a
``clients`` list: a Keycloak realm export, an Auth0 tenant file, Duende's ``IdentityServer``
settings) or proofkey's own clients. Field names vary
between providers, so every key is compared in a normal form (lower case, letters and digits
only) at any depth: ``redirect_uris``, ``redirectUris`` and Keycloak's
``attributes["pkce.code.challenge.method"]`` all count. Where a spelling is not recognised the
linter says nothing rather than guess.

Rules (id, what it flags, level):

* PKL001 no PKCE S256 for a client that uses the code flow (error if public, else warning);
  PKL002 ``plain`` PKCE allowed (RFC 9700 §2.1.1: S256 only).
* PKL010 wildcard redirect URI; PKL011 prefix-looking one (origin only);
  PKL012 ``http`` off loopback; PKL013 ``localhost`` instead of a loopback IP (RFC 8252 §8.3);
  PKL014 fragment; PKL015 ``javascript:``/``data:``/``file:``/``vbscript:`` scheme;
  PKL016 anything else ``protocol.redirect_uri`` refuses; PKL017 code flow without any.
* PKL020 implicit grant (``token``/``id_token`` response types); PKL021 password grant;
  PKL022 hybrid response type carrying an ID token in the front channel (warning).
* PKL030 ``token_endpoint_auth_method: none`` with a secret; PKL031 confidential client
  without authentication; PKL032 short secret (warning); PKL033 public client with a secret.
* PKL040 code lifetime over ``--max-code-ttl`` (RFC 6749 §4.1.2: at most 10 minutes
  recommended); PKL041 refresh lifetime over ``--max-refresh-ttl``; PKL042 refresh tokens that
  never expire.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from proofkey.protocol.redirect_uri import is_loopback_ip_uri, validate_registration

__all__ = ["ClientView", "Issue", "Policy", "lint", "lint_lifetimes", "load_file",
           "parse_duration", "view_of"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob"})
_PUBLIC_APP_TYPES = frozenset({"spa", "native", "browser", "useragent", "public"})
_CONFIDENTIAL_APP_TYPES = frozenset({"regularweb", "noninteractive", "service", "machine",
                                     "confidential", "m2m"})
_DURATION = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|m|h|d|w)?")
_ISO_DURATION = re.compile(r"P(?:(?P<d>[0-9]+)D)?(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?"
                           r"(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LIFETIME = (r"(?:ttl|ttlseconds|lifetime|lifetimeseconds|lifetimeinseconds|lifespan"
             r"|timetolive|expiresin|validity|validityseconds)")
_CODE_LIFETIME = re.compile(rf"(?:authorization)?code{_LIFETIME}")
_REFRESH_LIFETIME = re.compile(rf"(?:absolute|sliding|idle|max)?refresh(?:token)?{_LIFETIME}")
_NESTED_REFRESH = re.compile(rf"(?:idle|absolute|sliding|max)?(?:token)?{_LIFETIME}")


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


def _norm(key: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def _walk(data: Mapping[str, Any], path: tuple[str, ...] = (), label: str = "",
          depth: int = 0) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """(normalised key path, key path as written, value) for every entry, at any depth."""
    for key, value in data.items():
        here, written = (*path, _norm(key)), f"{label}.{key}" if label else str(key)
        yield here, written, value
        if isinstance(value, Mapping) and depth < 4:
            yield from _walk(value, here, written, depth + 1)


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _strings(value: object) -> list[str]:
    """A string, or a list of them; space-separated lists stay whole (response types)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int) and str(v).strip()]
    return []


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


@dataclass(slots=True)
class _Fields:
    values: dict[str, list[Any]] = field(default_factory=dict)
    lifetimes: list[tuple[str, str, object]] = field(default_factory=list)

    def first(self, *names: str) -> Any:
        for name in names:
            if self.values.get(name):
                return self.values[name][0]
        return None

    def all(self, *names: str) -> list[Any]:
        return [v for name in names for v in self.values.get(name, [])]


def _fields(metadata: Mapping[str, Any]) -> _Fields:
    found = _Fields()
    for path, label, value in _walk(metadata):
        found.values.setdefault(path[-1], []).append(value)
        if _CODE_LIFETIME.fullmatch(path[-1]):
            found.lifetimes.append(("code", label, value))
        elif _REFRESH_LIFETIME.fullmatch(path[-1]) or (
                len(path) > 1 and path[-2] in ("refreshtoken", "refreshtokens")
                and _NESTED_REFRESH.fullmatch(path[-1])):
            found.lifetimes.append(("refresh", label, value))
        elif "refresh" in "".join(path) and path[-1].startswith("infinite") and _bool(value):
            found.lifetimes.append(("infinite", label, value))
    return found


def _is_public(f: _Fields, auth: str | None, has_secret: bool) -> tuple[bool, bool]:
    """(public, explicitly confidential) from the provider's type fields or auth method."""
    kind = f.first("clienttype", "apptype", "type")
    kind = _norm(kind) if isinstance(kind, str) else ""
    public_flag = _bool(f.first("publicclient", "ispublic", "public"))
    require_secret = _bool(f.first("requireclientsecret"))
    if public_flag is True or kind in _PUBLIC_APP_TYPES or require_secret is False:
        return True, False
    if public_flag is False or kind in _CONFIDENTIAL_APP_TYPES or require_secret is True:
        return False, True
    if auth == "none":
        return not has_secret, False
    return False, False  # RFC 7591 §2: the default method is client_secret_basic


def view_of(metadata: Mapping[str, Any], fallback_name: str) -> ClientView:
    """Read one provider's client metadata into a ClientView."""
    f = _fields(metadata)
    auth = f.first("tokenendpointauthmethod", "clientauthenticatortype",
                   "clientauthenticationmethods", "clientauthenticationmethod")
    auth = _strings(auth)[0].lower().replace("-", "_") if _strings(auth) else None
    secrets = [s for s in f.all("clientsecret", "secret") if s not in (None, "")]
    # An export may mask the secret ("**********"): it exists, but its length says nothing.
    secret = next((s for s in secrets if isinstance(s, str) and s.strip("*")), None)
    public, confidential = _is_public(f, auth, bool(secrets))
    uris = [u for v in f.all("redirecturis", "redirecturi", "callbacks", "callbackurls",
                             "replyurls") for u in _strings(v)]
    grants = [g for v in f.all("granttypes", "allowedgranttypes", "authorizationgranttypes",
                               "authorizationgranttype") for g in _strings(v)]
    responses = [r for v in f.all("responsetypes", "responsetype") for r in _strings(v)]
    methods = [m for v in f.all("codechallengemethod", "codechallengemethods",
                                "pkcecodechallengemethod", "pkcemethod") for m in _strings(v)]
    required = next((b for v in f.all("requirepkce", "pkcerequired", "requireproofkey",
                                      "pkceenforced", "enforcepkce", "pkce")
                     if (b := _bool(v)) is not None), None)
    standard = _bool(f.first("standardflowenabled"))
    code_flow = standard is not False and (
        not grants or any(g == "authorization_code" or g.endswith("authorization_code")
                          or "authorizationcode" in _norm(g) for g in grants)
        or any("code" in r.split() for r in responses))
    name = next((str(v) for v in (f.first("clientid"), f.first("clientname"),
                                  f.first("name")) if isinstance(v, str | int)), fallback_name)
    return ClientView(
        name=name, public=public, explicitly_confidential=confidential, auth_method=auth,
        secret=secret, has_secret=bool(secrets), redirect_uris=tuple(uris),
        grant_types=tuple(grants), response_types=tuple(responses), code_flow=code_flow,
        pkce_methods=tuple(methods), pkce_required=required,
        plain_allowed=_bool(f.first("allowplaintextpkce")) is True,
        implicit_flag=any(_bool(f.first(k)) for k in (
            "implicitflowenabled", "oauth2allowimplicitflow", "oauth2allowidtokenimplicitflow",
            "allowaccesstokensviabrowser")),
        password_flag=_bool(f.first("directaccessgrantsenabled")) is True,
        lifetimes=tuple(f.lifetimes))


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
             *_auth_issues(view), *lint_lifetimes(view.lifetimes, policy)]
    issues = [Issue(sev, rule, view.name, message, source) for sev, rule, message in found]
    return sorted(issues, key=lambda i: (SEVERITIES.index(i.severity), i.rule))


def _parse(text: str, suffix: str) -> list[Any]:
    if suffix == ".json":
        return [json.loads(text)]
    try:
        return [json.loads(text)]
    except ValueError:
        if suffix not in (".yaml", ".yml", ""):
            raise
    try:
        yaml: Any = importlib.import_module("yaml")  # optional: PyYAML
    except ImportError:
        raise ValueError("reading YAML needs PyYAML (pip install pyyaml)") from None
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None


def load_file(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """(source label, metadata) per client in a JSON or YAML file; raises ValueError."""
    try:
        documents = _parse(path.read_text(encoding="utf-8"), path.suffix.lower())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    entries: list[Any] = []
    for doc in documents:
        if isinstance(doc, Mapping):
            wrapped = next((v for path, _, v in _walk(doc) if path[-1] == "clients"
                            and isinstance(v, list)), None)
            entries.extend(wrapped if wrapped is not None else [doc])
        elif isinstance(doc, list):
            entries.extend(doc)
        elif doc is not None:
            raise ValueError(f"{path}: expected an object or a list of objects")
    if not all(isinstance(e, Mapping) for e in entries):
        raise ValueError(f"{path}: every client must be an object")
    label = str(path)
    return [(f"{label}[{i}]" if len(entries) > 1 else label, e) for i, e in enumerate(entries)]
