"""The battery's checks of the token endpoint: the verifier (RFC 7636 §4.6, RFC 9700
§2.1.1 and §4.5), single use of codes under replay and under concurrency (RFC 6749 §4.1.2),
code lifetime, ``Cache-Control: no-store`` (RFC 6749 §5.1), and secrets never echoed in error
responses.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

from proofkey.protocol import pkce

from .conformance_probe import Probe, TokenReply
from .verdicts import Check, Verdict, failed, passed, skipped, warned

__all__ = ["FINAL_CHECKS", "TOKEN_CHECKS"]


def _refused(reply: TokenReply, expect: str | None = "invalid_grant") -> Verdict:
    """Judge a token response that should be a refusal (RFC 6749 §5.2)."""
    evidence: dict[str, str | int | bool] = {"status": reply.status, "error": reply.error or "-"}
    if reply.ok:
        return failed(status=reply.status, redemption="issued")
    if reply.status >= 500 or reply.status < 400:
        return warned(**evidence, note="not a 4xx error response")
    if expect is not None and reply.error != expect:
        return warned(**evidence, expected=expect)
    return passed(**evidence)


async def no_store(p: Probe) -> Verdict:
    assert p.baseline is not None
    value = p.baseline[1].headers.get("cache-control")
    if value is None:
        return failed(cache_control="absent")
    directives = {d.strip().split("=")[0].lower() for d in value.split(",")}
    return (passed if "no-store" in directives else failed)(cache_control=value)


async def verifier_required(p: Probe) -> Verdict:
    attempt = await p.code("token.verifier_required")
    return _refused(await p.redeem("token.verifier_required", attempt, verifier=None),
                    expect=None)


async def wrong_verifier_refused(p: Probe) -> Verdict:
    attempt = await p.code("token.wrong_verifier_refused")
    other = pkce.new_verifier()
    p.remember(other)
    return _refused(await p.redeem("token.wrong_verifier_refused", attempt, verifier=other))


async def challenge_as_verifier_refused(p: Probe) -> Verdict:
    attempt = await p.code("token.challenge_as_verifier_refused")
    return _refused(await p.redeem("token.challenge_as_verifier_refused", attempt,
                                   verifier=attempt.challenge))


async def verifier_swap_refused(p: Probe) -> Verdict:
    label = "token.verifier_swap_refused"
    first, second = await p.code(label), await p.code(label)
    return _refused(await p.redeem(label, first, verifier=second.verifier))


async def replay_refused(p: Probe) -> Verdict:
    label = "code.replay_refused"
    attempt = await p.code(label)
    first = await p.redeem(label, attempt)
    if not first.ok:
        return warned(inconclusive=f"the first redemption failed: {first.status} {first.error}")
    replay = await p.redeem(f"{label} (replay)", attempt)
    if replay.ok:
        return failed(first=first.status, replay=f"{replay.status}: a second set of tokens")
    return passed(first=first.status, replay=f"{replay.status} {replay.error or '-'}")


async def replay_revokes_tokens(p: Probe) -> Verdict:
    label = "code.replay_revokes_tokens"
    attempt = await p.code(label)
    first = await p.redeem(label, attempt)
    if not first.ok:
        return warned(inconclusive=f"the first redemption failed: {first.status} {first.error}")
    replay = await p.redeem(f"{label} (replay)", attempt)
    if replay.ok:
        return skipped("the replay itself was accepted (see code.replay_refused)")
    seen = await p.still_valid(first)
    if not seen:
        return skipped("no way to observe the tokens: no userinfo (scope openid), "
                       "introspection (confidential client) or refresh token")
    if all(v.startswith("revoked") for v in seen.values()):
        return passed(**seen)
    return warned(**seen, note="tokens from a replayed code SHOULD be revoked")


async def concurrent_single_winner(p: Probe) -> Verdict:
    label = "code.concurrent_single_winner"
    n = p.config.concurrency
    attempt = await p.code(label)
    http = p.new_http(connections=n)
    try:
        replies = await asyncio.gather(*(p.redeem(f"{label} #{i + 1}", attempt, http=http)
                                         for i in range(n)))
    finally:
        await http.aclose()
    winners = sum(1 for r in replies if r.ok)
    losers = Counter(f"{r.status} {r.error or '-'}" for r in replies if not r.ok)
    evidence: dict[str, str | int | bool] = {
        "redemptions": n, "winners": winners,
        "others": ", ".join(f"{count}x {answer}" for answer, count in sorted(losers.items()))
        or "none"}
    if winners == 1:
        return passed(**evidence)
    if winners == 0:
        return warned(**evidence, note="no redemption succeeded")
    return failed(**evidence)


async def lifetime_bounded(p: Probe) -> Verdict:
    label = "code.lifetime_bounded"
    attempt = await p.code(label)
    wait = p.config.code_lifetime + 1
    await p.config.waiter(label, wait)
    reply = await p.redeem(label, attempt)
    if reply.ok:
        return failed(waited=f"{wait} s", redemption="issued: the code outlived the bound")
    return passed(waited=f"{wait} s", answer=f"{reply.status} {reply.error or '-'}")


async def no_secret_echo(p: Probe) -> Verdict:
    label = "errors.no_secret_echo"
    bogus, verifier = f"pk-{secrets.token_urlsafe(32)}", pkce.new_verifier()
    p.remember(bogus, verifier)
    await p.token(label, {"grant_type": "authorization_code", "code": bogus,
                          "redirect_uri": p.config.redirect_uri, "code_verifier": verifier})
    errors = [e for e in p.exchanges if e.reply.status >= 400]
    leaks: set[str] = set()
    for exchange in errors:
        blob = exchange.reply.text + "\n" + "\n".join(
            f"{k}: {v}" for k, v in exchange.reply.headers.multi_items())
        leaks.update(f"{name} in {exchange.label.split(' ')[0]}"
                     for name, value in exchange.sent if len(value) >= 8 and value in blob)
    if leaks:
        return failed(error_responses=len(errors), echoed=", ".join(sorted(leaks)))
    return passed(error_responses=len(errors), echoed="none")


TOKEN_CHECKS = (
    Check("token.no_store", "The token response says Cache-Control: no-store",
          "RFC 6749 §5.1", no_store),
    Check("token.verifier_required", "A token request without code_verifier is refused",
          "RFC 9700 §2.1.1; RFC 7636 §4.6", verifier_required),
    Check("token.wrong_verifier_refused", "A wrong code_verifier is refused",
          "RFC 7636 §4.6", wrong_verifier_refused),
    Check("token.challenge_as_verifier_refused", "The challenge sent as verifier is refused",
          "RFC 7636 §4.6", challenge_as_verifier_refused),
    Check("token.verifier_swap_refused", "Another flow's verifier is refused",
          "RFC 7636 §4.6; RFC 9700 §4.5", verifier_swap_refused),
    Check("code.replay_refused", "A code is redeemed only once",
          "RFC 6749 §4.1.2; OAuth 2.1 §4.1.3", replay_refused),
    Check("code.replay_revokes_tokens", "A replayed code revokes the tokens it issued",
          "RFC 6749 §4.1.2", replay_revokes_tokens),
    Check("code.concurrent_single_winner", "Concurrent redemptions of one code: one winner",
          "RFC 6749 §4.1.2", concurrent_single_winner),
    Check("code.lifetime_bounded", "A code expires within the bound",
          "RFC 6749 §4.1.2", lifetime_bounded, slow=True),
)
FINAL_CHECKS = (
    Check("errors.no_secret_echo", "Error responses do not echo codes, verifiers or secrets",
          "RFC 6749 §10.3, §10.5", no_secret_echo, needs="metadata"),
)
