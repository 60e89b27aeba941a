"""Why a resource server refuses a request: the RFC 6750 §3.1 (and RFC 9449 §7.1) error codes.

These are the kit's own small tree rather than ``proofkey.errors``: they are raised to an API's
code (which catches ``BearerTokenError``), they carry the ``scope`` a 403 challenge names
(RFC 6750 §3: "The "scope" attribute ... indicates the required scope"), and one of them
(``VerifierUnavailable``) is not an OAuth code at all. ``description`` is public text (the
RFC 6749 §5.2 character set, never a token or a key); the middleware sends it to the client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar, Literal

from proofkey.outcomes import DpopRefusal

__all__ = ["BearerTokenError", "InsufficientScopeError", "InvalidDpopProofError",
           "InvalidRequestError", "InvalidTokenError", "UseDpopNonceError",
           "VerifierUnavailable"]

BearerErrorCode = Literal["invalid_request", "invalid_token", "insufficient_scope",
                          "temporarily_unavailable", "invalid_dpop_proof", "use_dpop_nonce"]

# RFC 6749 §5.2 / RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E, so it can
# sit inside a quoted-string of the WWW-Authenticate header as it is.
_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class BearerTokenError(Exception):
    """A refused bearer token or request; ``status_code`` is what the middleware answers."""

    error: ClassVar[BearerErrorCode] = "invalid_token"
    status_code: ClassVar[int] = 401

    def __init__(self, description: str, *, scope: Iterable[str] = ()) -> None:
        self.description = _UNSAFE.sub("?", description)
        self.scope = " ".join(scope)
        super().__init__(f"{self.error}: {self.description}")


class InvalidRequestError(BearerTokenError):
    """RFC 6750 §3.1: the request is malformed or uses more than one way to send a token."""

    error = "invalid_request"
    status_code = 400


class InvalidTokenError(BearerTokenError):
    """RFC 6750 §3.1: the token is expired, revoked, malformed, or invalid for another reason."""

    error = "invalid_token"
    status_code = 401


class InsufficientScopeError(BearerTokenError):
    """RFC 6750 §3.1: the request needs more scope than the token carries (``scope`` names it)."""

    error = "insufficient_scope"
    status_code = 403


class InvalidDpopProofError(BearerTokenError):
    """RFC 9449 §7.1: "invalid_dpop_proof is used to indicate that the DPoP proof itself was
    deemed invalid based on the criteria of Section 4.3" (missing, malformed, badly signed,
    for another method, URL or token, out of its time window, or replayed). ``reason`` is one
    value of ``proofkey.outcomes.DpopRefusal`` (a closed set, fit for a metric label)."""

    error = "invalid_dpop_proof"
    status_code = 401

    def __init__(self, description: str, *, reason: DpopRefusal = "malformed") -> None:
        super().__init__(description)
        self.reason: DpopRefusal = reason


class UseDpopNonceError(BearerTokenError):
    """RFC 9449 §9: the proof must carry the nonce this resource supplies; ``nonce`` goes to
    the client in the ``DPoP-Nonce`` header of the 401."""

    error = "use_dpop_nonce"
    status_code = 401

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce


class VerifierUnavailable(BearerTokenError):
    """The issuer's keys or introspection endpoint could not be reached or read: the token is
    neither valid nor invalid, so the request is answered 503, not 401 (a 401 would send a
    well-behaved client through a new authorization for nothing)."""

    error = "temporarily_unavailable"
    status_code = 503
