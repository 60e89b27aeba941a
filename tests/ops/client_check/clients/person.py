"""The person at the test server's pages, for the client scripts: open an authorization URL,
sign in with PROOFKEY_TEST_USERNAME/PASSWORD, consent, and return the redirect back to the
app (not followed: nothing listens on the redirect URI)."""

from __future__ import annotations

import asyncio
import os

import httpx

from proofkey.ops.login_driver import FormNavigator, LoginSettings


def sign_in(url: str) -> str:
    issuer = os.environ["PROOFKEY_TEST_ISSUER"]
    login = LoginSettings(os.environ["PROOFKEY_TEST_USERNAME"],
                          os.environ["PROOFKEY_TEST_PASSWORD"])

    async def run() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            outcome = await FormNavigator(http, login).authorize(
                url, lambda target: not target.startswith(issuer + "/"))
        if outcome.redirect is None:
            raise RuntimeError(f"the sign-in did not come back to the app: {outcome.note}")
        return outcome.redirect

    return asyncio.run(run())
