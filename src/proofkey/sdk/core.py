"""The SDK's protocol logic without I/O: build requests, check callbacks, read responses.

Callback checks come first and in this order: ``state`` (CSRF, RFC 6749 §10.12), then ``iss``
(mix-up defence, RFC 9207 §2.4: a client that knows the server supports it "MUST" check the
parameter is present and equal to the issuer), then ``error``, and only then the code.
The device grant (RFC 8628) has its response shape and its polling schedule here too.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from proofkey.protocol import pkce

__all__ = [
    "AuthorizationRequest",
    "CallbackError",
    "DeviceAuthorizationResponse",
    "DevicePolling",
    "OAuthClientError",
    "ProviderMetadata",
    "TokenSet",
    "build_authorization_request",
    "check_callback",
    "check_same_subject",
    "end_session_url",
    "parse_device_authorization_response",
    "parse_token_response",
    "validate_id_token",
]

DEFAULT_DEVICE_INTERVAL = 5  # RFC 8628 §3.2: "If no value is provided, clients MUST use 5"
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: "the interval MUST be increased by 5 seconds"


class OAuthClientError(Exception):
    """The provider refused a request (RFC 6749 §5.2) or answered something unusable."""

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}" if description else error)


class CallbackError(OAuthClientError):
    """The redirect back to the client is not one this client may accept."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of RFC 8414 / OIDC Discovery metadata the SDK uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    revocation_endpoint: str | None = None
    pushed_authorization_request_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    iss_parameter_supported: bool = False
    code_challenge_methods: tuple[str, ...] = ()
    end_session_endpoint: str | None = None
    dpop_signing_algs: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], expected_issuer: str) -> ProviderMetadata:
        # RFC 8414 §3.3: the issuer in the metadata MUST be identical to the one asked for.
        if data.get("issuer") != expected_issuer:
            raise OAuthClientError("invalid_metadata", "issuer in metadata does not match")
        for name in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(data.get(name), str):
                raise OAuthClientError("invalid_metadata", f"{name} is missing")
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data.get("jwks_uri"),
            userinfo_endpoint=data.get("userinfo_endpoint"),
            revocation_endpoint=data.get("revocation_endpoint"),
            pushed_authorization_request_endpoint=data.get(
                "pushed_authorization_request_endpoint"),
            device_authorization_endpoint=data.get("device_authorization_endpoint"),
            iss_parameter_supported=data.get(
                "authorization_response_iss_parameter_supported") is True,
            code_challenge_methods=tuple(data.get("code_challenge_methods_supported") or ()),
            end_session_endpoint=data.get("end_session_endpoint"),
            dpop_signing_algs=_strings(data.get("dpop_signing_alg_values_supported")),
            raw=dict(data),
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One authorization attempt: the URL to open and the secrets to keep until the callback."""

    url: str
    state: str
    nonce: str | None
    code_verifier: str = field(repr=False)
    redirect_uri: str
    scope: str
    dpop_jkt: str | None = None  # the DPoP key the code is bound to (RFC 9449 §10)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What a token endpoint answered: the tokens (masked in ``repr``), when the access token
    expires (``expires_at``, epoch seconds) and, after a validated login, ``id_claims``.
    ``token_type`` is ``Bearer`` or ``DPoP``; a DPoP token names its key's thumbprint in
    ``dpop_jkt`` and is only ever sent with a proof from that key (RFC 9449 §7)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: int | None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    id_claims: Mapping[str, Any] | None = None
    dpop_jkt: str | None = None

    @property
    def dpop_bound(self) -> bool:
        """Whether the access token is DPoP-bound (then never send it as Bearer)."""
        return self.token_type == "DPoP"  # noqa: S105 (a token type, not a secret)

    def expired(self, now: float | None = None, leeway: int = 30) -> bool:
        """Whether the access token expires within ``leeway`` seconds (refresh before use)."""
        return self.expires_at is not None and (now or time.time()) + leeway >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        """The token set as JSON for ``TokenCache``; ``id_claims`` are not kept (the id_token
        itself is)."""
        return {"access_token": self.access_token, "token_type": self.token_type,
                "expires_at": self.expires_at, "refresh_token": self.refresh_token,
                "id_token": self.id_token, "scope": self.scope, "dpop_jkt": self.dpop_jkt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenSet:
        """The token set ``to_json`` wrote."""
        token_type = "DPoP" if str(data.get("token_type", "")).lower() == "dpop" else "Bearer"
        jkt = data.get("dpop_jkt")
        return cls(str(data["access_token"]), token_type,
                   data.get("expires_at"), data.get("refresh_token"), data.get("id_token"),
                   data.get("scope"), dpop_jkt=jkt if isinstance(jkt, str) else None)


def build_authorization_request(
    metadata: ProviderMetadata, client_id: str, redirect_uri: str, scope: str, *,
    verifier_length: int = 64, nonce: bool = True, extra: Mapping[str, str] | None = None,
) -> tuple[AuthorizationRequest, dict[str, str]]:
    """A fresh PKCE pair, state and nonce; returns the request and its parameters."""
    if metadata.code_challenge_methods and "S256" not in metadata.code_challenge_methods:
        raise OAuthClientError("unsupported_provider", "the provider does not offer PKCE S256")
    verifier = pkce.new_verifier(verifier_length)
    state = secrets.token_urlsafe(24)
    nonce_value = secrets.token_urlsafe(24) if nonce and "openid" in scope.split() else None
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state, "code_challenge": pkce.challenge_s256(verifier),
              "code_challenge_method": "S256"}
    if nonce_value:
        params["nonce"] = nonce_value
    params.update(extra or {})
    url = _with_query(metadata.authorization_endpoint, params)
    return AuthorizationRequest(url, state, nonce_value, verifier, redirect_uri, scope), params


def _with_query(endpoint: str, params: Mapping[str, str]) -> str:
    sep = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{sep}{urlencode(params)}"


def end_session_url(metadata: ProviderMetadata, client_id: str,
                    post_logout_redirect_uri: str | None = None,
                    state: str | None = None) -> str | None:
    """OIDC RP-Initiated Logout 1.0 §2: where to send the browser to end the provider's
    session, or None when the provider has no end_session_endpoint. It names the client by
    ``client_id`` rather than ``id_token_hint``, so no token ever travels in the URL."""
    if not metadata.end_session_endpoint:
        return None
    params = {"client_id": client_id}
    if post_logout_redirect_uri:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    if state:
        params["state"] = state
    return _with_query(metadata.end_session_endpoint, params)


def check_callback(url: str, request: AuthorizationRequest, metadata: ProviderMetadata) -> str:
    """Return the code from the redirect URL after checking state, iss and error."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    values = {k: v[0] for k, v in query.items() if len(v) == 1}
    if any(len(v) > 1 for v in query.values()):
        raise CallbackError("invalid_callback", "a parameter is repeated in the callback")
    state = values.get("state", "")
    if not hmac.compare_digest(state.encode(), request.state.encode()):
        raise CallbackError("state_mismatch", "the callback's state does not match this attempt")
    iss = values.get("iss")
    if iss is None and metadata.iss_parameter_supported:
        raise CallbackError("iss_missing", "the provider sends iss but this callback has none")
    if iss is not None and iss != metadata.issuer:
        raise CallbackError("iss_mismatch", "the callback comes from another issuer (mix-up)")
    if "error" in values:
        raise CallbackError(values["error"], values.get("error_description", ""))
    code = values.get("code")
    if not code:
        raise CallbackError("invalid_callback", "the callback has no code")
    return code


