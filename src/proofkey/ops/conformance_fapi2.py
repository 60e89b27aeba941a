"""``proofkey check --profile fapi2``: the FAPI 2.0 Security Profile (Final) checks that need
no credentials, for any provider: what its metadata advertises (PAR, DPoP, private_key_jwt,
``iss``, S256 only) and two live probes with the configured client — an authorization request
sent without PAR, and a pushed request without client authentication, must both be refused.

The live probes never sign in: a provider that answers a non-PAR request with its login page
(or a code) has accepted it, which is the failure. Checks that need a signed client assertion
or a DPoP key (the full flow) are left to an RP test (``tests/interop``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from proofkey.protocol import pkce

from .conformance_checks import METADATA_CHECKS
from .conformance_probe import Probe, lands_on, origin_of
from .verdicts import Check, Verdict, failed, passed, warned

__all__ = ["FAPI2_BATTERY", "FAPI2_CHECKS"]

_FAPI_ALGS = frozenset({"PS256", "ES256", "EdDSA"})  # FAPI 2.0 SP §5.4.1
_HOPS = 6  # redirects followed inside the provider before deciding


def _strings(value: object) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None


def _shown(values: Sequence[str] | None) -> str:
    return "absent" if values is None else ",".join(values) or "(empty)"


def _alg_verdict(name: str, algs: list[str] | None, *, hmac_elsewhere: bool = False) -> Verdict:
    """An algorithm list under FAPI 2.0 SP §5.4.1: PS256, ES256 or EdDSA; never none, nor HMAC
    (a shared secret proves no key possession) — unless ``hmac_elsewhere``: the list is
    shared with client_secret_jwt, whose HMAC algorithms only warn."""
    if not algs:
        return failed(**{name: _shown(algs)})
    broken = [a for a in algs if a.lower() == "none" or (
        a.upper().startswith("HS") and not hmac_elsewhere)]
    if broken:
        return failed(**{name: _shown(algs), "refused": ",".join(broken)})
    if not _FAPI_ALGS & set(algs):
        return failed(**{name: _shown(algs), "note": "none of PS256, ES256, EdDSA"})
    others = [a for a in algs if a not in _FAPI_ALGS]
    if others:
        return warned(**{name: _shown(algs), "note": f"{','.join(others)} is not a FAPI 2.0 "
                         "algorithm (§5.4.1); a fapi2 client should be held to the others"})
    return passed(**{name: _shown(algs)})


# --- metadata ---------------------------------------------------------------------------------
async def par_endpoint(p: Probe) -> Verdict:
    endpoint = p.raw_metadata.get("pushed_authorization_request_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return failed(pushed_authorization_request_endpoint=str(endpoint or "absent"))
    return passed(pushed_authorization_request_endpoint="advertised")


async def par_required(p: Probe) -> Verdict:
    value = p.raw_metadata.get("require_pushed_authorization_requests")
    if value is True:
        return passed(require_pushed_authorization_requests=True)
    # FAPI issue 666: a server serving other clients too may require PAR per client instead;
    # fapi2.authorize_without_par checks the configured client.
    return warned(require_pushed_authorization_requests=str(value).lower() if value is not None
                  else "absent", note="PAR is not required server-wide; it must be for the "
                  "FAPI clients (see fapi2.authorize_without_par)")


async def dpop_algs(p: Probe) -> Verdict:
    return _alg_verdict("dpop_signing_alg_values_supported",
                        _strings(p.raw_metadata.get("dpop_signing_alg_values_supported")))


async def private_key_jwt(p: Probe) -> Verdict:
    methods = _strings(p.raw_metadata.get("token_endpoint_auth_methods_supported"))
    if not methods or "private_key_jwt" not in methods:
        return failed(token_endpoint_auth_methods_supported=_shown(methods))
    algs = _strings(p.raw_metadata.get("token_endpoint_auth_signing_alg_values_supported"))
    if algs is None:
        return Verdict("warn", {"token_endpoint_auth_methods_supported": _shown(methods),
                                "token_endpoint_auth_signing_alg_values_supported": "absent"})
    verdict = _alg_verdict("token_endpoint_auth_signing_alg_values_supported", algs,
                           hmac_elsewhere="client_secret_jwt" in methods)
    return Verdict(verdict.result, {"token_endpoint_auth_methods_supported": _shown(methods),
                                    **verdict.evidence})


async def iss_parameter(p: Probe) -> Verdict:
    value = p.raw_metadata.get("authorization_response_iss_parameter_supported")
    return (passed if value is True else failed)(
        authorization_response_iss_parameter_supported=str(value).lower()
        if value is not None else "absent")


async def s256_only(p: Probe) -> Verdict:
    methods = _strings(p.raw_metadata.get("code_challenge_methods_supported"))
    return (passed if methods == ["S256"] else failed)(
        code_challenge_methods_supported=_shown(methods))


async def code_only(p: Probe) -> Verdict:
    types = _strings(p.raw_metadata.get("response_types_supported"))
    if types == ["code"]:
        return passed(response_types_supported="code")
    if types is None or "code" not in types:
        return failed(response_types_supported=_shown(types))
    return warned(response_types_supported=_shown(types),
                  note="other response types must be refused for FAPI clients")


# --- live probes ------------------------------------------------------------------------------
def _request(p: Probe) -> dict[str, str]:
    verifier = pkce.new_verifier()
    p.remember(verifier)
    params = {"response_type": "code", "client_id": p.config.client_id,
              "redirect_uri": p.config.redirect_uri, "scope": p.config.scope,
              "state": secrets.token_urlsafe(12),
              "code_challenge": pkce.challenge_s256(verifier), "code_challenge_method": "S256"}
    if "openid" in p.config.scope.split():
        params["nonce"] = secrets.token_urlsafe(16)
    return params


async def authorize_without_par(p: Probe) -> Verdict:
    """FAPI 2.0 SP §5.3.2.2: "shall reject authorization requests sent without [RFC9126]"."""
    endpoint = p.metadata.authorization_endpoint
    url = f"{endpoint}{'&' if urlsplit(endpoint).query else '?'}{urlencode(_request(p))}"
    origins = p.provider_origins()
    response = await p.http.get(url)
    for _ in range(_HOPS):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or location is None:
            break
        target = urljoin(str(response.url), location)
        if lands_on(target, p.config.redirect_uri):
            answer = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
            if "code" in answer:
                p.remember(answer["code"])
                return failed(answer="a code came back for a request sent without PAR")
            return (passed if "error" in answer else warned)(
                answer=f"redirect to redirect_uri error={answer.get('error', '-')}")
        if origin_of(target) not in origins:
            return warned(answer=f"redirect out of the provider to {origin_of(target)[1]}")
        response = await p.http.get(target)
    status = response.status_code
    if status >= 400:
        return passed(answer=f"page {status}")
    if status == 200 and ('type="password"' in response.text or "<form" in response.text):
        return failed(answer=f"page {status} with a form: the provider began a sign-in for a "
                      "request sent without PAR")
    return warned(answer=f"{status}: could not tell whether the request was accepted")


async def par_without_client_auth(p: Probe) -> Verdict:
    """FAPI 2.0 SP §5.3.2.2: "shall reject pushed authorization requests without client
    authentication" (here: client_id alone, no assertion, no secret)."""
    endpoint = p.raw_metadata.get("pushed_authorization_request_endpoint")
    if not isinstance(endpoint, str):
        return failed(pushed_authorization_request_endpoint="absent")
    response = await p.http.post(endpoint, data=_request(p),
                                 headers={"Accept": "application/json"})
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code in (200, 201) and isinstance(body, dict) and "request_uri" in body:
        return failed(answer=f"{response.status_code}: a request_uri for an unauthenticated "
                      "client")
    if response.status_code >= 400:
        return passed(answer=f"{response.status_code} {error or '-'}")
    return warned(answer=f"{response.status_code}: neither a request_uri nor an error")


