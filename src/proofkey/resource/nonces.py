"""Resource-server-provided DPoP nonces (RFC 9449 §9, §8), optional.

Without a nonce, whoever controls a client can sign proofs ahead of time, dated in the future,
and use them later from elsewhere (RFC 9449 §11.2). With nonces on, every proof must carry a
nonce this resource handed out recently: a request without one, or with a stale one, is
answered 401 ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` with a ``DPoP-Nonce`` header,
and the client retries with it.

``RotatingNonces`` needs no shared state: a nonce is a time window and an HMAC of it under a
secret, valid in its window and the next one. Processes configured with the same ``secret``
accept each other's nonces; without one, a random secret is made per process. RFC 9449 §8:
"Nonce values MUST be unpredictable" — they are, to anyone without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["NonceSource", "RotatingNonces"]


class NonceSource(Protocol):
    """Hands out nonces and recognises recent ones."""

    def current(self) -> str:
        """The nonce clients should put in their next proofs."""
        ...

    def accepts(self, nonce: str) -> bool:
        """Whether ``nonce`` was handed out recently enough."""
        ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class RotatingNonces:
    """A new nonce every ``period`` seconds; a nonce is accepted for up to two periods."""

    def __init__(self, secret: bytes | None = None, *, period: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError("the nonce secret needs at least 16 bytes")
        if period < 1:
            raise ValueError("period must be at least one second")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.period = period
        self._clock = clock

    def _nonce(self, window: int) -> str:
        counter = window.to_bytes(8, "big")
        mac = hmac.new(self._secret, b"proofkey-dpop-nonce" + counter, hashlib.sha256)
        return _b64(counter) + "." + _b64(mac.digest()[:18])

    def _window(self) -> int:
        return int(self._clock()) // self.period

    def current(self) -> str:
        return self._nonce(self._window())

    def accepts(self, nonce: str) -> bool:
        if len(nonce) > 64:
            return False
        window = self._window()
        return any(hmac.compare_digest(nonce, self._nonce(w)) for w in (window, window - 1))
