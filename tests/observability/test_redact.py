"""The redactor masks every secret shape proofkey produces, counts each catch once, and leaves
ordinary log text alone."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofkey.crypto import fingerprint, new_handle
from proofkey.observability.redact import KINDS, Redactor
from proofkey.protocol import pkce

HANDLE = "q3x8Zr0v6uJ1mHcN4tYw9kPbLs2eGfAaD7oRiQnUjVk"  # 43 base64url characters
VERIFIER = "Fq.3w~Zx9-Kb_Lm2Np0Rt7Vy4Ac6Ee8Gi1Jk5Mo.Qs3Uu~Ww9Yy2Bd4Dh6Fj8Hl0Jn"
BASIC = base64.b64encode(f"web-app:{HANDLE}".encode()).decode()
JWT = ("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0."
       "MEUCIQDx3Yk5b1m0f6bJ0")


def run(text: str) -> tuple[str, list[str]]:
    caught: list[str] = []
    return Redactor(caught.append).redact(text), caught


@pytest.mark.parametrize(("text", "secret", "kind"), [
    (f"redeeming {HANDLE} now", HANDLE, "handle"),
    (f"verifier={VERIFIER}", VERIFIER, "verifier"),
    (f"got {VERIFIER[:43]}", VERIFIER[:43], "verifier"),
    (f"token {JWT}", JWT, "jwt"),
    ("password=hunter2&user=alice", "hunter2", "password"),
    ('{"username": "alice", "password": "hunter2"}', "hunter2", "password"),
    ("PASSWORD: hunter2", "hunter2", "password"),
    ("client_secret=s3cr3t-value", "s3cr3t-value", "client_secret"),
    ("admin_token='abc'", "abc", "client_secret"),
    (f"code_verifier={VERIFIER}", VERIFIER, "code_verifier"),
    (f"refresh_token={HANDLE}", HANDLE, "token"),
    ("Authorization: Bearer opaque.token.value", "opaque.token.value", "authorization"),
    ("authorization=Basic d2ViOnNlY3JldA==", "d2ViOnNlY3JldA==", "authorization"),
    ("header Bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz0123",
     "authorization"),
    ("Basic " + BASIC, BASIC, "authorization"),
    ("x" + "A1b2" * 40, "A1b2" * 40, "opaque"),
    # A verifier of letters, "_" and one "." once passed for a qualified name (found by
    # test_any_handle_or_verifier_anywhere_is_masked).
    ("verifier vPzWrAWmQszuDDMOZnFLoicZNmmfliOWp.LrcLYY_vS sent",
     "vPzWrAWmQszuDDMOZnFLoicZNmmfliOWp.LrcLYY_vS", "verifier"),
    ("k " + "ab.cdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQrS", "cdEfGhIjKlMnOpQrStUvWxYzAbCd",
     "verifier"),
])
def test_each_secret_shape_is_masked_and_counted_once(text: str, secret: str,
                                                       kind: str) -> None:
    assert kind in KINDS
    masked, caught = run(text)
    assert caught == [kind]
    assert f"[REDACTED:{kind}" in masked
    assert secret not in masked


@pytest.mark.parametrize("text", [
    "Basic authentication failed for client web-app",
    "Bearer token required",
    'WWW-Authenticate: Bearer realm="proofkey", error="invalid_token"',
    "proofkey.observability.metrics.SomethingQuiteLong_and_dotted.name",
    "asyncpg.exceptions.ConnectionDoesNotExistError raised",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter",
    "status_code=400 code: 400 error_code=invalid_grant",
    "Secret('**********') and fingerprint 0123456789ab and id 0d3e63f1d9eafde056c1ff95449d8803",
    "unexpected ValueError at /token (/work/src/proofkey/flows/token.py:42)",
    "short",
    "",
])
def test_ordinary_log_text_is_left_alone(text: str) -> None:
    assert run(text) == (text, [])


def test_a_masked_handle_carries_the_audit_fingerprint() -> None:
    code = new_handle()
    masked, _ = run(f"code {code}")
    assert masked == f"code [REDACTED:handle fp={fingerprint(code)}]"


def test_passwords_get_no_fingerprint() -> None:
    masked, _ = run("password=correct-horse")
    assert masked == "password=[REDACTED:password]"


def test_masking_twice_changes_nothing_more() -> None:
    once, caught = run(f"a {new_handle()} b password=x {JWT}")
    assert run(once) == (once, [])
    assert sorted(caught) == ["handle", "jwt", "password"]


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                max_size=40)
_SEPARATOR = st.sampled_from([" ", "\n", "=", ":", "/", "?", "&", '"', "'", ",", "(", "#"])


@settings(max_examples=300, deadline=None)
@given(before=_TEXT, after=_TEXT, left=_SEPARATOR, right=_SEPARATOR,
       secret=st.one_of(st.builds(new_handle), st.builds(pkce.new_verifier,
                                                         st.integers(43, 128))))
def test_any_handle_or_verifier_anywhere_is_masked(before: str, after: str, left: str,
                                                   right: str, secret: str) -> None:
    masked, caught = run(before + left + secret + right + after)
    assert secret not in masked
    assert caught
