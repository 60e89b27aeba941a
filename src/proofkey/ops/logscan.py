"""Find OAuth secrets that leaked into logs (RFC 7636 §1, RFC 6749 §10.3–10.6, RFC 6750 §5.3).

Each line, plain or JSON, is searched for six shapes: an Authorization header (any dress:
``Authorization: Bearer …``, a JSON field, an ASGI header tuple), a named parameter in a query
string, form or logfmt line (``code=…``), a named field in JSON or a repr (``"code": "…"``), a
bare ``Bearer …`` credential, a random-looking word after "password" in prose (``… with password
Xk3v9Qe2…``, the shape of ``proofkey serve``'s demo line), and a JWT anywhere. A candidate
counts only if its value looks like the secret it claims to be: a verifier is 43–128 unreserved
characters (``protocol.pkce``), a code or token is long, mixes letters and digits and has the
entropy of random data, a JWT's first segment decodes to a JSON header with ``alg``, a Basic
credential decodes to ``user:secret``; masked values (``***``, ``[REDACTED…]``, ``[FILTERED]``)
and prose (``"password": "must be 8 characters"``) are not leaks. That keeps ``code=200``,
UUIDs, hashes, base64 blobs and "password reset email sent" out of the findings.

A finding never carries the secret: only its first characters (at most 4, fewer for short
values) and its length.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import io
import lzma
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote, unquote, unquote_plus

from proofkey.protocol import pkce
from proofkey.protocol.compact import json_object

__all__ = ["KINDS", "RULES", "SARIF_SCHEMA", "Finding", "LeakRule", "ScanReport", "mask",
           "scan_line", "scan_paths", "scan_stream", "to_json", "to_sarif"]


@dataclass(frozen=True, slots=True)
class LeakRule:
    """One kind of leaked secret; ``id`` is shared by the SARIF rule and the Sigma rule."""

    id: str
    kind: str
    name: str
    title: str
    help: str


RULES: tuple[LeakRule, ...] = (
    LeakRule("PKLEAK001", "code_verifier", "LeakedPkceCodeVerifier", "PKCE code_verifier "
             "written to a log", "A verifier and its authorization code together redeem tokens "
             "(RFC 7636 §1). Stop logging token request bodies; find who can read the log."),
    LeakRule("PKLEAK002", "authorization_code", "LeakedAuthorizationCode", "Authorization code "
             "written to a log", "Callback URLs carry the code in the query string (RFC 6749 "
             "§10.5). Strip query strings from access logs; a replayed code revokes the grant."),
    LeakRule("PKLEAK003", "jwt", "LeakedJwt", "JWT (access or ID token) written to a log",
             "A bearer JWT is usable by whoever reads it until it expires (RFC 6750 §5.3). "
             "Redact tokens before logging; revoke the grant if the log left the host."),
    LeakRule("PKLEAK004", "refresh_token", "LeakedRefreshToken", "Refresh token written to a "
             "log", "A refresh token mints new access tokens for weeks (RFC 6749 §10.4). "
             "Revoke it (RFC 7009) and stop logging token responses."),
    LeakRule("PKLEAK005", "access_token", "LeakedOpaqueAccessToken", "Opaque access token "
             "written to a log", "An access token in a URL or log is a bearer credential (RFC "
             "6750 §5.3). Revoke it; send tokens in the Authorization header, never the URL."),
    LeakRule("PKLEAK006", "client_secret", "LeakedClientSecret", "OAuth client secret written "
             "to a log", "A client secret authenticates the client (RFC 6749 §2.3.1). Rotate "
             "it now and stop logging token request bodies."),
    LeakRule("PKLEAK007", "password", "LeakedPassword", "Password written to a log", "A user's "
             "password was logged. Have the user change it, purge the log and stop logging "
             "login form bodies."),
    LeakRule("PKLEAK008", "authorization_header", "LeakedAuthorizationHeader", "Authorization "
             "header (Basic or Bearer credential) written to a log", "Request headers were "
             "logged with their credentials (RFC 7617, RFC 6750). Revoke the token or rotate "
             "the secret; log headers through an allow-list."),
)
RULES_BY_KIND = {rule.kind: rule for rule in RULES}
KINDS: tuple[str, ...] = tuple(rule.kind for rule in RULES)

_NAMES = r"code_verifier|refresh_token|access_token|id_token|client_secret|password|passwd|code"
# Every alternative of _PATTERN starts at one of these words; searching for them first and
# trying _PATTERN only there is several times faster than searching with _PATTERN itself.
_ANCHOR = re.compile(rf"(?i:authorization|bearer|{_NAMES})|e[wy]")
_PATTERN = re.compile(
    # An Authorization header: "Authorization: Bearer x", "authorization": "Basic x",
    # (b'authorization', b'Bearer x'), authorization=Bearer%20x, Proxy-Authorization: ….
    r"(?<!\w)(?i:authorization)\\?[\"']?\s*[:=,]\s*b?\\?[\"']?"
    r"(?P<scheme>(?i:basic|bearer))(?:\s+|%20|\+)(?P<auth>[A-Za-z0-9+/\-._~]+=*)"
    # name=value in a query string, a form body or a logfmt line (also %3Fname%3Dvalue).
    rf"|(?:(?<![\w\-.])|(?<=%3[Ff])|(?<=%26))(?P<qname>(?i:{_NAMES}))(?P<qsep>=|%3[Dd])[\"']?"
    r"(?P<qval>[^\s&\"'<>,;#\\|)\]}]+)"
    # "name": "value" in JSON (also escaped JSON inside a JSON string) or 'name': 'value'.
    rf"|(?<=[\"'])(?P<jname>(?i:{_NAMES}))\\?[\"']\s*(?::|=>?)\s*\\?[\"']"
    r"(?P<jval>[^\"'\\]+)"
    # A bare bearer credential.
    r"|(?<![\w\-])(?i:bearer)(?:\s+|%20)(?P<bearer>[A-Za-z0-9+/\-._~]{20,}=*)"
    # A password in prose: "... with password Xk3-v9Qe... (", "password: s3cr3t-V4lue".
    r"|(?<![\w\-])(?i:password):?[ \t]+(?P<prose>[A-Za-z0-9+/\-._~!@#$%^&*=]{8,128})"
    r"(?=[\s),;]|$)"
    # A compact JWS/JWE: base64url JSON header ('{"' -> 'eyJ', '{\n' -> 'ewo' ...).
    r"|(?<![\w\-])(?P<jwt>e[wy][A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*){2,4})(?![\w\-])"
)
_CODE_CHARS = re.compile(r"[A-Za-z0-9\-._~+/=]+")
# Words and numbers joined by _ - . (ERR_TOKEN_EXPIRED_401, release-2026-11-22): not random.
# Word-shaped pieces: lower case, Capitalized or an ACRONYMWord, then more Capitalized words
# (camelCase); random letters change case at random ("EZBtAoTDrrlp…") and are not words.
_WORD = r"(?:[A-Z]+[a-z]*|[a-z]+)(?:[A-Z][a-z]+)*"
_WORDY = re.compile(rf"(?:{_WORD}|[0-9]+)(?:[_.\-](?:{_WORD}|[0-9]+))*")
_MASKED = re.compile(
    r"(?i)(?:\[(?:redacted|filtered|masked|hidden|secret|removed)\b.*|<.*|\*.*|x{3,}.*|•.*"
    r"|\.{3}.*|-+|\{.*|\$\{.*|%[sdr(].*|null|none|nil|undefined|redacted|filtered|masked"
    r"|hidden|removed|secret|\?+)")
_FLAGS = frozenset({"true", "false", "yes", "no", "on", "off", "0", "1", "enabled", "disabled",
                    "set", "unset", "present", "missing", "required", "optional", "changed",
                    "ok", "provided", "empty"})
_PROSE = re.compile(r"(?i)\b(?:required|invalid|incorrect|must|should|too (?:short|long|weak)"
                    r"|not (?:match|set|be|valid|allowed)|blank|empty|expired|reset|changed"
                    r"|updated|characters?|strength|policy)\b")
_BINARY_PROBE = 8192
SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret seen at ``path:line:column`` (1-based; ``end_column`` is exclusive)."""

    path: str
    line: int
    column: int
    end_column: int
    kind: str
    masked: str
    length: int

    @property
    def rule(self) -> LeakRule:
        return RULES_BY_KIND[self.kind]


