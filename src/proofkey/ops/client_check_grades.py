"""The checks ``proofkey client-check`` runs on what a client sent: one function per check,
each returning its findings (a finding names the check, the attempt and the evidence, never
a whole secret). ``grade`` runs them all in the order of ``CHECKS``."""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proofkey.ops.client_check_attempts import Attempt, group_attempts
from proofkey.ops.client_check_backchannel import (
    check_redirects,
    check_refresh,
    check_token_urls,
)
from proofkey.ops.client_check_profiles import (
    DECOY_PATH,
    INJECTED_ERROR,
    MIXUP_ISSUER,
    PROFILES,
    not_exercised,
)
from proofkey.ops.client_check_record import Exchange, Finding, shown
from proofkey.protocol import pkce

__all__ = ["CHECKS", "DECOY_PATH", "INJECTED_ERROR", "MIXUP_ISSUER", "STATE_BITS", "Finding",
           "Grading", "challenge_digest", "estimated_bits", "grade"]

STATE_BITS = 128

CHECKS: dict[str, str] = {
    "attempts": "the command signed in as many times as asked",
    "pkce-s256": "every authorization request carries an S256 code_challenge",
    "challenge-fresh": "no code_challenge is ever used twice (this run or earlier runs)",
    "state": f"state present, about {STATE_BITS} bits or more, different per attempt",
    "nonce": "OpenID requests carry a nonce, different per attempt",
    "verifier-confined": "the code_verifier goes only in the token request's body",
    "code-single-use": "each authorization code is redeemed at most once",
    "code-redirect-uri": "the code is redeemed with the exact redirect_uri of its request",
    "refresh-rotation": "after a refresh, only the new refresh token is used",
    "par-required": "authorization requests are pushed (/par) when the server requires it",
    "iss-mixup": "a callback with the wrong iss is not redeemed (RFC 9207)",
    "error-refused": "a callback carrying an error is not redeemed, even beside a code",
    "redirect-not-followed": "a redirect from the token endpoint to an unregistered URI is "
                             "not followed",
    "par-only": "(fapi2) a pushed request's /authorize carries only client_id and request_uri",
    "token-in-url": "no issued token ever appears in a URL",
    "command-exit": "the command exits with status 0",
}


@dataclass(frozen=True, slots=True)
class Grading:
    checks: tuple[str, ...]  # the checks that ran
    findings: tuple[Finding, ...]
    attempts: int
    challenge_digests: tuple[str, ...] = field(repr=False)  # for the state file
    skipped: tuple[tuple[str, str], ...] = ()  # (check, why it could not run)

    @property
    def passed(self) -> bool:
        return not self.findings


def challenge_digest(challenge: str) -> str:
    return hashlib.sha256(challenge.encode()).hexdigest()


def estimated_bits(value: str) -> float:
    """A rough upper bound of the entropy of ``value``: its length times log2 of the
    alphabet its characters suggest (hex, digits, base64url, printable); a value that uses
    only a few characters over and over counts by the characters it uses."""
    chars = set(value)
    if not chars:
        return 0.0
    if chars <= set(string.digits):
        size = 10
    elif chars <= set(string.hexdigits):
        size = 16
    else:
        size = sum(len(group) for group in (string.digits, string.ascii_lowercase,
                                            string.ascii_uppercase, "-_", string.punctuation)
                   if chars & set(group))
    if len(chars) < min(len(value), size) / 4:
        size = len(chars)
    return len(value) * math.log2(size)


def _check_pkce(attempt: Attempt) -> Iterable[Finding]:
    method = attempt.params.get("code_challenge_method")
    challenge = attempt.params.get("code_challenge")
    if not challenge:
        yield Finding("pkce-s256", attempt.number, "no code_challenge in the request")
    elif method != "S256":
        yield Finding("pkce-s256", attempt.number,
                      f"code_challenge_method={method or '(missing: plain)'}")


def _check_fresh(attempts: list[Attempt], earlier: set[str]) -> Iterable[Finding]:
    seen: dict[str, int] = {}
    for attempt in attempts:
        challenge = attempt.params.get("code_challenge")
        if not challenge:
            continue
        digest = challenge_digest(challenge)
        if digest in seen:
            yield Finding("challenge-fresh", attempt.number,
                          f"code_challenge {shown(challenge)} was sent in attempt {seen[digest]}"
                          " (a fixed or reused verifier)")
        elif digest in earlier:
            yield Finding("challenge-fresh", attempt.number,
                          f"code_challenge {shown(challenge)} was sent in an earlier run")
        seen.setdefault(digest, attempt.number)


def _check_unique(check: str, name: str, attempts: list[Attempt],
                  needed: Callable[[Attempt], bool], required: bool = True) -> Iterable[Finding]:
    seen: dict[str, int] = {}
    for attempt in attempts:
        value = attempt.params.get(name)
        if not needed(attempt):
            continue
        if not value:
            if required:
                yield Finding(check, attempt.number, f"no {name} in the request")
            continue
        if name == "state" and (bits := estimated_bits(value)) < STATE_BITS:
            yield Finding(check, attempt.number,
                          f"state {shown(value)} is guessable: {len(value)} characters, "
                          f"about {bits:.0f} bits (want {STATE_BITS})")
        if value in seen:
            yield Finding(check, attempt.number,
                          f"{name} {shown(value)} was sent in attempt {seen[value]}")
        seen.setdefault(value, attempt.number)


