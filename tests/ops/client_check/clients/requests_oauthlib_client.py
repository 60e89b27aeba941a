"""requests-oauthlib's ``OAuth2Session`` as an app uses it, signing in PROOFKEY_TEST_ATTEMPTS
times, each sign-in refreshed twice.

requests-oauthlib makes a fresh verifier per authorization URL (``pkce="S256"``), and oauthlib
checks ``state`` and refuses a callback with ``error``. What it leaves to the app, this script
does as an app must (``docs/client-check.md``, "Real clients"): it asks for a ``nonce`` (plain
OAuth library), compares the callback's ``iss`` with the issuer (RFC 9207; not read by
oauthlib), and sets ``max_redirects = 0`` because requests follows a 307 from the token
endpoint by default, posting the code and verifier again wherever it points. oauthlib refuses
plain http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set: the test server is on loopback."""

from __future__ import annotations

import os
import secrets
import sys
from urllib.parse import parse_qsl, urlsplit

import requests
from oauthlib.oauth2 import OAuth2Error
from person import sign_in
from requests_oauthlib import OAuth2Session

ENV = os.environ
FOLLOW_REDIRECTS = sys.argv[1:] == ["--defaults"]  # requests' default: follow (for the test)


def sign_in_once(metadata: dict[str, str]) -> str:
    client_id = ENV["PROOFKEY_TEST_CLIENT_ID"]
    with OAuth2Session(client_id, redirect_uri=ENV["PROOFKEY_TEST_REDIRECT_URI"],
                       scope=["openid", "profile", "offline_access"], pkce="S256") as session:
        if not FOLLOW_REDIRECTS:
            session.max_redirects = 0
        url, _state = session.authorization_url(metadata["authorization_endpoint"],
                                                nonce=secrets.token_urlsafe(24))
        callback = sign_in(url)
        if dict(parse_qsl(urlsplit(callback).query)).get("iss") != metadata["issuer"]:
            return "refused: iss does not match (mix-up)"
        token_endpoint = metadata["token_endpoint"]
        try:
            session.fetch_token(token_endpoint, authorization_response=callback,
                                include_client_id=True, timeout=10)
            for _ in range(2):
                session.refresh_token(token_endpoint, client_id=client_id, timeout=10)
        except OAuth2Error as exc:
            return f"refused: {exc.error}"
        except (requests.RequestException, ValueError) as exc:
            return f"refused: token endpoint ({type(exc).__name__})"
        return "signed in"


def main() -> None:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    issuer = ENV["PROOFKEY_TEST_ISSUER"]
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    for attempt in range(1, int(ENV.get("PROOFKEY_TEST_ATTEMPTS", "4")) + 1):
        print(f"attempt {attempt} {sign_in_once(metadata)}", flush=True)


if __name__ == "__main__":
    main()
