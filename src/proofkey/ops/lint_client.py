"""Audit OAuth client registrations against OAuth 2.1 / RFC 9700 policy, from any provider.

Input is RFC 7591 client metadata (JSON or YAML, one object or a list, or a document holding a
``clients`` list: a Keycloak realm export, an Auth0 tenant file, Duende's ``IdentityServer``
settings) or proofkey's own clients. Field names vary
between providers, so every key is compared in a normal form (lower case, letters and digits
only) at any depth: ``redirect_uris``, ``redirectUris`` and Keycloak's
``attributes["pkce.code.challenge.method"]`` all count. Where a spelling is not recognised the
linter says nothing rather than guess.

The rules themselves (ids PKL001-PKL042 and the private_key_jwt key rules PKL060-PKL066, their
levels and messages) live in
``protocol/client_policy.py``: the same rule set decides what ``proofkey client add`` and every
other way in accept, so the linter and the server never disagree. This module only reads the
providers' many spellings into a ``ClientView``.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofkey.protocol.client_policy import (
    SEVERITIES,
    ClientView,
    Issue,
    Policy,
    Severity,
    lint,
    lint_lifetimes,
    parse_duration,
)

__all__ = ["SEVERITIES", "ClientView", "Issue", "Policy", "Severity", "lint", "lint_lifetimes",
           "load_file", "parse_duration", "view_of"]

_PUBLIC_APP_TYPES = frozenset({"spa", "native", "browser", "useragent", "public"})
_CONFIDENTIAL_APP_TYPES = frozenset({"regularweb", "noninteractive", "service", "machine",
                                     "confidential", "m2m"})
_LIFETIME = (r"(?:ttl|ttlseconds|lifetime|lifetimeseconds|lifetimeinseconds|lifespan"
             r"|timetolive|expiresin|validity|validityseconds)")
_CODE_LIFETIME = re.compile(rf"(?:authorization)?code{_LIFETIME}")
_REFRESH_LIFETIME = re.compile(rf"(?:absolute|sliding|idle|max)?refresh(?:token)?{_LIFETIME}")
_NESTED_REFRESH = re.compile(rf"(?:idle|absolute|sliding|max)?(?:token)?{_LIFETIME}")


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
    auth = "private_key_jwt" if auth == "client_jwt" else auth  # Keycloak's name for it
    jwks_uri = f.first("jwksuri", "jwksurl")
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
        lifetimes=tuple(f.lifetimes), jwks=f.first("jwks"),
        jwks_uri=str(jwks_uri) if jwks_uri else None,
        auth_signing_alg=_text(f.first("tokenendpointauthsigningalg")))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


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
