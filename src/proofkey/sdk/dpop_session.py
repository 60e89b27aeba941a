"""What one SDK client keeps for DPoP (RFC 9449): whether to use it, its key, the latest
nonce of each server, and which access tokens it holds are DPoP-bound.

Policy, in one place:
- ``auto`` (the default): DPoP when the provider advertises an algorithm this SDK signs with
  (``dpop_signing_alg_values_supported``), plain Bearer otherwise. A provider that advertises
  DPoP may still answer ``token_type: Bearer`` (for a client it does not bind, say): RFC 9449
  §5 lets the client learn support from ``token_type``, so the SDK accepts the Bearer token
  and sends it as Bearer. ``required`` refuses that answer and a provider without DPoP;
  ``off`` never sends a proof.
- A ``DPoP`` token_type is accepted only when a proof went with the request.
- A DPoP-bound token is only ever sent with a proof from its own key, never as Bearer.
- ``use_dpop_nonce`` (§8, §9): the request is retried once with the nonce the server gave;
  the latest nonce of each server (origin) is kept for the next proof.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from .core import OAuthClientError, ProviderMetadata, TokenSet
from .dpop import DpopKey, choose_algorithm, load_or_create_key, read_key

__all__ = ["DpopMode", "DpopSession"]

DpopMode = Literal["auto", "off", "required"]
_REMEMBERED_TOKENS = 64


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DpopSession:
    """DPoP state of one client. ``key`` is a ``DpopKey``, a path where the key is kept
    between runs (created on first use, mode 0600), or None for a key in memory only."""

    def __init__(self, mode: DpopMode = "auto", key: DpopKey | Path | None = None) -> None:
        if mode not in ("auto", "off", "required"):
            raise ValueError("dpop must be 'auto', 'off' or 'required'")
        self.mode: DpopMode = mode
        self.key: DpopKey | None = key if isinstance(key, DpopKey) else None
        self.key_path = key if isinstance(key, Path) else None
        self.nonces: dict[str, str] = {}
        self._bound: OrderedDict[str, str] = OrderedDict()  # token digest -> jkt

    def key_for(self, metadata: ProviderMetadata) -> DpopKey | None:
        """The key to sign token requests with, or None when DPoP is not used here."""
        if self.mode == "off":
            return None
        if choose_algorithm(metadata.dpop_signing_algs) is None:
            if self.mode == "required":
                raise OAuthClientError("unsupported_provider",
                                       "the provider does not offer DPoP with an algorithm "
                                       "this client signs with")
            return None
        if self.key is None:
            try:
                self.key = (load_or_create_key(self.key_path, metadata.dpop_signing_algs)
                            if self.key_path is not None
                            else DpopKey.generate(choose_algorithm(
                                metadata.dpop_signing_algs) or "ES256"))
            except OSError as exc:
                raise OAuthClientError("dpop_key_unavailable",
                                       f"cannot keep the DPoP key: {exc.strerror}") from None
        if self.key.alg not in metadata.dpop_signing_algs:
            raise OAuthClientError("unsupported_provider",
                                   f"the provider does not accept this DPoP key ({self.key.alg})")
        return self.key

    def key_of(self, jkt: str | None) -> DpopKey:
        """The key DPoP-bound tokens need (their ``dpop_jkt``), even with DPoP ``off`` for new
        requests; refuses rather than send them without a proof or with another key."""
        if self.key is None and self.key_path is not None:
            self.key = read_key(self.key_path)
        if self.key is None or (jkt is not None and self.key.thumbprint != jkt):
            raise OAuthClientError("dpop_key_mismatch",
                                   "these tokens are bound to a DPoP key this client does not "
                                   "hold; sign in again")
        return self.key

    def proof(self, key: DpopKey, method: str, url: str,
              access_token: str | None = None) -> str:
        """A proof for one request, with the server's latest nonce if it gave one."""
        return key.proof(method, url, access_token=access_token,
                         nonce=self.nonces.get(_origin(url)))

    def remember_nonce(self, url: str, response: httpx.Response) -> str | None:
        """Keep the ``DPoP-Nonce`` a response carries (any status); return it."""
        nonce: str | None = response.headers.get("DPoP-Nonce")
        if nonce and nonce.isascii() and len(nonce) <= 1024:
            self.nonces[_origin(url)] = nonce
            return nonce
        return None

    def bind(self, tokens: TokenSet, key: DpopKey | None) -> TokenSet:
        """Check a token response against the request: ``DPoP`` only when a proof went with
        it; record the key's thumbprint. Bearer after a proof is refused only in ``required``."""
        if tokens.dpop_bound:
            if key is None:
                raise OAuthClientError("invalid_response", "the provider issued a DPoP token "
                                       "although this client sent no DPoP proof")
            self._bound[_digest(tokens.access_token)] = key.thumbprint
            while len(self._bound) > _REMEMBERED_TOKENS:
                self._bound.popitem(last=False)
            return dataclasses.replace(tokens, dpop_jkt=key.thumbprint)
        if key is not None and self.mode == "required":
            raise OAuthClientError("invalid_response", "the provider answered a Bearer token "
                                   "to a DPoP token request (dpop='required')")
        return dataclasses.replace(tokens, dpop_jkt=None)

    def binding_of(self, token: str | TokenSet) -> tuple[str, str | None] | None:
        """(access token, jkt) when the token is DPoP-bound, None for a Bearer token: a
        TokenSet says so itself; a bare string is DPoP-bound if this client received it so."""
        if isinstance(token, TokenSet):
            return (token.access_token, token.dpop_jkt) if token.dpop_bound else None
        jkt: str | None = self._bound.get(_digest(token))
        return (token, jkt) if jkt is not None else None
