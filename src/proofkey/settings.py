"""One frozen ``Settings``: every field is a ``PROOFKEY_<NAME>`` variable and a TOML key.

Precedence, highest first: explicit overrides (CLI flags), the environment, the TOML file named
by ``PROOFKEY_CONFIG`` (or ``--config``), the defaults below. Anything invalid raises
``SettingsError`` naming the setting; the CLI turns that into one line and exit code 2.

Over the ~400-line guideline on purpose: the fields ARE the documentation (each one's help is
what ``proofkey serve --help`` and ``deploy/proofkey.example.toml`` show), so they stay in one
class rather than spread over modules a reader would have to assemble.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proofkey.models import Resource
from proofkey.protocol.redirect_uri import is_loopback_host
from proofkey.protocol.resource import check_resource_uri

__all__ = ["Settings", "SettingsError", "bool_setting", "describe_settings", "int_setting",
           "load_settings", "str_setting",
           "unknown_environment"]

# PROOFKEY_* variables read by commands rather than by Settings.
_COMMAND_VARIABLES = frozenset({"PROOFKEY_CONFIG", "PROOFKEY_CHECK_CLIENT_SECRET"})
# Variables and the TOML section of `proofkey bff`, whose settings live in proofkey.bff.settings.
_OTHER_COMMANDS_PREFIX = "PROOFKEY_BFF_"
_OTHER_SECTIONS = frozenset({"bff"})


class SettingsError(ValueError):
    """A setting has a value proofkey cannot run with. ``where`` names where it was written
    (a TOML key in a file); by default the message names the environment variable."""

    def __init__(self, name: str, message: str, *, where: str | None = None) -> None:
        self.name = name
        super().__init__(f"invalid setting {where or env_name(name)}: {message}")


def env_name(name: str) -> str:
    return f"PROOFKEY_{name.upper()}"


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    def convert(name: str, raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise SettingsError(name, f"must be an integer, got {str(raw)[:40]!r}") from None
        if not lo <= value <= hi:
            raise SettingsError(name, f"must be between {lo} and {hi}, got {value}")
        return value

    return convert


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(name, f"must be true or false, got {text[:40]!r}")


def _str(name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise SettingsError(name, "must be a string")
    return raw.strip()


def _path(name: str, raw: Any) -> Path:
    return Path(_str(name, raw)).expanduser()


def _words(name: str, raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
    return tuple(str(i).strip() for i in items if str(i).strip())


def _networks(name: str, raw: Any) -> tuple[str, ...]:
    """IP addresses and CIDR networks, normalised (10.1.2.3/8 becomes 10.0.0.0/8)."""
    normalised = []
    for item in _words(name, raw):
        try:
            value = (str(ipaddress.ip_network(item, strict=False)) if "/" in item
                     else str(ipaddress.ip_address(item)))
        except ValueError:
            raise SettingsError(name, f"{item[:60]!r} is not an IP address or network") from None
        normalised.append(value)
    return tuple(normalised)


_SCOPE_TOKEN = frozenset(chr(c) for c in range(0x21, 0x7f)) - {'"', "\\"}


def _resources(name: str, raw: Any) -> tuple[str, ...]:
    """Protected resources (RFC 8707), each as "URI scope scope ...": from the environment,
    entries separated by ";"; from TOML, a list of such strings or of tables with ``uri`` and
    ``scopes``."""
    items = raw if isinstance(raw, list) else str(raw).split(";")
    entries: list[str] = []
    for item in items:
        if isinstance(item, dict):
            if set(item) - {"uri", "scopes"} or not isinstance(item.get("uri"), str):
                raise SettingsError(name, "a resource table has a string uri and a list scopes")
            words = [item["uri"], *_words(name, item.get("scopes", []))]
        else:
            words = str(item).split()
        if not words:
            continue
        try:
            check_resource_uri(words[0])
        except ValueError as exc:
            raise SettingsError(name, f"resource {words[0][:80]!r} {exc}") from None
        if any(not set(w) <= _SCOPE_TOKEN for w in words[1:]):
            raise SettingsError(name, f"resource {words[0][:80]!r} has a malformed scope")
        entries.append(" ".join(dict.fromkeys(words)))
    return tuple(entries)


def _tables(name: str, raw: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """A TOML array of tables (or JSON text of a list of objects in the environment), kept
    as sorted (key, value) pairs; ``proofkey.connectors.config`` reads their meaning."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError:
            raise SettingsError(name, "must be a JSON list of objects") from None
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise SettingsError(name, "must be a list of tables ([[connectors]] in TOML)")
    return tuple(tuple(sorted((str(k), v if not isinstance(v, list | dict) else json.dumps(v))
                              for k, v in table.items())) for table in raw)


