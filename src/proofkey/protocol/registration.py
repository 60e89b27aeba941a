"""Client metadata (RFC 7591 §2) as it arrives from outside: parsed, bounded, typed.

Dynamic registration (``POST /register``, RFC 7591/7592) and client ID metadata documents
(a ``client_id`` that is an https URL) both receive a JSON object of client metadata from
someone the server has no prior relationship with. ``parse_client_metadata`` turns that
object into ``ClientMetadata`` or refuses it with ``MetadataRefused``; it checks the shape
only (types, sizes, values the server supports). What a client may register — the policy
shared with ``proofkey lint`` — is decided afterwards, on the built ``Client``, by
``flows.admin.build_client`` (``protocol/client_policy``), so one rule set decides for the
CLI, the registration endpoint, metadata documents and the linter.

Shape rules carry ids next to the policy's (PKL0xx), so every refusal names its rule:

* PKL050 metadata is not a JSON object, or a field has the wrong type;
* PKL051 over a bound (number of redirect URIs, length of a URI, name or scope, contacts);
* PKL052 ``response_types`` other than ``code`` (OAuth 2.1 has no other);
* PKL053 a grant type the server does not support;
* PKL054 a ``token_endpoint_auth_method`` the server does not support;
* PKL055 ``client_uri``/``logo_uri``/``tos_uri``/``policy_uri`` that is not an https URL;
* PKL056 ``grant_types`` and ``response_types`` that contradict (RFC 7591 §2.1);
* PKL057 an ``id_token_signed_response_alg`` the server does not sign with.

``jwks`` (an object, kept as its JSON text), ``jwks_uri`` and ``token_endpoint_auth_signing_alg``
are read here (PKL050, PKL051) and judged by the policy's key rules PKL060-PKL066.

``error_for_rule`` maps a rule to the RFC 7591 §3.2.2 error: redirect URI rules (PKL01x)
are ``invalid_redirect_uri``, all others ``invalid_client_metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from proofkey.protocol.client_assertion import MAX_JWKS_CHARS
from proofkey.protocol.device import DEVICE_GRANT_TYPE

__all__ = [
    "AUTH_METHODS",
    "GRANT_TYPES",
    "ClientMetadata",
    "MetadataLimits",
    "MetadataRefused",
    "RegistrationErrorCode",
    "error_for_rule",
    "parse_client_metadata",
]

RegistrationErrorCode = Literal["invalid_redirect_uri", "invalid_client_metadata"]
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials",
                         DEVICE_GRANT_TYPE})
AUTH_METHODS = frozenset({"none", "client_secret_basic", "client_secret_post",
                          "private_key_jwt"})
ID_TOKEN_ALGS = frozenset({"RS256", "ES256"})


def error_for_rule(rule: str) -> RegistrationErrorCode:
    """The RFC 7591 §3.2.2 error code for a refusal under ``rule``."""
    return "invalid_redirect_uri" if rule.startswith("PKL01") else "invalid_client_metadata"


class MetadataRefused(ValueError):
    """Client metadata the server refuses; ``rule`` names the rule, ``field`` the member."""

    def __init__(self, rule: str, field: str, message: str) -> None:
        self.rule = rule
        self.field = field
        self.message = message
        super().__init__(f"{message} [{rule}]")

    @property
    def error(self) -> RegistrationErrorCode:
        return error_for_rule(self.rule)

    @property
    def description(self) -> str:
        return f"{self.message} [{self.rule}]"


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    """Bounds on metadata from strangers (the body size is bounded before parsing)."""

    max_redirect_uris: int = 10
    max_uri_length: int = 2000
    max_name_length: int = 200
    max_scope_length: int = 1000
    max_contacts: int = 5
    max_text_length: int = 256  # contacts, software_id, software_version


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """The metadata members proofkey understands; defaults are RFC 7591 §2's."""

    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code",)
    response_types: tuple[str, ...] = ("code",)
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name
    scope: tuple[str, ...] | None = None  # None: the server's default for new clients
    client_name: str = ""
    client_uri: str = ""
    logo_uri: str = ""
    tos_uri: str = ""
    policy_uri: str = ""
    contacts: tuple[str, ...] = ()
    software_id: str = ""
    software_version: str = ""
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name
    client_id: str | None = None  # present in metadata documents (must equal their URL)
    post_logout_redirect_uris: tuple[str, ...] = ()  # OIDC RP-Initiated Logout 1.0 §3.1
    jwks: str = ""  # a JWK Set as JSON text (RFC 7591 §2), judged by the policy
    jwks_uri: str = ""
    token_endpoint_auth_signing_alg: str = ""
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2: always use DPoP

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name


