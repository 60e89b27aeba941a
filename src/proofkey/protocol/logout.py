"""The logout request of OpenID Connect RP-Initiated Logout 1.0 §2, and where it may end.

Pure functions: ``parse_logout_request`` reads the parameters (bounded; ``ui_locales`` and
``logout_hint`` are accepted and ignored) and ``post_logout_target`` decides the redirect.
§3.1: "The value MUST have been previously registered with the OP" — the URI is compared by
exact string match (a query or anything added makes it another URI), and ``state`` is
appended as §2 says: "the OP passes this value to the RP using the state parameter".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from proofkey.errors import InvalidRequest
from proofkey.protocol.responses import redirect_with

__all__ = ["LogoutRequest", "parse_logout_request", "post_logout_target"]

_LIMITS = {"id_token_hint": 16384, "client_id": 2000, "post_logout_redirect_uri": 2000,
           "state": 2048, "logout_hint": 2000, "ui_locales": 200}


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """The parameters of a logout request that proofkey acts on (absent ones are None)."""

    id_token_hint: str | None = None
    client_id: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None


def parse_logout_request(params: Mapping[str, str]) -> LogoutRequest:
    """Read a logout request's parameters (already decoded strictly, ``protocol.params``);
    InvalidRequest for one that is longer than any real value of its kind."""
    for name, limit in _LIMITS.items():
        if len(params.get(name, "")) > limit:
            raise InvalidRequest(f"{name} is longer than {limit} characters",
                                 redirectable=False)
    return LogoutRequest(
        id_token_hint=params.get("id_token_hint") or None,
        client_id=params.get("client_id") or None,
        post_logout_redirect_uri=params.get("post_logout_redirect_uri") or None,
        state=params.get("state") or None)


def post_logout_target(registered: Iterable[str], requested: str,
                       state: str | None) -> str | None:
    """The address to send the browser to after logout, ``state`` added; None unless
    ``requested`` is exactly one of the client's registered post-logout redirect URIs."""
    if requested not in tuple(registered):
        return None
    return redirect_with(requested, {"state": state})