@dataclass(slots=True)
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))


def mask(value: str) -> str:
    """At most 4 leading characters (a third of a short value) and the length."""
    return f"{value[:min(4, len(value) // 3)]}… ({len(value)} chars)"


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _random_looking(value: str, min_length: int) -> bool:
    """Long, from a token alphabet, letters and digits mixed, ~3+ bits of entropy a char."""
    return (min_length <= len(value) <= 4096 and _CODE_CHARS.fullmatch(value) is not None
            and any(c.isalpha() for c in value) and any(c.isdigit() for c in value)
            and _WORDY.fullmatch(value) is None
            and _entropy(value) >= 3.0)


def _b64decode(segment: str, *, urlsafe: bool) -> bytes | None:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_jwt(value: str) -> bool:
    parts = value.split(".")
    if len(parts) not in (3, 5) or not parts[1]:
        return False
    raw = _b64decode(parts[0], urlsafe=True)
    try:  # bounded: a header written into a log by anyone must not stop the scan
        header = json_object(raw) if raw else None
    except Exception:  # json_object refuses it (InvalidToken): a malformed header is no JWT
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


def _is_basic_credential(value: str) -> bool:
    raw = _b64decode(value, urlsafe=False)
    try:
        text = raw.decode("utf-8") if raw else ""
    except UnicodeDecodeError:
        return False
    return ":" in text and len(text) >= 3 and text.isprintable()