def _opt(help_text: str, convert: Callable[[str, Any], Any], **kw: Any) -> Any:
    return field(metadata={"help": help_text, "convert": convert}, **kw)


DAY = 86400
_CAP_MAX = 100_000  # the Redis rate limiter keeps at most this many events per key


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything proofkey can be configured with; see ``proofkey serve --help``."""

    data_dir: Path = _opt("Directory for the SQLite database and demo files.", _path,
                          default=Path("proofkey-data"))
    database_url: str = _opt("Store URL; empty means sqlite:///<data_dir>/proofkey.db.", _str,
                             default="")
    sqlite_group_commit: bool = _opt(
        "SQLite only: concurrent code issues, redemptions and refresh rotations share one "
        "transaction commit per event-loop iteration (each answered after its own write is "
        "committed), for fewer WAL writes and less CPU under load. Applies with one worker "
        "only: other processes on the file would wait on the group's write lock.", _bool,
        default=True)
    issuer: str = _opt("Issuer URL (https, or http on loopback); empty means http://host:port.",
                       _str, default="")
    host: str = _opt("Address to listen on.", _str, default="127.0.0.1")
    port: int = _opt("Port to listen on.", _int(1, 65535), default=8000)
    workers: int = _opt("Worker processes.", _int(1, 64), default=1)
    code_ttl_seconds: int = _opt("Authorization code lifetime.", _int(1, 600), default=60)
    access_token_ttl_seconds: int = _opt("Access token lifetime.", _int(1, DAY), default=600)
    id_token_ttl_seconds: int = _opt("ID token lifetime.", _int(1, DAY), default=600)
    refresh_token_ttl_seconds: int = _opt("Lifetime of one refresh token (idle limit).",
                                          _int(1, 365 * DAY), default=14 * DAY)
    grant_ttl_seconds: int = _opt("Absolute lifetime of a refresh-token family.",
                                  _int(1, 3650 * DAY), default=30 * DAY)
    refresh_reuse_grace_seconds: int = _opt(
        "Window in which a retry of the just-rotated refresh token is answered instead of "
        "revoking the family (0: every reuse revokes).", _int(0, 300), default=0)
    dpop_nonces: bool = _opt(
        "Require a server-provided nonce in DPoP proofs at the token endpoint (RFC 9449 §8): "
        "a proof without the current nonce gets use_dpop_nonce and the nonce in DPoP-Nonce.",
        _bool, default=False)
    dpop_nonce_seconds: int = _opt(
        "How often the DPoP nonce changes; a nonce stays accepted for one more period.",
        _int(10, DAY), default=300)
    session_ttl_seconds: int = _opt("Login session lifetime.", _int(60, 30 * DAY),
                                    default=8 * 3600)
    interaction_ttl_seconds: int = _opt("Time a user has to finish login and consent.",
                                        _int(30, 3600), default=600)
    challenge_reuse_window_seconds: int = _opt(
        "How long the database remembers a digest of each client's code_challenge values, to "
        "count (and, for clients flagged reject_reused_challenge, refuse) a reuse; 0 turns "
        "the signal off.", _int(0, 30 * DAY), default=DAY)
    login_failures_per_user: int = _opt("Failed logins per username per window before 429.",
                                        _int(1, 10000), default=5)
    login_failures_per_ip: int = _opt("Failed logins per client address per window before 429.",
                                      _int(1, 100000), default=30)
    login_window_seconds: int = _opt("Login throttling window.", _int(1, DAY), default=300)
    pending_authorizations_per_client: int = _opt(
        "Login requests (/authorize waiting for login or consent) one client may start per "
        "interaction lifetime before 429.", _int(1, _CAP_MAX), default=50000)
    pending_authorizations_per_address: int = _opt(
        "Login requests one client address may start per interaction lifetime before 429.",
        _int(1, _CAP_MAX), default=500)
    pushed_requests_per_client: int = _opt(
        "Pushed authorization requests (/par) per client per minute (their lifetime) before "
        "429.", _int(1, _CAP_MAX), default=10000)
    pushed_requests_per_address: int = _opt(
        "Pushed authorization requests per client address per minute before 429.",
        _int(1, _CAP_MAX), default=3000)
    device_requests_per_client: int = _opt(
        "Device authorization requests per client per 10 minutes (their lifetime) before 429.",
        _int(1, _CAP_MAX), default=10000)
    device_requests_per_address: int = _opt(
        "Device authorization requests per client address per 10 minutes before 429.",
        _int(1, _CAP_MAX), default=300)
    client_auth_failures_per_client: int = _opt(
        "Failed client authentications per client per window before every authentication of "
        "that client is refused until the window passes (RFC 6749 §2.3.1).", _int(1, 100000),
        default=50)
    client_auth_failures_per_ip: int = _opt(
        "Failed client authentications per client address per window before that address is "
        "refused (keep it below the per-client limit).", _int(1, 100000), default=10)
    client_auth_window_seconds: int = _opt("Client authentication throttling window.",
                                           _int(1, DAY), default=60)
    client_cache_ms: int = _opt(
        "How long a process keeps a client it looked up (0: no cache); a client removed by "
        "another process still works here for up to this long.", _int(0, 60000), default=1000)
    max_body_bytes: int = _opt("Largest request body accepted.", _int(1024, 1 << 20),
                               default=16384)
    max_query_bytes: int = _opt("Largest query string accepted.", _int(512, 1 << 16),
                                default=8192)
    scopes_supported: tuple[str, ...] = _opt(
        "Scopes this server knows (space or comma separated).", _words,
        default=("openid", "profile", "email", "offline_access"))
    access_token_audience: str = _opt("aud of access tokens; empty means the issuer.", _str,
                                      default="")
    resources: tuple[str, ...] = _opt(
        "Protected resources (RFC 8707) tokens may be requested for, besides those registered "
        "with `proofkey resource add`: each \"URI scope scope ...\" (in the environment, "
        "entries separated by ;); their scopes become known scopes.", _resources, default=())
    demo: bool = _opt("Create the demo client and user on first start.", _bool, default=True)
    log_level: str = _opt("Log level: debug, info, warning, error.", _str, default="info")
    audit_log: str = _opt(
        "File the audit lines are appended to (JSON lines, created 0600). Empty: the server "
        "writes them to its JSON log on stderr, and management commands (client, user, keys) "
        "append them to <data_dir>/audit.log.", _str, default="")
    log_queue_lines: int = _opt(
        "Log lines a server process holds for its log writer thread; when a slow reader of "
        "stderr (or of the audit file) lets them pile up, further lines are dropped and counted "
        "(proofkey_log_lines_dropped_total) instead of stalling requests.",
        _int(100, 1_000_000), default=10_000)
    metrics_path: str = _opt("Path of the Prometheus metrics endpoint; empty disables it.",
                             _str, default="/metrics")
    admin_port: int = _opt("Serve /metrics and the status page on this port instead of the "
                           "main one (0: main port).", _int(0, 65535), default=0)
    metrics_public: bool = _opt(
        "Serve the metrics path on the main port to every address (default: loopback and "
        "trusted proxies only; the admin port, when set, serves everyone who reaches it).",
        _bool, default=False)
    admin_token: str = _opt(
        "Bearer token for the status page (/status); empty disables it. At least 256 bits: "
        "e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
        _str, default="")
    redis_url: str = _opt(
        "Redis URL (redis://host:6379/0, rediss:// for TLS) for rate limits shared by every "
        "instance; empty keeps them in each process. If Redis fails, each instance limits on "
        "its own until it is back.", _str, default="")
    registration: str = _opt(
        "Dynamic client registration at /register (RFC 7591): off (404), token (an initial "
        "access token from `proofkey registration token create` is required) or open "
        "(anyone; rate-limited per address).", _str, default="off")
    registrations_per_address: int = _opt(
        "Registrations one client address may make per hour when registration is open or "
        "token, before 429.", _int(1, _CAP_MAX), default=20)
    registration_default_scopes: tuple[str, ...] = _opt(
        "Scopes a dynamically registered client gets when it asks for none (space or comma "
        "separated; each must be in scopes_supported). Empty: openid, profile and "
        "offline_access, those of them in scopes_supported.", _words, default=())
    client_metadata_documents: bool = _opt(
        "Accept a client_id that is an https URL and resolve it by fetching its Client ID "
        "Metadata Document (anyone may then present a client; the server fetches URLs they "
        "choose, under SSRF rules; see docs/client-metadata-documents.md).", _bool,
        default=False)
    client_metadata_allow_loopback: bool = _opt(
        "Let metadata documents and private_key_jwt clients' jwks_uri key sets be fetched from "
        "loopback addresses (development and tests); refused unless the issuer is on loopback "
        "too.", _bool, default=False)
    client_metadata_connect_timeout_ms: int = _opt(
        "Connect timeout when fetching a metadata document.", _int(100, 30000), default=2000)
    client_metadata_read_timeout_ms: int = _opt(
        "Read timeout when fetching a metadata document (the whole fetch gets connect + read).",
        _int(100, 30000), default=3000)
    client_metadata_max_bytes: int = _opt("Largest metadata document accepted.",
                                          _int(512, 65536), default=5120)
    client_metadata_min_cache_seconds: int = _opt(
        "Shortest time a fetched metadata document is kept (also when its headers say "
        "no-store or nothing).", _int(10, DAY), default=300)
    client_metadata_max_cache_seconds: int = _opt(
        "Longest time a fetched metadata document is kept, whatever its headers say.",
        _int(10, 7 * DAY), default=DAY)
    client_metadata_failure_cache_seconds: int = _opt(
        "How long a metadata document that could not be fetched or was refused is remembered "
        "as failed before it is fetched again (0: never; then every request fetches).",
        _int(0, 3600), default=10)
    client_metadata_cache_entries: int = _opt(
        "Most metadata documents (and failures) a process keeps.", _int(10, 100000),
        default=1000)
    client_assertion_max_lifetime_seconds: int = _opt(
        "private_key_jwt: how far ahead a client assertion's exp may be (RFC 7523 §3 needs "
        "an exp; its jti is remembered that long). Raise it for clients that sign assertions "
        "valid for longer (Authlib's default is 3600).", _int(30, 3600), default=300)
    trusted_proxies: tuple[str, ...] = _opt(
        "Addresses or networks (comma separated, e.g. 127.0.0.1,10.0.0.0/8) of reverse proxies "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed for the client address; "
        "empty trusts none. The issuer never comes from request headers.",
        _networks, default=())
    connectors: tuple[tuple[tuple[str, Any], ...], ...] = _opt(
        "Upstream identity providers users may sign in through: [[connectors]] tables in "
        "TOML (JSON list in the environment); see docs/federation.md. Connectors added with "
        "`proofkey connector add` live in the database instead.", _tables, default=())
    link_verified_email: bool = _opt(
        "Link a first upstream login to the existing local user with the same e-mail "
        "address, but only when the upstream marks it verified (email_verified).", _bool,
        default=False)
    password_login: bool = _opt(
        "Offer the password form on the login page (false: connectors only).", _bool,
        default=True)

    @property
    def registration_scopes(self) -> tuple[str, ...]:
        """The scopes of a dynamically registered client that asks for none."""
        return self.registration_default_scopes or tuple(
            s for s in ("openid", "profile", "offline_access") if s in self.scopes_supported)

    @property
    def effective_issuer(self) -> str:
        if self.issuer:
            return self.issuer
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in {"0.0.0.0", "[::]"}:  # noqa: S104 - describing, not binding
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'proofkey.db').resolve()}"

    @property
    def audience(self) -> str:
        return self.access_token_audience or self.effective_issuer

    @property
    def configured_resources(self) -> tuple[Resource, ...]:
        """The ``resources`` setting as records."""
        return tuple(Resource(uri, frozenset(scopes), name="configured")
                     for uri, *scopes in (entry.split() for entry in self.resources))

    @property
    def secure_cookies(self) -> bool:
        return self.effective_issuer.startswith("https://")


def _check(settings: Settings) -> Settings:
    issuer = settings.effective_issuer
    parts = urlsplit(issuer)
    # RFC 8414 §2: the issuer is an https URL with no query or fragment.
    if parts.query or parts.fragment or not parts.hostname or issuer.endswith("/"):
        raise SettingsError("issuer", "must be an absolute URL without query, fragment or "
                                      "trailing slash")
    loopback = is_loopback_host(parts.hostname)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise SettingsError("issuer", "must use https (http is allowed on loopback only)")
    if settings.log_level.lower() not in {"debug", "info", "warning", "error"}:
        raise SettingsError("log_level", "must be one of debug, info, warning, error")
    if "openid" not in settings.scopes_supported:
        raise SettingsError("scopes_supported", "must include openid")
    url = settings.effective_database_url
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError("database_url", "must start with sqlite:/// or postgresql://")
    if settings.admin_token and token_bits(settings.admin_token) < MIN_TOKEN_BITS:
        raise SettingsError("admin_token", f"is too weak (about {token_bits(settings.admin_token)}"
                                           f" bits; at least {MIN_TOKEN_BITS} needed, e.g. 43 "
                                           "random base64url characters)")
    if settings.redis_url and not settings.redis_url.startswith(
            ("redis://", "rediss://", "unix://")):
        raise SettingsError("redis_url", "must start with redis://, rediss:// or unix://")
    if settings.registration not in {"off", "token", "open"}:
        raise SettingsError("registration", "must be one of off, token, open")
    unknown = set(settings.registration_default_scopes) - set(settings.scopes_supported)
    if unknown:
        raise SettingsError("registration_default_scopes", "must be in scopes_supported; "
                            "unknown: " + " ".join(sorted(unknown)))
    if settings.client_metadata_allow_loopback and not loopback:
        # draft-ietf-oauth-client-id-metadata-document §6.5: loopback documents only for a
        # server that itself runs on loopback.
        raise SettingsError("client_metadata_allow_loopback",
                            "is only allowed with an issuer on loopback (development and "
                            f"tests); the issuer is {issuer}")
    if settings.client_metadata_min_cache_seconds > settings.client_metadata_max_cache_seconds:
        raise SettingsError("client_metadata_min_cache_seconds",
                            "must not be above PROOFKEY_CLIENT_METADATA_MAX_CACHE_SECONDS")
    return settings


MIN_TOKEN_BITS = 256
_ALPHABETS = (("0123456789abcdef", 16), ("0123456789ABCDEF", 16),
              ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 64),
              ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 64))


def token_bits(token: str) -> int:
    """An upper estimate of the entropy of a random token: its length times the bits of the
    smallest usual alphabet (hex, base64url, base64; else printable ASCII) that holds all its
    characters. A token with fewer than 16 distinct characters counts as none: that is a
    pattern or a word, not randomness."""
    if len(set(token)) < 16:
        return 0
    chars = set(token)
    per_char = next((math.log2(size) for alphabet, size in _ALPHABETS
                     if chars <= set(alphabet)), math.log2(95))
    return int(len(token) * per_char)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build and validate Settings from defaults, TOML, the environment and overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    in_file: dict[str, str] = {}  # setting -> how to name it when its value came from TOML
    path = config_file or (Path(env["PROOFKEY_CONFIG"]) if env.get("PROOFKEY_CONFIG") else None)
    if path is not None:
        raw.update(_read_toml(path))
        in_file = {key: f"{key!r} in {path}" for key in raw}
    known = {f.name for f in fields(Settings)}
    for f in fields(Settings):
        if env_name(f.name) in env:
            raw[f.name] = env[env_name(f.name)]
            in_file.pop(f.name, None)
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
            in_file.pop(key, None)
    unknown = set(raw) - known
    if unknown:
        name = sorted(unknown)[0]
        raise SettingsError(name, "unknown setting", where=in_file.get(name))
    values = {}
    for f in fields(Settings):
        if f.name in raw:
            try:
                values[f.name] = f.metadata["convert"](f.name, raw[f.name])
            except SettingsError as exc:
                if f.name not in in_file:
                    raise
                raise _in_file(exc, in_file[f.name]) from None
    try:
        return _check(replace(Settings(), **values))
    except SettingsError as exc:
        if exc.name not in in_file:
            raise
        raise _in_file(exc, in_file[exc.name]) from None


# The converters, for other commands' settings (the gateway's): errors name the server's
# variable, so callers name their own (``bff/settings.py`` does).
int_setting, bool_setting, str_setting = _int, _bool, _str


def _in_file(error: SettingsError, where: str) -> SettingsError:
    return SettingsError(error.name, str(error).split(": ", 1)[1], where=where)


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """``PROOFKEY_*`` variables that name no setting (a misspelling is otherwise silently
    ignored), each with the closest setting's variable when one is near."""
    env = os.environ if environ is None else environ
    names = [env_name(f.name) for f in fields(Settings)]
    known = set(names) | _COMMAND_VARIABLES
    notes = []
    for variable in sorted(v for v in env if v.startswith("PROOFKEY_") and v not in known
                           and not v.startswith(_OTHER_COMMANDS_PREFIX)):
        close = difflib.get_close_matches(variable, names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        notes.append(f"{variable} is not a proofkey setting and is ignored{hint}")
    return notes


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError("config", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", f"{path} is not valid TOML: {exc}") from None
    section = data.get("proofkey", data)
    return {k: v for k, v in section.items() if k not in _OTHER_SECTIONS}


def describe_settings() -> str:
    """One line per setting for ``--help``: variable, default, meaning."""
    lines = []
    for f in fields(Settings):
        default = f.default
        shown = " ".join(default) if isinstance(default, tuple) else str(default)
        lines.append(f"{env_name(f.name)} (default: {shown or 'empty'}): {f.metadata['help']}")
    return "\n".join(lines)
