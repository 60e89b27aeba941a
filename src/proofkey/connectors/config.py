"""What a connector is at run time, from the TOML ``[[connectors]]`` tables or the database.

A TOML connector names its upstream client secret by environment variable
(``client_secret_env``), never in the file; a database connector carries it sealed under the
connector key (``sealing``). A name is 1-32 of ``a-z 0-9 _ -``: it appears in the callback
URL (``{issuer}/connectors/NAME/callback``) and, from the closed set of configured names, in
metric labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from proofkey.models import Connector, ConnectorKind, Secret

from .sealing import SealError, open_json

__all__ = ["DEFAULT_CLAIMS", "ConnectorConfig", "ConnectorError", "check_name", "from_record",
           "from_table"]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# Our claim -> the upstream's, by kind; a connector's ``claims`` table overrides entries.
DEFAULT_CLAIMS: Mapping[ConnectorKind, Mapping[str, str]] = {
    "oidc": {"sub": "sub", "name": "name", "email": "email", "email_verified": "email_verified",
             "username": "preferred_username"},
    "oauth2": {"sub": "id", "name": "name", "email": "email", "username": "login"},
}
_OUR_CLAIMS = frozenset({"sub", "name", "email", "email_verified", "username"})


class ConnectorError(ValueError):
    """A connector definition proofkey cannot use."""


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """One usable connector: where the upstream is, who we are there, what we ask for."""

    name: str
    kind: ConnectorKind
    issuer: str
    client_id: str
    client_secret: Secret | None = field(repr=False)
    scope: tuple[str, ...]
    legacy: bool = False
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    claims: Mapping[str, str] = field(default_factory=dict)
    source: str = "database"  # or "config"

    def claim(self, ours: str) -> str:
        """The upstream claim that fills ``ours``."""
        return self.claims.get(ours) or DEFAULT_CLAIMS[self.kind].get(ours, ours)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ConnectorError("connector names are 1-32 characters of a-z 0-9 _ - "
                             "(starting with a letter or digit)")
    return name


def _url(value: str, what: str) -> str:
    parts = urlsplit(value)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConnectorError(f"{what} must be an https URL (http on loopback only)")
    if parts.fragment or not parts.hostname:
        raise ConnectorError(f"{what} must be an absolute URL without fragment")
    return value


def _checked(config: ConnectorConfig) -> ConnectorConfig:
    check_name(config.name)
    _url(config.issuer, "issuer")
    if not config.client_id:
        raise ConnectorError("client_id is required")
    if config.kind == "oauth2":
        for what in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
            _url(getattr(config, what), what)
    elif "openid" not in config.scope:
        raise ConnectorError("an oidc connector's scope must include openid")
    unknown = set(config.claims) - _OUR_CLAIMS
    if unknown:
        raise ConnectorError(f"claims may map only {', '.join(sorted(_OUR_CLAIMS))}")
    return config


def _kind(raw: Any) -> ConnectorKind:
    if raw == "oidc":
        return "oidc"
    if raw == "oauth2":
        return "oauth2"
    raise ConnectorError("kind must be oidc or oauth2")


def from_table(table: Mapping[str, Any], environ: Mapping[str, str]) -> ConnectorConfig:
    """A ``[[connectors]]`` table; its secret from the variable ``client_secret_env`` names."""
    known = {"name", "kind", "issuer", "client_id", "client_secret_env", "scope", "legacy",
             "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "claims"}
    if "client_secret" in table:
        raise ConnectorError("put the secret in an environment variable (client_secret_env)")
    unknown = set(table) - known
    if unknown:
        raise ConnectorError(f"unknown key {sorted(unknown)[0]!r} in a [[connectors]] table")
    secret = None
    variable = table.get("client_secret_env")
    if variable:
        if str(variable) not in environ:
            raise ConnectorError(f"{variable} (client_secret_env) is not set")
        secret = Secret(environ[str(variable)])
    kind = _kind(table.get("kind", "oidc"))
    claims = table.get("claims", {})
    claims = json.loads(claims) if isinstance(claims, str) else claims
    scope = table.get("scope", "openid profile email" if kind == "oidc" else "")
    scope = json.loads(scope) if isinstance(scope, str) and scope.startswith("[") else scope
    words = tuple(scope.split() if isinstance(scope, str) else (str(s) for s in scope))
    return _checked(ConnectorConfig(
        name=str(table.get("name", "")), kind=kind, issuer=str(table.get("issuer", "")),
        client_id=str(table.get("client_id", "")), client_secret=secret, scope=words,
        legacy=table.get("legacy", False) is True,
        authorization_endpoint=str(table.get("authorization_endpoint", "")),
        token_endpoint=str(table.get("token_endpoint", "")),
        userinfo_endpoint=str(table.get("userinfo_endpoint", "")),
        claims={str(k): str(v) for k, v in dict(claims).items()}, source="config"))


def from_record(record: Connector, key: bytes | None) -> ConnectorConfig:
    """A stored connector, its secret opened with the connector key."""
    secret = None
    if record.secret_sealed:
        if key is None:
            raise ConnectorError(f"connector {record.name} has a sealed secret and there is "
                                 "no connector key in the data directory")
        try:
            secret = Secret(str(open_json(key, record.secret_sealed,
                                          purpose=f"connector:{record.name}")))
        except SealError:
            raise ConnectorError(f"connector {record.name}'s secret does not open with this "
                                 "data directory's connector key") from None
    return ConnectorConfig(
        name=record.name, kind=record.kind, issuer=record.issuer, client_id=record.client_id,
        client_secret=secret, scope=record.scope, legacy=record.legacy,
        authorization_endpoint=record.authorization_endpoint,
        token_endpoint=record.token_endpoint, userinfo_endpoint=record.userinfo_endpoint,
        claims=dict(record.claims))


def validate(config: ConnectorConfig) -> ConnectorConfig:
    """The same checks as for a TOML table (for ``connector add``)."""
    return _checked(config)
