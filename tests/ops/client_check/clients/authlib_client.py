"""Authlib's ``OAuth2Session`` (requests flavour) as an app uses it, signing in
PROOFKEY_TEST_ATTEMPTS times, each sign-in refreshed twice.

Authlib makes the challenge (S256) from the verifier the app hands it, checks ``state`` and
sends the verifier. What ``OAuth2Session`` leaves to the app, this script does as an app
must (``docs/client-check.md``, "Real clients"): it compares the callback's ``iss`` with the
issuer (RFC 9207; Authlib does not read it), refuses a callback carrying ``error`` even beside
a code (``OAuth2Session.fetch_token`` only looks for ``code``; Authlib's web-framework
integrations do check ``error``), and passes ``allow_redirects=False`` so requests does not
follow a redirect from the token endpoint."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from person import sign_in

ENV = os.environ
SCOPE = "openid profile offline_access"


def sign_in_once(metadata: dict[str, str]) -> str:
    with OAuth2Session(ENV["PROOFKEY_TEST_CLIENT_ID"], redirect_uri=ENV[
            "PROOFKEY_TEST_REDIRECT_URI"], scope=SCOPE, code_challenge_method="S256",
            token_endpoint_auth_method="none") as session:
        verifier = generate_token(48)
        url, _state = session.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier,
            nonce=generate_token(24))
        callback = sign_in(url)
        answer = dict(parse_qsl(urlsplit(callback).query))
        if answer.get("iss") != metadata["issuer"]:
            return "refused: iss does not match (mix-up)"
        if "error" in answer:
            return f"refused: {answer['error']}"
        token_endpoint = metadata["token_endpoint"]
        try:
            token = session.fetch_token(token_endpoint, authorization_response=callback,
                                        code_verifier=verifier, allow_redirects=False,
                                        timeout=10)
            for _ in range(2):
                token = session.refresh_token(token_endpoint,
                                              refresh_token=token["refresh_token"],
                                              allow_redirects=False, timeout=10)
        except (OAuthError, ValueError, KeyError) as exc:
            return f"refused: token endpoint ({type(exc).__name__})"
        return "signed in"


def main() -> None:
    issuer = ENV["PROOFKEY_TEST_ISSUER"]
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    for attempt in range(1, int(ENV.get("PROOFKEY_TEST_ATTEMPTS", "4")) + 1):
        print(f"attempt {attempt} {sign_in_once(metadata)}", flush=True)


if __name__ == "__main__":
    main()
