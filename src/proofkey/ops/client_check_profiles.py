"""What ``proofkey client-check --profile`` changes, and which checks a run gave no chance to
fail (reported as skipped, never as passed).

``oauth2.1`` (the default) grades what OAuth 2.1 and the Security BCP (RFC 9700) ask of every
client. ``fapi2`` grades what the FAPI 2.0 Security Profile adds and a public test client can
show: the server requires PAR for the test client, and the ``/authorize`` request of a pushed
attempt must carry nothing but ``client_id`` and ``request_uri`` (everything else travels
integrity-protected in the pushed request). FAPI 2.0 makes PKCE carry the CSRF protection
``state`` gave and skips the front-channel ID token, so there a missing ``state`` or ``nonce``
is no finding (a repeated or guessable one still is). S256, the ``iss`` check, refresh-token
rotation and the rest apply unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.ops.client_check_attempts import Attempt
from proofkey.ops.client_check_record import Exchange

__all__ = ["DECOY_PATH", "INJECTED_ERROR", "MIXUP_ISSUER", "PROFILES", "Profile",
           "not_exercised"]

MIXUP_ISSUER = "https://mix-up.invalid"  # the iss the server answers one attempt with
INJECTED_ERROR = "access_denied"  # the error another attempt gets beside its code
DECOY_PATH = "/client-check/unregistered-token"  # where one code redemption is redirected


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    require_par: bool  # the server requires PAR for the test client
    state_required: bool  # a request without state is a finding
    nonce_required: bool  # an OpenID request without nonce is a finding
    par_only: bool  # run the par-only check


PROFILES: dict[str, Profile] = {
    "oauth2.1": Profile("oauth2.1", require_par=False, state_required=True,
                        nonce_required=True, par_only=False),
    "fapi2": Profile("fapi2", require_par=True, state_required=False, nonce_required=False,
                     par_only=True),
}


def not_exercised(exchanges: list[Exchange], made: list[Attempt], profile: Profile,
                  require_par: bool) -> tuple[tuple[str, str], ...]:
    """Checks the run gave no chance to fail, and why."""
    skipped = []
    if not require_par:
        skipped.append(("par-required", "--require-par not given"))
    if not any(iss == MIXUP_ISSUER for a in made for iss in a.issued_iss):
        skipped.append(("iss-mixup", "no code was answered with the wrong iss "
                                     "(fewer sign-ins than --mixup-attempt, or none got a code)"))
    if not any(error for a in made for error in a.issued_error):
        skipped.append(("error-refused", "no code was answered with an error (fewer sign-ins "
                                         "than --error-attempt, or none got a code)"))
    if not any(e.path == "/token" and e.status == 307 for e in exchanges):
        skipped.append(("redirect-not-followed", "no code redemption was answered with a "
                                                 "redirect (fewer sign-ins than "
                                                 "--redirect-attempt, or none got a code)"))
    if not profile.par_only:
        skipped.append(("par-only", f"profile {profile.name}"))
    return tuple(skipped)