_SP = "FAPI 2.0 SP"
FAPI2_CHECKS = (
    Check("fapi2.par_endpoint", "A PAR endpoint is advertised", f"{_SP} §5.3.2.2; RFC 9126 §5",
          par_endpoint, needs="metadata"),
    Check("fapi2.par_required", "PAR is required server-wide",
          f"{_SP} §5.3.2.2; RFC 9126 §5", par_required, needs="metadata"),
    Check("fapi2.dpop_algs", "DPoP is advertised with FAPI algorithms",
          f"{_SP} §5.3.2.1, §5.4.1; RFC 9449 §5.1", dpop_algs, needs="metadata"),
    Check("fapi2.private_key_jwt", "private_key_jwt is advertised with FAPI algorithms",
          f"{_SP} §5.3.2.1, §5.4.1; OIDC Core §9", private_key_jwt, needs="metadata"),
    Check("fapi2.iss_parameter", "iss in authorization responses is advertised",
          f"{_SP} §5.3.2.2; RFC 9207 §3", iss_parameter, needs="metadata"),
    Check("fapi2.s256_only", "S256 is the only code challenge method advertised",
          f"{_SP} §5.3.2.2; RFC 7636", s256_only, needs="metadata"),
    Check("fapi2.code_only", "response_type code only", f"{_SP} §5.3.2.2", code_only,
          needs="metadata"),
    Check("fapi2.authorize_without_par", "An authorization request without PAR is refused",
          f"{_SP} §5.3.2.2", authorize_without_par, needs="metadata"),
    Check("fapi2.par_without_client_auth", "A pushed request without client authentication "
          "is refused", f"{_SP} §5.3.2.2", par_without_client_auth, needs="metadata"),
)
# The battery run for --profile fapi2: discovery first (it reads the metadata), then these.
FAPI2_BATTERY = (*(c for c in METADATA_CHECKS if c.id == "metadata.discovery"), *FAPI2_CHECKS)
