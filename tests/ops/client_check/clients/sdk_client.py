"""A well-behaved app: proofkey's SDK signs in PROOFKEY_TEST_ATTEMPTS times (PAR, S256,
state, nonce, iss checked) and refreshes twice after each sign-in."""

from __future__ import annotations

import os

from person import sign_in

from proofkey.sdk import OAuthClient, OAuthClientError


def main() -> None:
    env = os.environ
    for attempt in range(1, int(env.get("PROOFKEY_TEST_ATTEMPTS", "3")) + 1):
        with OAuthClient(env["PROOFKEY_TEST_ISSUER"], env["PROOFKEY_TEST_CLIENT_ID"],
                         env["PROOFKEY_TEST_REDIRECT_URI"],
                         scope="openid profile offline_access") as client:
            request = client.authorization_request()
            callback = sign_in(request.url)
            try:
                tokens = client.complete(callback, request)
            except OAuthClientError as exc:  # the test server's mix-up attempt
                print(f"attempt {attempt} refused: {exc.error}")
                continue
            assert tokens.refresh_token
            tokens = client.refresh(tokens.refresh_token)
            assert tokens.refresh_token
            client.refresh(tokens.refresh_token)
            print(f"attempt {attempt} signed in")


if __name__ == "__main__":
    main()