def _check_verifier(exchanges: list[Exchange], attempts: list[Attempt]) -> Iterable[Finding]:
    challenges = {a.params["code_challenge"]: a.number for a in attempts
                  if a.params.get("code_challenge")}
    verifiers = {value for e in exchanges if e.path == "/token"
                 for name, value in e.form if name == "code_verifier"}
    for exchange in exchanges:
        if exchange.path == DECOY_PATH:
            continue  # a followed 307 re-sends the token request: redirect-not-followed
        values = exchange.url_values()
        if exchange.path != "/token":
            values += list(exchange.form)
        for name, value in values:
            if not value or name == "code_challenge":
                continue
            owner = challenges.get(pkce.challenge_s256(value))
            if name == "code_verifier" or value in verifiers or owner is not None:
                where = "URL" if (name, value) in exchange.url_values() else "body"
                yield Finding("verifier-confined", owner,
                              f"code_verifier {shown(value)} sent in the {where} of "
                              f"{exchange.method} {exchange.path} (as {name.split(' ')[0]})")


def _check_codes(attempt: Attempt) -> Iterable[Finding]:
    for code in attempt.codes:
        uses = [r for r in attempt.redemptions if r.code == code]
        if len(uses) > 1:
            yield Finding("code-single-use", attempt.number,
                          f"code {shown(code)} sent to /token {len(uses)} times")
    expected = attempt.params.get("redirect_uri")
    for use in attempt.redemptions:
        if use.redirect_uri != expected:
            yield Finding("code-redirect-uri", attempt.number,
                          f"redirect_uri {use.redirect_uri!r} at /token, {expected!r} in the "
                          "authorization request")
    for code, iss in zip(attempt.codes, attempt.issued_iss, strict=True):
        if iss == MIXUP_ISSUER and any(r.code == code for r in attempt.redemptions):
            yield Finding("iss-mixup", attempt.number,
                          f"the callback said iss={MIXUP_ISSUER}, the client still redeemed "
                          f"code {shown(code)}")
    for code, error in zip(attempt.codes, attempt.issued_error, strict=True):
        if error and any(r.code == code for r in attempt.redemptions):
            yield Finding("error-refused", attempt.number,
                          f"the callback said error={error}, the client still redeemed the "
                          f"code beside it ({shown(code)})")


def _check_par_only(attempts: list[Attempt]) -> Iterable[Finding]:
    for attempt in attempts:
        for exchange in attempt.authorize_requests:
            extra = sorted({name for name, _ in exchange.query} - {"client_id", "request_uri"})
            if attempt.pushed and extra:
                yield Finding("par-only", attempt.number,
                              f"GET /authorize also carried {', '.join(extra)} outside the "
                              "pushed request")


def grade(exchanges: list[Exchange], *, attempts: int, earlier_challenges: Iterable[str] = (),
          require_par: bool = False, exit_code: int = 0, profile: str = "oauth2.1") -> Grading:
    """Grade a recorded run: ``attempts`` the command was asked to make, the challenge
    digests of earlier runs, whether PAR is required (the ``fapi2`` profile always requires
    it), the command's exit status and the profile (a key of ``PROFILES``)."""
    rules = PROFILES[profile]
    require_par = require_par or rules.require_par
    made = group_attempts(exchanges)
    findings: list[Finding] = []
    if len(made) < attempts:
        findings.append(Finding("attempts", None,
                                f"{len(made)} authorization request(s), {attempts} expected"))
    for attempt in made:
        findings += _check_pkce(attempt)
    findings += _check_fresh(made, set(earlier_challenges))
    findings += _check_unique("state", "state", made, lambda a: True, rules.state_required)
    findings += _check_unique("nonce", "nonce", made,
                              lambda a: "openid" in a.params.get("scope", "").split(),
                              rules.nonce_required)
    findings += _check_verifier(exchanges, made)
    for attempt in made:
        findings += _check_codes(attempt)
    findings += check_redirects(exchanges, made)
    findings += check_refresh(exchanges, made)
    if require_par:
        findings += [Finding("par-required", a.number, "sent to /authorize, not pushed to /par")
                     for a in made if not a.pushed]
    if rules.par_only:
        findings += _check_par_only(made)
    findings += check_token_urls(exchanges)
    if exit_code != 0:
        findings.append(Finding("command-exit", None, f"the command exited with {exit_code}"))
    order = list(CHECKS)
    findings.sort(key=lambda f: (order.index(f.check), f.attempt or 0))
    skipped = not_exercised(exchanges, made, rules, require_par)
    ran = tuple(c for c in CHECKS if c not in dict(skipped))
    digests = tuple(challenge_digest(a.params["code_challenge"]) for a in made
                    if a.params.get("code_challenge"))
    return Grading(ran, tuple(findings), len(made), digests, skipped)