def _text(doc: Mapping[str, object], key: str, limit: int) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise MetadataRefused("PKL050", key, f"{key} must be a string")
    if len(value) > limit:
        raise MetadataRefused("PKL051", key, f"{key} is longer than {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise MetadataRefused("PKL050", key, f"{key} must not contain control characters")
    return value


def _strings(doc: Mapping[str, object], key: str, *, count: int, length: int,
             default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in doc:
        return default
    value = doc[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetadataRefused("PKL050", key, f"{key} must be an array of strings")
    if len(value) > count:
        raise MetadataRefused("PKL051", key, f"{key} has more than {count} entries")
    for item in value:
        if len(item) > length:
            raise MetadataRefused("PKL051", key, f"an entry of {key} is longer than "
                                  f"{length} characters")
    return tuple(dict.fromkeys(value))  # duplicates collapse, order kept


def _url(doc: Mapping[str, object], key: str, lim: MetadataLimits) -> str:
    value = _text(doc, key, lim.max_uri_length)
    if value:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
            raise MetadataRefused("PKL055", key, f"{key} must be an https URL without "
                                  "credentials")
    return value


def _jwks(doc: Mapping[str, object]) -> str:
    value = doc.get("jwks")
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise MetadataRefused("PKL050", "jwks", "jwks must be a JSON object (a JWK Set)")
    text = json.dumps(value, separators=(",", ":"))
    if len(text) > MAX_JWKS_CHARS:
        raise MetadataRefused("PKL051", "jwks", f"jwks is longer than {MAX_JWKS_CHARS} "
                              "characters")
    return text


def parse_client_metadata(doc: object, limits: MetadataLimits | None = None) -> ClientMetadata:
    """Parse RFC 7591 client metadata; unknown members are ignored (RFC 7591 §2)."""
    lim = limits or MetadataLimits()
    if not isinstance(doc, Mapping):
        raise MetadataRefused("PKL050", "", "client metadata must be a JSON object")
    redirect_uris = _strings(doc, "redirect_uris", count=lim.max_redirect_uris,
                             length=lim.max_uri_length, default=())
    grant_types = _strings(doc, "grant_types", count=len(GRANT_TYPES),
                           length=lim.max_uri_length, default=("authorization_code",))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise MetadataRefused("PKL053", "grant_types", f"grant type {unknown[0]!r} is not "
                              "supported; use " + ", ".join(sorted(GRANT_TYPES)))
    response_types = _strings(doc, "response_types", count=4, length=64,
                              default=("code",) if "authorization_code" in grant_types else ())
    if any(r != "code" for r in response_types):
        raise MetadataRefused("PKL052", "response_types", "only response_type code is "
                              "supported (OAuth 2.1 removes the implicit and hybrid flows)")
    if ("code" in response_types) != ("authorization_code" in grant_types):
        raise MetadataRefused("PKL056", "grant_types", "response_types code and grant type "
                              "authorization_code go together (RFC 7591 §2.1)")
    method = _text(doc, "token_endpoint_auth_method", 64) or "client_secret_basic"
    if method not in AUTH_METHODS:
        raise MetadataRefused("PKL054", "token_endpoint_auth_method", f"token endpoint auth "
                              f"method {method!r} is not supported; use one of "
                              + ", ".join(sorted(AUTH_METHODS)))
    scope_text = _text(doc, "scope", lim.max_scope_length)
    alg = _text(doc, "id_token_signed_response_alg", 16) or "RS256"
    if alg not in ID_TOKEN_ALGS:
        raise MetadataRefused("PKL057", "id_token_signed_response_alg", "id_token signing "
                              "alg must be RS256 or ES256")
    client_id = doc.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise MetadataRefused("PKL050", "client_id", "client_id must be a string")
    dpop_bound = doc.get("dpop_bound_access_tokens", False)
    if not isinstance(dpop_bound, bool):
        raise MetadataRefused("PKL050", "dpop_bound_access_tokens",
                              "dpop_bound_access_tokens must be a boolean")
    return ClientMetadata(
        redirect_uris=redirect_uris, grant_types=grant_types, response_types=response_types,
        token_endpoint_auth_method=method,
        scope=tuple(dict.fromkeys(scope_text.split())) if "scope" in doc else None,
        client_name=_text(doc, "client_name", lim.max_name_length),
        client_uri=_url(doc, "client_uri", lim), logo_uri=_url(doc, "logo_uri", lim),
        tos_uri=_url(doc, "tos_uri", lim), policy_uri=_url(doc, "policy_uri", lim),
        contacts=_strings(doc, "contacts", count=lim.max_contacts, length=lim.max_text_length,
                          default=()),
        software_id=_text(doc, "software_id", lim.max_text_length),
        software_version=_text(doc, "software_version", lim.max_text_length),
        id_token_signed_response_alg=alg, client_id=client_id,
        post_logout_redirect_uris=_strings(doc, "post_logout_redirect_uris",
                                           count=lim.max_redirect_uris,
                                           length=lim.max_uri_length, default=()),
        jwks=_jwks(doc), jwks_uri=_text(doc, "jwks_uri", lim.max_uri_length),
        token_endpoint_auth_signing_alg=_text(doc, "token_endpoint_auth_signing_alg", 16),
        dpop_bound_access_tokens=dpop_bound)
