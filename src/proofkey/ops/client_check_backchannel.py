"""The checks of ``proofkey client-check`` on what a client does after the callback, on the
back channel: whether it follows the token endpoint's redirect to an unregistered URI, how
it uses rotated refresh tokens, and whether an issued token shows up in a later URL."""

from __future__ import annotations

from collections.abc import Iterable

from proofkey.ops.client_check_attempts import Attempt
from proofkey.ops.client_check_profiles import DECOY_PATH
from proofkey.ops.client_check_record import Exchange, Finding, shown

__all__ = ["check_redirects", "check_refresh", "check_token_urls"]


def check_redirects(exchanges: list[Exchange], attempts: list[Attempt]) -> Iterable[Finding]:
    owner = {r.code: a.number for a in attempts for r in a.redemptions}
    redirected = [e.seq for e in exchanges if e.path == "/token" and e.status == 307]
    for exchange in exchanges:
        if exchange.path != DECOY_PATH:
            continue
        sent = sorted({name for name, _ in (*exchange.query, *exchange.form)})
        yield Finding("redirect-not-followed", owner.get(exchange.params().get("code", "")),
                      f"followed the 307 of request #{redirected[0] if redirected else '?'} "
                      f"to {exchange.method} {DECOY_PATH} (an unregistered URI), sending "
                      f"{', '.join(sent) or 'nothing'}")


def check_refresh(exchanges: list[Exchange], attempts: list[Attempt]) -> Iterable[Finding]:
    owner: dict[str, int] = {}  # refresh token -> the attempt whose sign-in it descends from
    for attempt in attempts:
        for use in attempt.redemptions:
            if token := str((use.exchange.body or {}).get("refresh_token", "")):
                owner[token] = attempt.number
    replaced: dict[str, int] = {}  # old refresh token -> seq of the refresh that replaced it
    for exchange in exchanges:
        params = exchange.params()
        if exchange.path != "/token" or params.get("grant_type") != "refresh_token":
            continue
        used = params.get("refresh_token", "")
        if used in replaced:
            yield Finding("refresh-rotation", owner.get(used),
                          f"request #{exchange.seq} used refresh token {shown(used)}, replaced "
                          f"by a new one in request #{replaced[used]}")
        new = str((exchange.body or {}).get("refresh_token", ""))
        if exchange.status == 200 and new and new != used:
            replaced.setdefault(used, exchange.seq)
            if used in owner:
                owner[new] = owner[used]


def check_token_urls(exchanges: list[Exchange]) -> Iterable[Finding]:
    issued: set[str] = set()
    for exchange in exchanges:
        for name, value in exchange.url_values():
            if any(token in value for token in issued):
                yield Finding("token-in-url", None, f"a token issued earlier appeared in the "
                              f"URL of {exchange.method} {exchange.path} (as {name})")
        if exchange.path == "/token" and exchange.body:
            issued.update(str(exchange.body[k]) for k in ("access_token", "refresh_token",
                                                         "id_token") if exchange.body.get(k))
