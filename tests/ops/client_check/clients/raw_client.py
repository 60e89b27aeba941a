"""A hand-written client with one chosen flaw (the first argument), for the tests of
``proofkey client-check``; ``none`` is the same client without a flaw.

Flaws: plain, missing-pkce, fixed-verifier, constant-verifier (the same in every run),
reused-state, weak-state, verifier-in-query, old-refresh, ignores-iss, wrong-redirect,
redeems-twice, no-nonce, ignores-error (redeems a code that came beside an error),
token-in-url (calls /userinfo with the access token in the query), follows-redirect (its
HTTP client follows a 307 from the token endpoint), no-state. A second argument ``par``
pushes every request (RFC 9126); with the flaw ``par-leaky`` the parameters go in the
/authorize URL as well."""

from __future__ import annotations

import os
import secrets
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from person import sign_in

from proofkey.protocol import pkce

FLAW = sys.argv[1]
PAR = sys.argv[2:] == ["par"] or FLAW == "par-leaky"
CONSTANT_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
FIXED_VERIFIER = CONSTANT_VERIFIER if FLAW == "constant-verifier" else pkce.new_verifier()
FIXED_STATE = secrets.token_urlsafe(32)
ENV = os.environ
ISSUER = ENV["PROOFKEY_TEST_ISSUER"]
CLIENT_ID = ENV["PROOFKEY_TEST_CLIENT_ID"]
REDIRECT_URI = ENV["PROOFKEY_TEST_REDIRECT_URI"]


def authorization_url(http: httpx.Client, verifier: str, state: str) -> str:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
              "scope": "openid offline_access", "state": state,
              "nonce": secrets.token_urlsafe(24),
              "code_challenge": pkce.challenge_s256(verifier), "code_challenge_method": "S256"}
    if FLAW == "no-state":
        del params["state"]
    if FLAW == "plain":
        params.update(code_challenge=verifier, code_challenge_method="plain")
    elif FLAW == "missing-pkce":
        del params["code_challenge"], params["code_challenge_method"]
    elif FLAW == "verifier-in-query":
        params["code_verifier"] = verifier
    elif FLAW == "no-nonce":
        del params["nonce"]
    if PAR:
        pushed = http.post(f"{ISSUER}/par", data=params)
        if pushed.status_code != 201:
            return ""
        front = {"client_id": CLIENT_ID, "request_uri": pushed.json()["request_uri"]}
        params = {**params, **front} if FLAW == "par-leaky" else front
    return f"{ISSUER}/authorize?{urlencode(params)}"


def token(http: httpx.Client, **data: str) -> dict[str, str]:
    response = http.post(f"{ISSUER}/token", data={"client_id": CLIENT_ID, **data})
    print(f"  /token {data['grant_type']}: {response.status_code}")
    if response.status_code != 200:
        return {}
    return dict(response.json())


def sign_in_once(http: httpx.Client) -> None:
    fixed = FLAW in ("fixed-verifier", "constant-verifier")
    verifier = FIXED_VERIFIER if fixed else pkce.new_verifier()
    state = {"reused-state": FIXED_STATE, "weak-state": str(secrets.randbelow(10**6))}.get(
        FLAW, secrets.token_urlsafe(32))
    if FLAW == "no-state":
        state = ""
    url = authorization_url(http, verifier, state)
    if not url:
        print("  refused: the server did not accept the pushed request")
        return
    answer = dict(parse_qsl(urlsplit(sign_in(url)).query))
    if answer.get("state", "") != state:
        print("  refused: state does not match")
        return
    if FLAW != "ignores-iss" and answer.get("iss") != ISSUER:
        print("  refused: iss does not match (mix-up)")
        return
    if "error" in answer and FLAW != "ignores-error":
        print(f"  refused: {answer['error']}")
        return
    if "code" not in answer:
        print("  refused: no code")
        return
    redirect = REDIRECT_URI + "/" if FLAW == "wrong-redirect" else REDIRECT_URI
    exchange = {"grant_type": "authorization_code", "code": answer["code"],
                "redirect_uri": redirect, "code_verifier": verifier}
    tokens = token(http, **exchange)
    if not tokens:
        print("  refused: the token endpoint gave no tokens")
        return
    if FLAW == "token-in-url":
        http.get(f"{ISSUER}/userinfo", params={"access_token": tokens["access_token"]})
    if FLAW == "redeems-twice":
        token(http, **exchange)
    first = tokens.get("refresh_token")
    if not first:
        return
    second = token(http, grant_type="refresh_token", refresh_token=first)
    again = first if FLAW == "old-refresh" else second.get("refresh_token", "")
    token(http, grant_type="refresh_token", refresh_token=again)


def main() -> None:
    with httpx.Client(timeout=10, follow_redirects=FLAW == "follows-redirect") as http:
        for attempt in range(1, int(ENV.get("PROOFKEY_TEST_ATTEMPTS", "3")) + 1):
            print(f"attempt {attempt} ({FLAW})")
            sign_in_once(http)


if __name__ == "__main__":
    main()