def _is_password(value: str) -> bool:
    return (0 < len(value) <= 256 and _MASKED.fullmatch(value) is None
            and value.lower() not in _FLAGS and _PROSE.search(value) is None)


def _named_kind(name: str, value: str) -> str | None:
    """The kind of secret ``value`` is, if it is one, given the parameter it was found in."""
    if _MASKED.fullmatch(value) is not None:
        return None
    if name == "code_verifier":
        ok = pkce.is_valid_verifier(value) and _entropy(value) >= 3.0
        return "code_verifier" if ok else None
    if name == "code":
        return "authorization_code" if _random_looking(unquote(value), 16) else None
    if name in ("access_token", "id_token"):
        if _is_jwt(value):
            return "jwt"
        return "access_token" if name == "access_token" and _random_looking(value, 20) else None
    if name == "refresh_token":
        return "refresh_token" if _is_jwt(value) or _random_looking(value, 20) else None
    if name == "client_secret":
        return "client_secret" if len(value) >= 8 and value.lower() not in _FLAGS else None
    return "password" if _is_password(unquote_plus(value)) else None


def _value_span(match: re.Match[str], group: str) -> tuple[int, int]:
    start, end = match.span(group)
    if group == "qval" and match.group("qsep") != "=":  # name%3Dvalue%26next%3D…
        cut = re.search(r"%26", match.string[start:end], re.IGNORECASE)
        end = start + cut.start() if cut else end
    return start, end


def _classify(match: re.Match[str]) -> tuple[str, int, int] | None:
    """(kind, start, end) of the secret in a candidate match, or None if it is no secret."""
    group = next(name for name in ("auth", "qval", "jval", "bearer", "prose", "jwt")
                 if match.group(name) is not None)
    start, end = _value_span(match, group)
    value = match.string[start:end]
    kind: str | None
    if group == "auth":
        if match.group("scheme").lower() == "basic":
            ok = _is_basic_credential(value)
        else:
            ok = _MASKED.fullmatch(value) is None and (_is_jwt(value) or _random_looking(value, 16))
        kind = "authorization_header" if ok else None
    elif group in ("qval", "jval"):
        name = match.group("qname" if group == "qval" else "jname").lower()
        kind = _named_kind(name, value)
    elif group == "prose":  # a random-looking word after "password", not a sentence
        ok = (_is_password(value) and _WORDY.fullmatch(value) is None
              and _entropy(value) >= 3.0)
        kind = "password" if ok else None
    elif group == "bearer":
        ok = _is_jwt(value) or _random_looking(value, 20)
        kind = "authorization_header" if ok else None
    else:
        kind = "jwt" if _is_jwt(value) else None
    return (kind, start, end) if kind else None


def scan_line(text: str) -> list[tuple[str, int, int, str]]:
    """Secrets in one line: (kind, start, end, value) with 0-based, end-exclusive offsets."""
    found: list[tuple[str, int, int, str]] = []
    pos = 0
    while (anchor := _ANCHOR.search(text, pos)) is not None:
        here = anchor.start()
        match = _PATTERN.match(text, here)
        verdict = _classify(match) if match is not None else None
        if verdict is None:  # not a secret here; something inside it still may be
            pos = here + 1
            continue
        kind, start, end = verdict
        found.append((kind, start, end, text[start:end]))
        pos = max(end, here + 1)
    return found


