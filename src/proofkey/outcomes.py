"""The closed value sets that cross layers: grant types, token-exchange outcomes, and the
problems of authorization-request parameters (docs/metrics.md M1, M4).

Flows produce these values, events carry them, and metrics, the audit log and traces read
them; each set is a ``Literal``, so mypy refuses a value that is not in it, and the runtime
sets below are derived from the same ``Literal`` with ``get_args`` (one list, never two).
Standard library only: every layer above ``protocol/`` may import it.
"""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

__all__ = [
    "GRANT_TYPES",
    "METADATA_OUTCOMES",
    "PARAMETERS",
    "PARAM_PROBLEMS",
    "TOKEN_OUTCOMES",
    "UPSTREAM_OUTCOMES",
    "ChallengeProblem",
    "FetchProblem",
    "GrantRefusal",
    "GrantType",
    "MetadataOutcome",
    "ParamProblem",
    "Parameter",
    "StateProblem",
    "TokenErrorOutcome",
    "TokenOutcome",
    "UpstreamOutcome",
    "error_outcome",
    "is_grant_type",
]

GrantType = Literal["authorization_code", "refresh_token", "client_credentials",
                    "urn:ietf:params:oauth:grant-type:device_code"]

# Why a grant refused with invalid_grant (RFC 6749 §5.2): every InvalidGrant names one.
GrantRefusal = Literal[
    "verifier_mismatch", "code_invalid", "code_expired", "code_reused", "client_mismatch",
    "redirect_uri_mismatch",
    "refresh_invalid", "refresh_reused", "refresh_expired",
    "device_invalid", "device_reused",
    "dpop_key_mismatch",  # RFC 9449: the code or refresh token is bound to another key
]
# Any other refusal of a token request counts as its error code (client-authentication
# failures all as invalid_client; the audit line keeps the exact reason).
TokenErrorOutcome = Literal[
    "invalid_client", "invalid_request", "invalid_grant", "invalid_scope", "unauthorized_client",
    "unsupported_grant_type", "server_error", "temporarily_unavailable", "expired_token",
    "access_denied", "slow_down", "invalid_dpop_proof", "use_dpop_nonce",
]
# M1: one value per token request. "other" is an error code outside TokenErrorOutcome.
TokenOutcome = Literal["success", GrantRefusal, TokenErrorOutcome, "other"]

# M4: what was wrong with an authorization request's parameters.
Parameter = Literal["code_challenge", "state", "redirect_uri"]
ChallengeProblem = Literal["missing", "truncated", "malformed", "method_missing",
                           "method_plain", "method_unsupported"]
StateProblem = Literal["too_long", "double_encoded", "mangled"]
ParamProblem = Literal[ChallengeProblem, StateProblem, "rejected"]

# Why a client ID metadata document could not be fetched (docs/client-metadata-documents.md).
FetchProblem = Literal["address_refused", "dns", "connect", "tls", "timeout", "redirect",
                       "status", "too_large", "not_json"]
# One value per metadata-document fetch: a usable client, a document refused by a rule, or
# why it could not be fetched.
MetadataOutcome = Literal["fetched", "refused", FetchProblem]

GRANT_TYPES: frozenset[GrantType] = frozenset(get_args(GrantType))
TOKEN_OUTCOMES: frozenset[TokenOutcome] = frozenset(get_args(TokenOutcome))
PARAMETERS: frozenset[Parameter] = frozenset(get_args(Parameter))
PARAM_PROBLEMS: frozenset[ParamProblem] = frozenset(get_args(ParamProblem))
METADATA_OUTCOMES: frozenset[MetadataOutcome] = frozenset(get_args(MetadataOutcome))

_ERROR_OUTCOMES: dict[str, TokenErrorOutcome] = {
    code: code for code in get_args(TokenErrorOutcome)}


def is_grant_type(value: str | None) -> TypeGuard[GrantType]:
    return value in GRANT_TYPES


def error_outcome(error: str) -> TokenErrorOutcome | Literal["other"]:
    """The M1 outcome of a token request refused with the RFC error code ``error``."""
    return _ERROR_OUTCOMES.get(error, "other")


# The upstream leg of a connector login (docs/federation.md): how its code exchange ended.
UpstreamOutcome = Literal["success", "denied", "verifier_mismatch", "mix_up",
                          "invalid_id_token", "invalid_response", "unavailable", "no_pkce"]
UPSTREAM_OUTCOMES: frozenset[str] = frozenset(get_args(UpstreamOutcome))

# Why a DPoP proof (RFC 9449) was refused: the label of proofkey_dpop_failures_total.
DpopRefusal = Literal["missing", "malformed", "typ", "alg", "jwk", "signature", "htm", "htu",
                      "iat", "ath", "nonce", "replay", "key_mismatch"]
DPOP_REFUSALS: frozenset[str] = frozenset(get_args(DpopRefusal))
