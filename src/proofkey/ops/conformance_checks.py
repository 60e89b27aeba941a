"""The battery's checks of metadata and the authorization endpoint: discovery, a baseline
S256 flow, PKCE at the authorization request (RFC 7636 §4.2–4.4, RFC 9700 §2.1.1), redirect
URI matching (RFC 9700 §4.1.3, RFC 8252 §7.3) and the callback's state and iss (RFC 6749
§4.1.2, RFC 9207 §2).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from urllib.parse import urlsplit, urlunsplit

from proofkey.protocol import pkce

from .conformance_probe import Attempt, Probe, describe, lands_on, origin_of
from .verdicts import Check, Verdict, failed, passed, skipped, warned

__all__ = ["AUTHORIZATION_CHECKS", "CALLBACK_CHECKS", "METADATA_CHECKS", "variant_uri"]

_VARIANT_MARK = "pk_variant"


# --- metadata and the baseline flow ---------------------------------------------------------
async def discovery(p: Probe) -> Verdict:
    issuer = p.config.issuer
    parts = urlsplit(issuer)
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    path = parts.path.rstrip("/")
    urls = [f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            f"{origin}/.well-known/oauth-authorization-server{path}"]  # RFC 8414 §3.1
    answers = []
    for url in urls:
        response = await p.http.get(url, headers={"Accept": "application/json"})
        answers.append(str(response.status_code))
        try:
            data = response.json() if response.status_code == 200 else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            break
    else:
        return failed(tried=", ".join(urls), answers=", ".join(answers))
    missing = [k for k in ("authorization_endpoint", "token_endpoint")
               if not isinstance(data.get(k), str)]
    if missing:
        return failed(url=url, missing=", ".join(missing))
    p.use_metadata(data)
    if data.get("issuer") != issuer:  # RFC 8414 §3.3: MUST be identical
        return failed(url=url, issuer=f"metadata names {data.get('issuer')!r}")
    return passed(url=url, issuer="identical to the one asked for")


def _methods(p: Probe) -> list[str] | None:
    methods = p.raw_metadata.get("code_challenge_methods_supported")
    return [str(m) for m in methods] if isinstance(methods, list) else None


async def s256_advertised(p: Probe) -> Verdict:
    methods = _methods(p)
    if methods is None:
        return failed(code_challenge_methods_supported="absent")
    shown = ",".join(methods) or "(empty)"
    return (passed if "S256" in methods else failed)(code_challenge_methods_supported=shown)


async def plain_not_advertised(p: Probe) -> Verdict:
    methods = _methods(p)
    shown = "absent" if methods is None else ",".join(methods) or "(empty)"
    return (failed if methods and "plain" in methods else passed)(
        code_challenge_methods_supported=shown)


async def baseline(p: Probe) -> Verdict:
    attempt = await p.authorize("flow.baseline")
    if attempt.code is None:
        return failed(authorization=describe(attempt), **_refusal(p, attempt))
    reply = await p.redeem("flow.baseline", attempt)
    if not reply.ok:
        return failed(authorization="code issued", redemption=f"{reply.status} {reply.error}")
    p.baseline = (attempt, reply)
    issued = sorted(k for k in (reply.body or {}) if k.endswith("_token"))
    return passed(authorization=describe(attempt), redemption=f"{reply.status}",
                  issued=",".join(issued))


def _refusal(p: Probe, attempt: Attempt) -> dict[str, str]:
    """Why a well-formed request was refused as invalid: the provider's own public words, and
    a hint that something between browser and provider may have stripped or cut parameters
    (failure F2); PAR (RFC 9126), when advertised, keeps them off that path."""
    if attempt.query.get("error") != "invalid_request":
        return {}
    note = ("a well-formed S256 request sent through the browser was refused: were parameters "
            "lost on the way?")
    if isinstance(p.raw_metadata.get("pushed_authorization_request_endpoint"), str):
        note += " PAR (RFC 9126) is advertised and keeps them off that path"
    return {"error_description": attempt.query.get("error_description", "-")[:200],
            "note": note}


# --- PKCE at the authorization endpoint -----------------------------------------------------
def _refused(attempt: Attempt) -> Verdict | None:
    """A pass when no code came back; None when one did (the check goes on to redeem it)."""
    return None if attempt.code is not None else passed(answer=describe(attempt))


async def challenge_required(p: Probe) -> Verdict:
    label = "pkce.challenge_required"
    attempt = await p.authorize(label, code_challenge=None, code_challenge_method=None)
    if (verdict := _refused(attempt)) is not None:
        return verdict
    reply = await p.redeem(label, attempt, verifier=None)
    if not reply.ok:
        return warned(answer="code issued without code_challenge",
                      redemption=f"refused: {reply.status} {reply.error}")
    evidence = {"answer": "code issued without code_challenge",
                "redemption": "issued without code_verifier"}
    if p.config.client_secret is not None:  # RFC 9700 §2.1.1: RECOMMENDED for confidential
        return warned(**evidence, note="confidential client: PKCE is recommended, not required")
    return failed(**evidence)


async def plain_refused(p: Probe) -> Verdict:
    label = "pkce.plain_refused"
    plain = pkce.new_verifier()
    p.remember(plain)
    attempt = await p.authorize(label, code_challenge=plain, code_challenge_method="plain")
    if (verdict := _refused(attempt)) is not None:
        return verdict
    reply = await p.redeem(label, attempt, verifier=plain)
    if reply.ok:
        return failed(answer="code issued for code_challenge_method=plain",
                      redemption="issued for the plain verifier")
    return warned(answer="code issued for code_challenge_method=plain",
                  redemption=f"refused: {reply.status} {reply.error}")


async def method_required(p: Probe) -> Verdict:
    label = "pkce.method_required"
    attempt = await p.authorize(label, code_challenge_method=None)
    if (verdict := _refused(attempt)) is not None:
        return verdict
    # RFC 7636 §4.3: a missing method means plain, so the challenge itself is the verifier.
    reply = await p.redeem(label, attempt, verifier=attempt.challenge)
    if reply.ok:
        return failed(answer="code issued without code_challenge_method",
                      redemption="issued for the challenge used as a plain verifier")
    return warned(answer="code issued without code_challenge_method",
                  redemption=f"plain reading refused: {reply.status} {reply.error}")


async def malformed_challenge_refused(p: Probe) -> Verdict:
    label = "pkce.malformed_challenge_refused"
    digest = hashlib.sha256(pkce.new_verifier().encode()).digest()
    variants = {"too_short": "tooShort0123456789",  # RFC 7636 §4.2: 43 to 128 characters
                "padded_base64": base64.b64encode(digest).decode()}  # '=' is not unreserved
    evidence: dict[str, str] = {}
    issued = []
    for name, challenge in variants.items():
        attempt = await p.authorize(label, code_challenge=challenge)
        evidence[name] = describe(attempt)
        if attempt.code is not None:
            issued.append(name)
    return failed(**evidence) if issued else passed(**evidence)


# --- redirect URI matching -----------------------------------------------------------------
_VARIANTS = {
    "trailing_slash": "a slash added to the path",
    "extra_path": "a path segment added",
    "other_host": "the host moved under another domain",
    "other_scheme": "http and https swapped",
    "extra_query": "a query parameter added",
}


def variant_uri(registered: str, kind: str) -> str | None:
    """``registered`` changed in one way an exact-matching server refuses; None if n/a."""
    base, sep, query = registered.partition("?")
    parts = urlsplit(base)
    if kind == "trailing_slash":
        return None if base.endswith("/") else f"{base}/{sep}{query}"
    if kind == "extra_path":
        return f"{base.rstrip('/')}/pk-extra{sep}{query}"
    if kind == "extra_query":
        return f"{registered}{'&' if sep else '?'}{_VARIANT_MARK}=1"
    if kind == "other_scheme":
        swapped = {"http": "https", "https": "http"}.get(parts.scheme)
        return None if swapped is None else f"{swapped}{registered[len(parts.scheme):]}"
    host = parts.hostname
    if not host or parts.scheme not in {"http", "https"}:
        return None
    other = "attacker.example" if ":" in host else f"{host}.attacker.example"
    netloc = other + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _reached(redirect: str, variant: str, kind: str) -> bool:
    if not lands_on(redirect, variant):
        return False
    return kind != "extra_query" or _VARIANT_MARK in urlsplit(redirect).query


def _variant_check(kind: str) -> Check:
    check_id = f"redirect_uri.{kind}_refused"

    async def run(p: Probe) -> Verdict:
        uri = variant_uri(p.config.redirect_uri, kind)
        if uri is None:
            return skipped(f"no {kind.replace('_', ' ')} variant of this redirect URI")
        attempt = await p.authorize(check_id, redirect_uri=uri)
        redirect = attempt.outcome.redirect
        if redirect is not None and _reached(redirect, uri, kind):
            return failed(variant=_VARIANTS[kind], answer=describe(attempt))
        if redirect is not None and lands_on(redirect, p.config.redirect_uri):
            return passed(variant=_VARIANTS[kind], answer="sent to the registered URI instead")
        return passed(variant=_VARIANTS[kind], answer=describe(attempt))

    return Check(check_id, f"Redirect URI with {_VARIANTS[kind]} is refused",
                 "RFC 9700 §4.1.3; RFC 6749 §4.1.2.1", run)


async def loopback_any_port(p: Probe) -> Verdict:
    parts = urlsplit(p.config.redirect_uri)
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        return skipped("the redirect URI is not an http loopback IP literal")
    if p.config.client_secret is not None:
        return skipped("a confidential client: RFC 8252 §7.3 is for native (public) clients")
    taken = {parts.port, origin_of(p.config.issuer)[2]}
    port = next(n for n in (51763, 51764, 51765) if n not in taken)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    uri = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))
    attempt = await p.authorize("redirect_uri.loopback_any_port", redirect_uri=uri)
    if attempt.code is None:
        return failed(port=port, answer=describe(attempt))
    reply = await p.redeem("redirect_uri.loopback_any_port", attempt)
    if not reply.ok:
        return failed(port=port, answer="code issued", redemption=f"{reply.status} {reply.error}")
    return passed(port=port, answer="code issued", redemption="issued")


# --- the callback ----------------------------------------------------------------------------
def _some(labels: set[str], total: int) -> str:
    """``labels`` (the checks whose redirects were wrong), at most three of them named."""
    names = sorted(labels)
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return f"{len(names)} of {total} checks: {shown}"


def _summary(attempts: list[Attempt]) -> str:
    codes = sum(1 for a in attempts if "code" in a.query)
    return f"{len(attempts)} redirects ({codes} with a code, {len(attempts) - codes} without)"


async def state_echoed(p: Probe) -> Verdict:
    if not p.redirects:
        return skipped("no redirect came back to the client")
    wrong = {a.label for a in p.redirects if a.query.get("state") != a.state}
    if wrong:
        total = len({a.label for a in p.redirects})
        return failed(checked=_summary(p.redirects), altered_or_missing_in=_some(wrong, total))
    return passed(checked=_summary(p.redirects), state="byte-exact, with \" +/?&=%#\" in it")


async def iss_present(p: Probe) -> Verdict:
    if not p.redirects:
        return skipped("no redirect came back to the client")
    advertised = p.raw_metadata.get("authorization_response_iss_parameter_supported") is True
    missing = {a.label for a in p.redirects if "iss" not in a.query}
    wrong = {a.label for a in p.redirects
             if "iss" in a.query and a.query["iss"] != p.config.issuer}
    total = len({a.label for a in p.redirects})
    evidence: dict[str, str | int | bool] = {"checked": _summary(p.redirects),
                                             "advertised": advertised}
    if missing:
        evidence["missing_in"] = _some(missing, total)
    if wrong:
        evidence["wrong_in"] = _some(wrong, total)
    if missing or wrong:
        return failed(**evidence)
    if not advertised:  # RFC 9207 §3: clients learn from metadata that they must check iss
        return warned(**evidence, note="iss sent but not advertised in metadata")
    return passed(**evidence)


METADATA_CHECKS = (
    Check("metadata.discovery", "Metadata is published and names the issuer",
          "RFC 8414 §3.3; OIDC Discovery §4.3", discovery, needs="nothing"),
    Check("metadata.s256_advertised", "S256 is advertised", "RFC 8414 §2; RFC 9700 §2.1.1",
          s256_advertised, needs="metadata"),
    Check("metadata.plain_not_advertised", "plain is not advertised",
          "RFC 9700 §2.1.1; RFC 7636 §7.2", plain_not_advertised, needs="metadata"),
    Check("flow.baseline", "An S256 code flow completes", "RFC 7636 §4.5-4.6",
          baseline, needs="metadata"),
)
AUTHORIZATION_CHECKS = (
    Check("pkce.challenge_required", "A request without code_challenge is refused",
          "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1", challenge_required),
    Check("pkce.plain_refused", "code_challenge_method=plain is refused",
          "RFC 9700 §2.1.1; RFC 7636 §7.2", plain_refused),
    Check("pkce.method_required", "A request without code_challenge_method is refused",
          "RFC 7636 §4.3; RFC 9700 §2.1.1", method_required),
    Check("pkce.malformed_challenge_refused", "A malformed code_challenge is refused",
          "RFC 7636 §4.2", malformed_challenge_refused),
    *(_variant_check(kind) for kind in _VARIANTS),
    Check("redirect_uri.loopback_any_port", "A loopback redirect URI may use any port",
          "RFC 8252 §7.3", loopback_any_port),
)
CALLBACK_CHECKS = (
    Check("authz.state_echoed", "state comes back byte-exact", "RFC 6749 §4.1.2",
          state_echoed),
    Check("authz.iss_present", "iss is in every authorization response and is the issuer",
          "RFC 9207 §2", iss_present),
)
