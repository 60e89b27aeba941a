"""scan-logs reads JWT headers out of log lines that anyone may have written into: a hostile
one is judged like any other value and never stops the scan (issue 17 item 10)."""

from __future__ import annotations

import base64
import json

import pytest

from proofkey.ops import logscan


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


NESTED = b64url(b'{"a":' * 1500 + b"1" + b"}" * 1500)
PAYLOAD = b64url(json.dumps({"sub": "alice", "exp": 4102444800}).encode())
HEADER = b64url(json.dumps({"alg": "ES256", "typ": "at+jwt"}).encode())
GENUINE = f"{HEADER}.{PAYLOAD}.c2lnbmF0dXJlc2ln"


@pytest.mark.parametrize("line", [
    f"token={NESTED}.{PAYLOAD}.c2ln",
    f"Authorization: Bearer {NESTED}.{PAYLOAD}.c2ln",
    f'{{"access_token": "{NESTED}.{PAYLOAD}.c2ln"}}',
    f"{NESTED}.{PAYLOAD}.c2ln",
], ids=["param", "bearer", "json", "bare"])
def test_a_deeply_nested_jwt_header_in_a_log_line_does_not_stop_the_scan(line: str) -> None:
    # Was: RecursionError out of scan_line, ending `proofkey scan-logs`.
    found = logscan.scan_line(f"{line} then {GENUINE}")
    assert GENUINE in [value for _, _, _, value in found]
