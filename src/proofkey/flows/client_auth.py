"""Authenticate the client at every endpoint that takes client credentials (RFC 6749 §2.3): the
token, pushed authorization (RFC 9126), revocation (RFC 7009), introspection (RFC 7662) and
device authorization (RFC 8628) endpoints.

A client authenticates with exactly the method it registered: public clients with ``none``
(client_id only), confidential clients with their secret by Basic or by POST, or with a JWT
signed by their private key (``private_key_jwt``, RFC 7523 §2.2: ``flows/client_assertion``).
Secrets are random 256-bit values, stored as SHA-256 digests and compared in constant time.
An assertion is verified only after the throttle was read (a locked-out client's assertion
takes no replay record), and a refused one counts as a failure like a wrong secret.

RFC 6749 §2.3.1: the server "MUST protect any endpoint utilizing it against brute force
attacks". Failed authentications are counted per address and, for a registered client, per
client, in the shared ``RateLimiter`` (Redis when configured, so every instance sees them).
Every authentication with a secret first reads both counts: over a limit, EVERY authentication
of that client or from that address is refused until the window has passed, with the same
answer whatever the secret, so it never tells whether a secret was right. Below the limits a
right secret passes and counts nothing; a wrong one is counted with ``reserve`` (check and count
in one step), so of N concurrent wrong secrets at most the limit are answered as failures and
the rest are refused. Refused attempts are not counted: the lock ends with the window.
The per-address limit is kept below the per-client one, so one address alone cannot lock a
client's other callers out; only guesses from many addresses can, for one window.

The refusal is the RFC 6749 §5.2 ``invalid_client`` error with HTTP 401 (and
``WWW-Authenticate``) plus ``Retry-After``, not a 429: §5.2 requires a 401 with a challenge when
the client authenticated with the Authorization header, and ``invalid_client`` ("client
authentication failed") is the truth — the authentication was refused — and the one error every
client library handles; RFC 6749 defines no rate-limit error for these endpoints (``slow_down``
is RFC 8628's polling signal). ``Retry-After`` tells a legitimate client when to try again. The
description says it was throttled, which tells nothing about the secret. Public clients
(``none``) have no secret to guess and are not throttled on success.
"""

from __future__ import annotations

import asyncio

from proofkey.crypto import constant_time_equal, digest
from proofkey.errors import InvalidClient
from proofkey.models import Client
from proofkey.protocol.client_assertion import AssertionRefused
from proofkey.protocol.credentials import ClientCredentials
from proofkey.store.base import ClientStore, RateLimiter

from . import throttle
from .client_assertion import ClientAssertions
from .context import Context

__all__ = ["THROTTLED", "authenticate_client"]

_FAILED = "client authentication failed"
THROTTLED = "too many failed client authentications; retry later"


def _failure(credentials: ClientCredentials, client: Client | None) -> str | None:
    """Why the credentials do not authenticate ``client`` (an audit detail), or None."""
    if client is None:
        return "unknown_client"
    if credentials.method != client.token_endpoint_auth_method:
        return f"method {credentials.method} not registered"
    if credentials.method in ("none", "private_key_jwt"):
        return None  # an assertion is verified after the throttle is read
    if credentials.secret is None or client.secret_digest is None or not constant_time_equal(
        digest(credentials.secret.reveal()), client.secret_digest
    ):
        return "bad_secret"
    return None


async def _assertion_failure(credentials: ClientCredentials, client: Client,
                             assertions: ClientAssertions, ctx: Context) -> tuple[str, str] | None:
    """(audit detail, public description) if the assertion does not authenticate ``client``."""
    if credentials.assertion is None:
        return "assertion_missing", _FAILED
    try:
        await assertions.verify(client, credentials.assertion.reveal(),
                                issuer=ctx.settings.effective_issuer, now=ctx.now())
    except AssertionRefused as refused:
        return f"assertion_{refused.reason}", f"{_FAILED}: {refused.description}"
    return None


async def authenticate_client(
    credentials: ClientCredentials, clients: ClientStore, *, limiter: RateLimiter,
    client_ip: str, ctx: Context, assertions: ClientAssertions,
) -> Client:
    """The client the credentials authenticate; InvalidClient (401) otherwise, or while the
    client or the address is over its failure limit (then with ``retry_after``)."""
    settings = ctx.settings
    window = settings.client_auth_window_seconds
    client = await clients.get_client(credentials.client_id)
    limits = [throttle.Limit("ip", f"client_auth:ip:{client_ip}",
                             settings.client_auth_failures_per_ip, window)]
    if client is not None:  # never a key per unregistered id: those cannot grow the limiter
        limits.append(throttle.Limit("client", f"client_auth:client:{client.client_id}",
                                     settings.client_auth_failures_per_client, window))
    failure = _failure(credentials, client)
    if failure is None and client is not None and credentials.method == "none":
        return client  # nothing secret to guess
    now = ctx.clock()
    # Limited: the same answer, whether the secret was right or not.
    waits = await asyncio.gather(*(limiter.retry_after(limit.key, limit.limit, limit.window, now)
                                   for limit in limits))
    if any(waits):
        raise InvalidClient(THROTTLED, detail="client_throttled", retry_after=max(waits))
    description = _FAILED
    if failure is None and client is not None and credentials.method == "private_key_jwt":
        refused = await _assertion_failure(credentials, client, assertions, ctx)
        if refused is not None:
            failure, description = refused
    if failure is None and client is not None:
        return client
    held = await throttle.reserve(limiter, limits, now)
    if isinstance(held, throttle.Refused):  # concurrent failures filled the window meanwhile
        raise InvalidClient(THROTTLED, detail="client_throttled", retry_after=held.retry_after)
    raise InvalidClient(description, detail=failure)
