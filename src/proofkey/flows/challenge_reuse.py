"""The production signal for PKCE verifier reuse: a client that sends a ``code_challenge`` it
sent before within the window (``challenge_reuse_window_seconds``) is reusing its verifier.

RFC 7636 §4.1 has the client create a code verifier for each authorization request, and
RFC 9700 §2.1.1 asks for a transaction-specific one. A server cannot see the verifier at
/authorize, but a repeated S256 challenge means a repeated verifier.

Each accepted request — client and redirect URI verified, the challenge a valid S256 one —
costs ONE store statement (``ChallengeStore.note_challenge``, an upsert keyed by client and
the challenge's SHA-256 digest, shared by every instance on the database). A reuse emits
``ChallengeReused`` (metrics, audit line); a client flagged ``reject_reused_challenge`` has
the request refused with ``invalid_request``.

A request pushed to /par is noted there, once; the browser's later visit to /authorize with
its ``request_uri`` is not noted again.
"""

from __future__ import annotations

from typing import Literal

from proofkey.crypto import digest, fingerprint
from proofkey.errors import InvalidRequest
from proofkey.models import Client
from proofkey.observability.events import ChallengeReused
from proofkey.store.base import ChallengeStore

from .context import Context

__all__ = ["REUSED_DESCRIPTION", "note_challenge"]

REUSED_DESCRIPTION = ("code_challenge was already used in an earlier authorization request; "
                      "use a fresh code_verifier for every request")


async def note_challenge(client: Client, code_challenge: str, *, challenges: ChallengeStore,
                         ctx: Context, endpoint: Literal["authorize", "par"]) -> None:
    """Record the sighting; on a reuse emit ``ChallengeReused`` and, for a client flagged
    ``reject_reused_challenge``, raise ``InvalidRequest`` (redirectable at /authorize)."""
    window = ctx.settings.challenge_reuse_window_seconds
    if window == 0:
        return
    now = ctx.now()
    sighting = await challenges.note_challenge(client.client_id, digest(code_challenge), now,
                                               now + window)
    if not sighting.reused:
        return
    refused = client.reject_reused_challenge
    ctx.bus.emit(ChallengeReused(client.client_id, fingerprint(code_challenge), sighting.count,
                                 sighting.first_seen, endpoint, refused))
    if refused:
        raise InvalidRequest(REUSED_DESCRIPTION)