def parse_token_response(status: int, body: Any, now: float | None = None) -> TokenSet:
    if not isinstance(body, dict):
        raise OAuthClientError("invalid_response", "the token response is not JSON", status)
    if status != 200:
        raise OAuthClientError(str(body.get("error", "invalid_response")),
                               str(body.get("error_description", "")), status)
    token = body.get("access_token")
    token_type = {"bearer": "Bearer", "dpop": "DPoP"}.get(str(body.get("token_type", "")).lower())
    if not isinstance(token, str) or token_type is None:
        raise OAuthClientError("invalid_response", "no bearer or DPoP access token", status)
    expires_in = body.get("expires_in")
    expires_at = int((now or time.time()) + expires_in) if isinstance(expires_in, int) else None
    return TokenSet(token, token_type, expires_at, body.get("refresh_token"),
                    body.get("id_token"), body.get("scope"))


@dataclass(frozen=True, slots=True)
class DeviceAuthorizationResponse:
    """RFC 8628 §3.2: what the device shows the person, and the code it polls with."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int
    scope: str = ""


def parse_device_authorization_response(status: int, body: Any,
                                        scope: str = "") -> DeviceAuthorizationResponse:
    if not isinstance(body, dict):
        raise OAuthClientError("invalid_response", "the device authorization response is not "
                               "JSON", status)
    if status != 200:
        raise OAuthClientError(str(body.get("error", "invalid_response")),
                               str(body.get("error_description", "")), status)
    strings = [body.get(name) for name in ("device_code", "user_code", "verification_uri")]
    expires_in: Any = body.get("expires_in")
    interval: Any = body.get("interval", DEFAULT_DEVICE_INTERVAL)
    complete = body.get("verification_uri_complete")
    if (not all(isinstance(v, str) and v for v in strings) or not _positive(expires_in)
            or not _positive(interval) or not isinstance(complete, str | None)):
        raise OAuthClientError("invalid_response", "the device authorization response lacks "
                               "a field", status)
    return DeviceAuthorizationResponse(
        body["device_code"], body["user_code"], body["verification_uri"], complete,
        expires_in, interval, scope)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class DevicePolling:
    """The device's side of RFC 8628 §3.4–3.5: wait ``interval`` seconds before each poll, 5
    more after each ``slow_down``, keep going on ``authorization_pending`` and give up once
    the waits would outlast ``expires_in``."""

    def __init__(self, device: DeviceAuthorizationResponse) -> None:
        self.interval = device.interval
        self.remaining = device.expires_in

    def next_wait(self) -> int:
        """Seconds to sleep before the next poll; ``expired_token`` when the code is spent."""
        if self.interval > self.remaining:
            raise OAuthClientError("expired_token", "the code expired before it was approved")
        self.remaining -= self.interval
        return self.interval

    def answer(self, status: int, body: Any) -> TokenSet | None:
        """One poll's answer: the tokens, or None to poll again. Anything else, including
        ``access_denied`` and ``expired_token``, raises OAuthClientError."""
        error = body.get("error") if isinstance(body, dict) and status != 200 else None
        if error == "authorization_pending":
            return None
        if error == "slow_down":
            self.interval += SLOW_DOWN_STEP
            return None
        return parse_token_response(status, body)


def validate_id_token(
    id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str | None,
    now: float | None = None, leeway: int = 60,
) -> dict[str, Any]:
    """OIDC Core §3.1.3.7: signature, iss, aud, azp, exp, iat and nonce."""
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
    except (JoseError, ValueError, KeyError) as exc:
        raise OAuthClientError("invalid_id_token", f"signature check failed: {exc}") from None
    claims = dict(decoded.claims)
    current = now or time.time()
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    problems = [
        (claims.get("iss") != issuer, "iss does not match the issuer"),
        (client_id not in audiences, "aud does not contain the client id"),
        (len(audiences) > 1 and claims.get("azp") != client_id, "azp is not the client id"),
        (not isinstance(claims.get("exp"), int) or claims["exp"] + leeway < current,
         "the id_token has expired"),
        (not isinstance(claims.get("iat"), int), "iat is missing"),
        (nonce is not None and claims.get("nonce") != nonce, "nonce does not match"),
    ]
    for failed, message in problems:
        if failed:
            raise OAuthClientError("invalid_id_token", message)
    return claims


def _original_claims(tokens: TokenSet) -> Mapping[str, Any] | None:
    """The claims of the id_token a token set was issued with: as validated at login, or read
    back from the stored id_token (it was validated when it came; a cache keeps only the JWT)."""
    if tokens.id_claims is not None:
        return tokens.id_claims
    if tokens.id_token is None:
        return None
    try:
        payload = tokens.id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def check_same_subject(original: TokenSet, refreshed: Mapping[str, Any]) -> None:
    """OIDC Core §12.2: a refreshed id_token's "iss Claim Value MUST be the same as in the ID
    Token issued when the original authentication occurred, its sub Claim Value MUST be the
    same"; raise ``invalid_id_token`` otherwise."""
    before = _original_claims(original)
    if before is None:
        return
    for claim in ("iss", "sub"):
        if refreshed.get(claim) != before.get(claim):
            raise OAuthClientError(
                "invalid_id_token", f"the refreshed id_token's {claim} differs from the "
                "original id_token's; the new tokens were refused, keep the old ones")
