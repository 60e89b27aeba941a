"""The gateway's own frozen settings: every field is a ``PROOFKEY_BFF_<NAME>`` variable and a
key of the TOML section ``[bff]``.

Precedence, highest first: explicit overrides (CLI flags), the environment, the TOML file, the
defaults. Anything invalid raises ``SettingsError`` naming the setting, as the server's do.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proofkey.settings import SettingsError, bool_setting, int_setting, str_setting

__all__ = ["BffSettings", "Upstream", "describe_bff_settings", "load_bff_settings"]

PREFIX = "PROOFKEY_BFF_"


@dataclass(frozen=True, slots=True)
class Upstream:
    """One proxied API: requests under ``prefix`` go to ``url`` + the rest of the path."""

    prefix: str
    url: str


def _env(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


class _Error(SettingsError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(name, message, where=_env(name))


def _renamed(convert: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """One of the server's converters, its errors naming this gateway's variable."""
    def converted(name: str, raw: Any) -> Any:
        try:
            return convert(name, raw)
        except SettingsError as exc:
            raise _Error(name, str(exc).split(": ", 1)[1]) from None

    return converted


_str: Callable[[str, Any], str] = _renamed(str_setting)
_bool: Callable[[str, Any], bool] = _renamed(bool_setting)


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    return _renamed(int_setting(lo, hi))


def _upstreams(name: str, raw: Any) -> tuple[Upstream, ...]:
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    result: list[Upstream] = []
    for item in items:
        prefix, sep, url = str(item).strip().partition("=")
        parts = urlsplit(url)
        if (not sep or not prefix.startswith("/") or prefix.endswith("/") or prefix == "/bff"
                or prefix.startswith("/bff/") or parts.scheme not in {"http", "https"}
                or not parts.hostname or parts.query or parts.fragment):
            raise _Error(name, f"{str(item)[:80]!r} is not PREFIX=URL (e.g. "
                               "/api=http://127.0.0.1:9000)")
        result.append(Upstream(prefix, url.rstrip("/")))
    if len({u.prefix for u in result}) != len(result):
        raise _Error(name, "a prefix is configured twice")
    return tuple(result)


def _key(name: str, raw: Any) -> str:
    text = _str(name, raw)
    if text and len(_decode_key(text) or b"") != 32:
        raise _Error(name, "must be 32 random bytes, base64url (e.g. the output of `python3 -c "
                           "'import secrets,base64; print(base64.urlsafe_b64encode("
                           "secrets.token_bytes(32)).decode())'`)")
    return text


def _decode_key(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _opt(help_text: str, convert: Callable[[str, Any], Any], **kw: Any) -> Any:
    return field(metadata={"help": help_text, "convert": convert}, **kw)


HOUR = 3600


@dataclass(frozen=True, slots=True)
class BffSettings:
    """Everything ``proofkey bff`` can be configured with."""

    issuer: str = _opt("The provider's issuer URL (found by discovery).", _str, default="")
    client_id: str = _opt("The gateway's client id at the provider (a confidential client).",
                          _str, default="")
    client_secret: str = _opt("The client secret (prefer --client-secret-stdin).", _str,
                              default="", repr=False)
    scope: str = _opt("Scopes asked for at login.", _str,
                      default="openid profile email offline_access")
    host: str = _opt("Address to listen on.", _str, default="127.0.0.1")
    port: int = _opt("Port to listen on.", _int(1, 65535), default=8080)
    public_url: str = _opt("The gateway's origin as browsers see it; empty means "
                           "http://host:port.", _str, default="")
    upstreams: tuple[Upstream, ...] = _opt(
        "Proxied APIs, PREFIX=URL (space or comma separated).", _upstreams, default=())
    session_store_url: str = _opt(
        "sqlite:///path, postgresql://… or redis://… (several gateway instances share "
        "PostgreSQL or Redis); empty means sqlite:///<data_dir>/bff.db.", _str, default="")
    data_dir: str = _opt("Directory for the SQLite session store.", _str, default="bff-data")
    session_key: str = _opt(
        "AES-256-GCM key (32 bytes, base64url) that encrypts tokens at rest; every instance "
        "needs the same one. Empty: a random key per process (sessions end on restart).",
        _key, default="", repr=False)
    session_idle_seconds: int = _opt("A session unused this long ends.",
                                     _int(60, 30 * 24 * HOUR), default=HOUR)
    session_absolute_seconds: int = _opt("A session ends this long after login, used or not.",
                                         _int(60, 365 * 24 * HOUR), default=12 * HOUR)
    same_site: str = _opt("SameSite of the session cookie: strict or lax.", _str,
                          default="strict")
    refresh_before_seconds: int = _opt("Refresh an access token this long before it expires.",
                                       _int(0, HOUR), default=30)
    use_par: bool = _opt("Push authorization requests (RFC 9126) when the provider offers it.",
                         _bool, default=True)
    upstream_timeout_seconds: int = _opt("Time an upstream has to answer.", _int(1, 600),
                                         default=30)
    provider_timeout_seconds: int = _opt("Time the provider has to answer.", _int(1, 120),
                                         default=10)
    post_logout_path: str = _opt("Local path the browser lands on after logout.", _str,
                                 default="/")
    static_dir: str = _opt("Serve this directory's files at / (an SPA); 'sample' serves the "
                           "bundled sample SPA; empty serves none.", _str, default="")
    metrics_path: str = _opt("Path of the Prometheus metrics (loopback callers only); empty "
                             "disables it.", _str, default="/metrics")

    @property
    def origin(self) -> str:
        if self.public_url:
            parts = urlsplit(self.public_url)
            return f"{parts.scheme}://{parts.netloc}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in {"0.0.0.0", "[::]"}:  # noqa: S104 - describing, not binding
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/bff/callback"

    @property
    def effective_store_url(self) -> str:
        return self.session_store_url or f"sqlite:///{(Path(self.data_dir) / 'bff.db').resolve()}"

    @property
    def key_bytes(self) -> bytes | None:
        return _decode_key(self.session_key) if self.session_key else None


def _check(s: BffSettings) -> BffSettings:
    for name in ("issuer", "client_id"):
        if not getattr(s, name):
            raise _Error(name, "is required")
    parts = urlsplit(s.issuer)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise _Error("issuer", "must use https (http is allowed on loopback only)")
    origin = urlsplit(s.origin)
    if origin.scheme != "https" and not _loopback(origin.hostname):
        raise _Error("public_url", "must use https (http is allowed on loopback only)")
    if s.same_site not in {"strict", "lax"}:
        raise _Error("same_site", "must be strict or lax")
    if not s.effective_store_url.startswith(("sqlite:///", "postgresql://", "postgres://",
                                              "redis://", "rediss://", "unix://")):
        raise _Error("session_store_url", "must start with sqlite:///, postgresql:// or "
                                          "redis://")
    if s.session_absolute_seconds < s.session_idle_seconds:
        raise _Error("session_absolute_seconds", "must not be shorter than the idle lifetime")
    if not s.post_logout_path.startswith("/") or s.post_logout_path.startswith("//"):
        raise _Error("post_logout_path", "must be a local path")
    return s


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_bff_settings(overrides: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None,
                      config_file: Path | None = None) -> BffSettings:
    """Build and validate BffSettings from defaults, TOML ``[bff]``, environment, overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = config_file or (Path(env["PROOFKEY_CONFIG"]) if env.get("PROOFKEY_CONFIG") else None)
    if path is not None:
        raw.update(_read_toml(path))
    for f in fields(BffSettings):
        if _env(f.name) in env:
            raw[f.name] = env[_env(f.name)]
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in fields(BffSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _Error(unknown[0], "unknown setting")
    values = {f.name: f.metadata["convert"](f.name, raw[f.name])
              for f in fields(BffSettings) if f.name in raw}
    return _check(replace(BffSettings(), **values))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError("config", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", f"{path} is not valid TOML: {exc}") from None
    section = data.get("bff", {})
    return dict(section) if isinstance(section, dict) else {}


def describe_bff_settings() -> str:
    """One line per setting for ``--help``: variable, default, meaning."""
    lines = []
    for f in fields(BffSettings):
        default = f.default
        shown = "" if f.name in {"client_secret", "session_key"} else str(default)
        if isinstance(default, tuple):
            shown = " ".join(f"{u.prefix}={u.url}" for u in default)
        lines.append(f"{_env(f.name)} (default: {shown or 'empty'}): {f.metadata['help']}")
    return "\n".join(lines)
