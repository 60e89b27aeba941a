"""Per-client security profiles at run time: the ``fapi2`` client (FAPI 2.0 Security Profile,
Final, the parts that apply without mTLS), as small named checks the endpoints call.

Registration already refuses a fapi2 client that breaks the rules PKL100-PKL107
(``protocol.client_policy``: one rule set); these checks hold the same line when requests
come in, so a stored record that was changed behind the policy's back (an old row, a manual
edit) is refused rather than served with weaker rules:

* ``check_client``: the client still meets the profile's registration rules, else
  ``unauthorized_client`` naming the first broken rule;
* ``require_pushed``: §5.3.2.2 "shall reject authorization requests sent without
  [RFC9126]" — a fapi2 client's request at /authorize must carry a ``request_uri`` from /par;
* ``code_lifetime``: §5.3.2.1 "shall issue authorization codes with a maximum lifetime of 60
  seconds", whatever ``PROOFKEY_CODE_TTL_SECONDS`` says.

Sender-constrained tokens (``require_dpop``) and ``private_key_jwt`` are enforced where the
token endpoint and client authentication check them; the profile only requires the flags.
``iss`` is in every authorization response already (RFC 9207, §5.3.2.2).
"""

from __future__ import annotations

from proofkey.errors import InvalidRequest, UnauthorizedClient
from proofkey.models import Client
from proofkey.protocol.client_policy import (
    FAPI2_MAX_CODE_TTL,
    FAPI2_PROFILE,
    Policy,
    lint,
    view_of_client,
)
from proofkey.settings import Settings

__all__ = ["check_client", "code_lifetime", "is_fapi2", "require_pushed"]


def is_fapi2(client: Client) -> bool:
    return client.profile == FAPI2_PROFILE


def check_client(client: Client) -> None:
    """Refuse a profiled client whose registration no longer meets its profile's rules."""
    if not is_fapi2(client):
        return
    broken = [i for i in lint(view_of_client(client), Policy())
              if i.severity == "error" and i.rule.startswith("PKL10")]
    if broken:
        raise UnauthorizedClient(f"this client is registered for the FAPI 2.0 profile but does "
                                 f"not meet it: {broken[0].message} [{broken[0].rule}]")


def require_pushed(client: Client, *, pushed: bool) -> None:
    """FAPI 2.0 SP §5.3.2.2: a fapi2 client's authorization request must come through /par."""
    if is_fapi2(client) and not pushed:
        raise InvalidRequest("this client uses the FAPI 2.0 profile: send the authorization "
                             "request to the pushed authorization request endpoint (/par) "
                             "and pass only client_id and request_uri here")


def code_lifetime(client_profile: str, settings: Settings) -> int:
    """Seconds an authorization code for a client of this profile lives."""
    if client_profile == FAPI2_PROFILE:
        return min(settings.code_ttl_seconds, FAPI2_MAX_CODE_TTL)
    return settings.code_ttl_seconds
