#!/usr/bin/env python3
"""Stand-in for driver.mjs when Node.js is absent: the same commands and JSON output, for
proofkey only, with threads and http.client. It is far slower than the Node driver (the client
becomes the bottleneck near 2,000 requests/s), so run.py uses it only to keep ``--quick``
working on a machine without Node; its numbers measure the driver as much as the server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import re
import secrets
import sys
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Client:
    def __init__(self, opts: argparse.Namespace) -> None:
        u = urlsplit(opts.base)
        if u.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise SystemExit(f"refusing a non-loopback target: {u.hostname}")
        self.opts = opts
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        headers = dict(FORM) if form is not None else {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=urlencode(form) if form is not None else None,
                          headers=headers)
        res = self.conn.getresponse()
        body = res.read().decode("utf-8", "replace")
        for line in res.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0].strip()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, body

    def authorize_query(self, challenge: str, scope: str) -> str:
        q = {"response_type": "code", "client_id": self.opts.client_id,
             "redirect_uri": self.opts.redirect_uri, "code_challenge": challenge,
             "code_challenge_method": "S256", "state": "s"}
        if scope:
            q["scope"] = scope
        return "/authorize?" + urlencode(q)

    def login(self) -> None:
        _v, challenge = pkce_pair()
        status, headers, _ = self.request("GET", self.authorize_query(challenge, "openid api"))
        loc = headers.get("location", "")
        for _ in range(6):
            if not loc.startswith("/interaction/"):
                break
            _s, _h, page = self.request("GET", loc)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            if csrf is None:
                raise RuntimeError("no csrf field")
            if 'name="password"' in page:
                form = {"csrf": csrf[1], "username": self.opts.user,
                        "password": self.opts.password}
                status, headers, _ = self.request("POST", loc + "/login", form)
            else:
                status, headers, _ = self.request("POST", loc + "/consent",
                                                  {"csrf": csrf[1], "decision": "allow"})
            loc = headers.get("location", "")
        if "code=" not in loc:
            raise RuntimeError(f"login did not end at the client: {status} {loc[:200]}")

    def authorize(self) -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        scope = "" if self.opts.scope == "none" else self.opts.scope
        status, headers, _ = self.request("GET", self.authorize_query(challenge, scope))
        code = parse_qs(urlsplit(headers.get("location", "")).query).get("code")
        if status != 303 or not code:
            raise RuntimeError(f"authorize answered {status}")
        return code[0], verifier

    def exchange(self, code: str, verifier: str) -> dict[str, str]:
        status, _h, body = self.request("POST", "/token", {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.opts.redirect_uri, "client_id": self.opts.client_id,
            "code_verifier": verifier})
        if status != 200:
            raise RuntimeError(f"token answered {status}")
        return dict(json.loads(body))


def workers(n: int, work: object) -> None:
    threads = [threading.Thread(target=work) for _ in range(n)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["session", "mint", "flow", "paced"])
    for name, default in [("kind", "proofkey"), ("base", ""), ("client-id", "bench-client"),
                          ("redirect-uri", ""), ("user", "bench"), ("password", ""),
                          ("scope", "openid"), ("count", "100"), ("out", ""),
                          ("duration", "5"), ("concurrency", "4"), ("connections", "4"),
                          ("rate", "50"), ("mode", "flow"), ("codes", ""), ("warmup", "0"),
                          ("max", "1000000"), ("skip-first", "0")]:
        p.add_argument(f"--{name}", default=default)
    p.add_argument("--refresh", action="store_true")
    opts = p.parse_args()
    if opts.kind != "proofkey":
        print(json.dumps({"error": "the Python driver speaks to proofkey only"}))
        return 1
    login = Client(opts)
    login.login()
    cookies = login.cookies
    lock = threading.Lock()
    deadline = time.monotonic() + float(opts.duration)
    concurrency = min(int(opts.concurrency), 8)
    out: dict[str, object]
    if opts.command == "session":
        code, verifier = login.authorize()
        out = {"ok": True, "token_keys": sorted(login.exchange(code, verifier))}
    elif opts.command == "mint":
        count, lines = int(opts.count), []

        def mint() -> None:
            c = Client(opts)
            c.cookies = dict(cookies)
            while time.monotonic() < deadline:
                with lock:
                    if len(lines) >= count:
                        return
                code, verifier = c.authorize()
                line = c.exchange(code, verifier)["refresh_token"] if opts.refresh else \
                    f"{code} {verifier}"
                with lock:
                    lines.append(line)

        started = time.monotonic()
        workers(concurrency, mint)
        if opts.out:
            with open(opts.out, "w") as f:
                f.write("\n".join(lines[:count]) + "\n")
        elapsed = time.monotonic() - started
        out = {"minted": min(count, len(lines)), "errors": 0, "elapsed_s": elapsed,
               "per_s": len(lines) / elapsed}
    else:  # flow and paced: closed-loop round trips (paced is approximated by the flow loop)
        latencies: list[float] = []
        errors = 0

        def flow() -> None:
            nonlocal errors
            c = Client(opts)
            c.cookies = dict(cookies)
            while time.monotonic() < deadline:
                t = time.perf_counter()
                try:
                    c.exchange(*c.authorize())
                except RuntimeError:
                    with lock:
                        errors += 1
                    continue
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)

        started = time.monotonic()
        workers(concurrency, flow)
        elapsed = time.monotonic() - started
        s = sorted(latencies)

        def pct(q: float) -> float | None:
            return s[min(len(s) - 1, int(q * len(s)))] if s else None

        lat = {"n": len(s), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
               "p999_ms": pct(0.999), "max_ms": s[-1] if s else None}
        out = {"flows": len(s), "errors": errors, "error_statuses": {}, "elapsed_s": elapsed,
               "flows_per_s": len(s) / elapsed, "ok": len(s), "achieved_per_s": len(s) / elapsed,
               "driver_max_lag_ms": 0.0, "latency": lat, "mode": opts.mode}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # one JSON line, as driver.mjs does
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
