"""The OAuth error tree: one class per RFC 6749 §4.1.2.1 / §5.2 (and OIDC, RFC 7009, RFC 6750,
RFC 9449) code.

Every error carries a public ``description`` (safe to show a client: never a secret, only the
characters RFC 6749 §5.2 allows) apart from an internal ``detail`` that goes to the audit log
only. ``redirectable`` says whether the error may be sent to the client's redirect URI; it is
false for anything raised before the client and its redirect URI are verified. The HTTP layer
decides how an error is rendered (JSON, redirect or page); errors know nothing of HTTP but their
status code.
"""

from __future__ import annotations

import re
from typing import ClassVar

from proofkey.outcomes import GrantRefusal

__all__ = [
    "AccessDenied",
    "AuthorizationPending",
    "ConsentRequired",
    "ExpiredToken",
    "InsufficientScope",
    "InteractionRequired",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDpopProof",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "LoginRequired",
    "OAuthError",
    "RateLimited",
    "RequestNotSupported",
    "RequestUriNotSupported",
    "ServerError",
    "SlowDown",
    "TemporarilyUnavailable",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UnsupportedTokenType",
    "UseDpopNonce",
]

# RFC 6749 §5.2: error_description "MUST NOT include characters outside the set
# %x20-21 / %x23-5B / %x5D-7E".
_DESCRIPTION_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class OAuthError(Exception):
    """Base of every protocol error; subclasses fix ``error`` and ``status_code``."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400
    default_redirectable: ClassVar[bool] = True

    def __init__(
        self,
        description: str,
        *,
        detail: str | None = None,
        redirectable: bool | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.description = _DESCRIPTION_UNSAFE.sub("?", description)
        self.detail = detail
        self.retry_after = retry_after  # seconds, sent as Retry-After (a throttled request)
        self.redirectable = self.default_redirectable if redirectable is None else redirectable
        super().__init__(f"{self.error}: {self.description}")

    def as_dict(self) -> dict[str, str]:
        """The RFC 6749 §5.2 body."""
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    """Missing, repeated, malformed or unsupported parameter (RFC 6749 §4.1.2.1, §5.2)."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2); 401 at the token endpoint."""

    error = "invalid_client"
    status_code = 401
    default_redirectable = False


class InvalidGrant(OAuthError):
    """Code or refresh token invalid, expired, revoked, or bound elsewhere (RFC 6749 §5.2).

    ``detail`` is one of the closed ``GrantRefusal`` values: the M1 outcome the token request
    is counted under (``invalid_grant`` without one)."""

    error = "invalid_grant"

    def __init__(self, description: str, *, detail: GrantRefusal | None = None,
                 redirectable: bool | None = None) -> None:
        super().__init__(description, detail=detail, redirectable=redirectable)
        self.refusal = detail


class UnauthorizedClient(OAuthError):
    """The client may not use this grant or response type (RFC 6749 §4.1.2.1, §5.2)."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """The grant type is not supported (RFC 6749 §5.2)."""

    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    """The response type is not supported (RFC 6749 §4.1.2.1)."""

    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    """Requested scope is invalid, unknown or exceeds the registration (RFC 6749 §3.3)."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """The requested resource is invalid, missing, unknown, or malformed (RFC 8707 §2); at
    the authorization endpoint a redirect, at the token endpoint a §5.2 400."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    """The resource owner denied the request (RFC 6749 §4.1.2.1 redirect; RFC 8628 §3.5 token
    error, a §5.2 400)."""

    error = "access_denied"


class LoginRequired(OAuthError):
    """``prompt=none`` but no usable login session (OIDC Core §3.1.2.6)."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """``prompt=none`` but consent is not yet given (OIDC Core §3.1.2.6)."""

    error = "consent_required"


class InteractionRequired(OAuthError):
    """``prompt=none`` but some user interaction is needed (OIDC Core §3.1.2.6)."""

    error = "interaction_required"


class RequestNotSupported(OAuthError):
    """The ``request`` parameter (request objects) is not supported (OIDC Core §3.1.2.6)."""

    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """The ``request_uri`` parameter is not supported (OIDC Core §3.1.2.6)."""

    error = "request_uri_not_supported"


class UnsupportedTokenType(OAuthError):
    """The token type cannot be revoked (RFC 7009 §2.2.1)."""

    error = "unsupported_token_type"


class InvalidToken(OAuthError):
    """The bearer token is missing, expired, revoked or malformed (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401
    default_redirectable = False


class InsufficientScope(OAuthError):
    """The bearer token lacks the scope the resource needs (RFC 6750 §3.1)."""

    error = "insufficient_scope"
    status_code = 403
    default_redirectable = False


class RateLimited(OAuthError):
    """Too many requests from one user, client or address (HTTP 429 with Retry-After)."""

    error = "slow_down"
    status_code = 429
    default_redirectable = False

    def __init__(self, description: str, *, retry_after: int, detail: str | None = None) -> None:
        super().__init__(description, detail=detail, retry_after=retry_after)
        self.retry_after: int = retry_after


class AuthorizationPending(OAuthError):
    """The device's user has not yet acted on the request (RFC 8628 §3.5)."""

    error = "authorization_pending"
    default_redirectable = False


class SlowDown(OAuthError):
    """The device polls faster than its interval allows (RFC 8628 §3.5)."""

    error = "slow_down"
    default_redirectable = False


class ExpiredToken(OAuthError):
    """The device code has expired (RFC 8628 §3.5)."""

    error = "expired_token"
    default_redirectable = False


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: the DPoP proof is missing where required, invalid or replayed."""

    error = "invalid_dpop_proof"
    default_redirectable = False


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the server requires a nonce it provides in the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    default_redirectable = False

    def __init__(self, description: str, *, nonce: str, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.nonce = nonce


class InvalidRedirectUri(OAuthError):
    """A registration's redirect URI breaks policy (RFC 7591 §3.2.2)."""

    error = "invalid_redirect_uri"
    default_redirectable = False


class InvalidClientMetadata(OAuthError):
    """A registration's metadata field is invalid or breaks policy (RFC 7591 §3.2.2)."""

    error = "invalid_client_metadata"
    default_redirectable = False


class TemporarilyUnavailable(OAuthError):
    """The server cannot handle the request now, e.g. its store is down (RFC 6749 §4.1.2.1)."""

    error = "temporarily_unavailable"
    status_code = 503


class ServerError(OAuthError):
    """Anything unexpected; the description is always generic (RFC 6749 §4.1.2.1)."""

    error = "server_error"
    status_code = 500

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("The server could not complete the request.", detail=detail)