def _lines(stream: io.BufferedReader) -> Iterator[bytes]:
    """The stream's lines, decompressed when its first bytes are a gzip, bzip2 or xz magic."""
    head = stream.peek(6)[:6]
    if head.startswith(b"\x1f\x8b"):
        with gzip.GzipFile(fileobj=stream) as plain:
            yield from plain
    elif head.startswith(b"BZh"):
        with bz2.BZ2File(stream) as plain:
            yield from plain
    elif head.startswith(b"\xfd7zXZ\x00"):
        with lzma.LZMAFile(stream) as plain:
            yield from plain
    else:
        yield from stream


def scan_stream(stream: BinaryIO, name: str, report: ScanReport) -> None:
    """Scan one byte stream (plain, gzip, bzip2 or xz) line by line into ``report``."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(
        cast(io.RawIOBase, stream))  # BytesIO and pipes too: peek() finds the magic
    findings: list[Finding] = []
    seen = 0
    number = 0
    try:
        for number, raw in enumerate(_lines(buffered), start=1):
            if seen < _BINARY_PROBE and b"\x00" in raw:
                report.skipped.append(f"{name}: binary file")
                return
            seen += len(raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            for kind, start, end, value in scan_line(text):
                findings.append(Finding(name, number, start + 1, end + 1, kind, mask(value),
                                        len(value)))
    except (OSError, EOFError, lzma.LZMAError) as exc:
        report.errors.append(f"{name}: cannot read past line {number}: {exc}")
    report.files += 1
    report.lines += number
    report.findings.extend(findings)


def _files_under(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder, name)


def _scan_file(path: Path, report: ScanReport) -> None:
    try:
        with path.open("rb") as handle:
            scan_stream(handle, str(path), report)
    except OSError as exc:
        report.errors.append(f"{path}: {exc.strerror or exc}")


def scan_paths(paths: Sequence[str], stdin: BinaryIO | None = None) -> ScanReport:
    """Scan files, directories (recursively, in name order) and ``-`` (standard input)."""
    report = ScanReport()
    for item in paths:
        if item == "-":
            scan_stream(stdin if stdin is not None else sys.stdin.buffer, "<stdin>", report)
            continue
        path = Path(item)
        if path.is_dir():
            for file in _files_under(path):
                _scan_file(file, report)
        elif path.exists():
            _scan_file(path, report)
        else:
            report.errors.append(f"{item}: no such file or directory")
    return report


def to_json(report: ScanReport) -> dict[str, object]:
    return {
        "findings": [{"path": f.path, "line": f.line, "column": f.column,
                      "end_column": f.end_column, "kind": f.kind, "rule_id": f.rule.id,
                      "value": f.masked, "length": f.length} for f in report.findings],
        "summary": {"files": report.files, "lines": report.lines,
                    "findings": len(report.findings), "by_kind": report.by_kind(),
                    "skipped": report.skipped, "errors": report.errors},
    }


def _uri(path: str) -> str:
    if path == "<stdin>":
        return "stdin"
    as_path = Path(path)
    return as_path.as_uri() if as_path.is_absolute() else quote(as_path.as_posix())


def to_sarif(report: ScanReport, version: str) -> dict[str, object]:
    """A SARIF 2.1.0 log: one run, one rule per kind, one result per finding."""
    index = {rule.kind: i for i, rule in enumerate(RULES)}
    rules = [{"id": rule.id, "name": rule.name, "shortDescription": {"text": rule.title},
              "fullDescription": {"text": rule.help}, "help": {"text": rule.help},
              "defaultConfiguration": {"level": "error"},
              "properties": {"tags": ["security", "secret", "oauth"],
                             "security-severity": "8.0"}} for rule in RULES]
    results = [{
        "ruleId": f.rule.id, "ruleIndex": index[f.kind], "level": "error",
        "message": {"text": f"{f.rule.title}: {f.masked}"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _uri(f.path)},
            "region": {"startLine": f.line, "startColumn": f.column,
                       "endColumn": f.end_column}}}],
    } for f in report.findings]
    notifications = [{"level": "error", "message": {"text": text}} for text in report.errors]
    return {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "proofkey scan-logs", "version": version,
                                      "rules": rules}},
                  "invocations": [{"executionSuccessful": not report.errors,
                                   "toolExecutionNotifications": notifications}],
                  "columnKind": "unicodeCodePoints",
                  "results": results}],
    }
