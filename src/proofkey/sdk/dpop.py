"""The client's side of DPoP (RFC 9449): a proof-of-possession key, the proofs it signs, and
the key kept on disk between runs (a private JWK, mode 0600, written atomically).

A proof (§4.2) is a JWT with ``typ: dpop+jwt``, the public key in ``jwk``, a random ``jti``
(128 bits), ``iat``, ``htm``, ``htu`` (the target URI without query and fragment), ``ath``
when it goes with an access token (§7) and ``nonce`` when the server gave one (§8, §9).
Thumbprint, ``htu`` and ``ath`` come from ``proofkey.protocol.dpop``, the module the server
checks proofs with.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from proofkey.protocol.dpop import access_token_hash, jwk_thumbprint, normalize_htu

__all__ = ["ALGORITHMS", "DpopKey", "access_token_hash", "choose_algorithm",
           "load_or_create_key", "read_key", "write_key"]

# The algorithms this SDK can sign with, in the order it prefers them (ES256 first: small,
# fast, and the one every DPoP server accepts).
ALGORITHMS: tuple[str, ...] = ("ES256", "Ed25519", "EdDSA", "ES384", "ES512", "PS256", "RS256")
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_Key = ECKey | OKPKey | RSAKey


def choose_algorithm(advertised: Sequence[str]) -> str | None:
    """The first of ``ALGORITHMS`` the server lists in ``dpop_signing_alg_values_supported``,
    or None when it accepts none of them."""
    return next((alg for alg in ALGORITHMS if alg in advertised), None)


class DpopKey:
    """A client's DPoP key pair; ``proof()`` signs one proof. The private key never leaves it
    except through ``to_jwk()`` (for ``write_key``); ``repr`` shows only the thumbprint."""

    def __init__(self, key: _Key, alg: str) -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported DPoP algorithm {alg!r}")
        if not key.is_private:
            raise ValueError("a DPoP key needs its private part")
        self._key = key
        self.alg = alg
        self.public_jwk: dict[str, Any] = dict(key.as_dict(private=False))
        for member in ("kid", "use", "key_ops", "alg"):
            self.public_jwk.pop(member, None)
        self.thumbprint = jwk_thumbprint(self.public_jwk)  # RFC 7638: the token's cnf.jkt

    @classmethod
    def generate(cls, alg: str = "ES256") -> DpopKey:
        """A fresh key for ``alg`` (P-256 for ES256, Ed25519 for EdDSA, RSA 2048 for RS/PS)."""
        key: _Key
        if alg in _CURVES:
            key = ECKey.generate_key(_CURVES[alg], private=True)
        elif alg in ("Ed25519", "EdDSA"):
            key = OKPKey.generate_key("Ed25519", private=True)
        elif alg in ("PS256", "RS256"):
            key = RSAKey.generate_key(2048, private=True)
        else:
            raise ValueError(f"unsupported DPoP algorithm {alg!r}")
        return cls(key, alg)

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> DpopKey:
        """The key from a private JWK as ``to_jwk()`` wrote it (its ``alg`` member says which
        algorithm it signs with); ValueError when it is not one."""
        alg = data.get("alg")
        kty = data.get("kty")
        if not isinstance(alg, str) or kty not in ("EC", "OKP", "RSA"):
            raise ValueError("not a DPoP key: alg or kty is missing")
        try:
            key: _Key = (ECKey.import_key(dict(data)) if kty == "EC" else
                         OKPKey.import_key(dict(data)) if kty == "OKP" else
                         RSAKey.import_key(dict(data)))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a DPoP key: {type(exc).__name__}") from None
        curve = _CURVES.get(alg) or ("Ed25519" if alg in ("Ed25519", "EdDSA") else None)
        if data.get("crv") != curve:  # RSA keys have none
            raise ValueError("not a DPoP key: the curve does not fit alg")
        return cls(key, alg)

    def to_jwk(self) -> dict[str, Any]:
        """The private JWK with ``alg``, for ``write_key``; treat it as a secret."""
        return {**self._key.as_dict(private=True), "alg": self.alg}

    def proof(self, method: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None, now: float | None = None) -> str:
        """A DPoP proof for one request (RFC 9449 §4.2); a new ``jti`` every time."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16), "htm": method.upper(), "htu": normalize_htu(url),
            "iat": int(now if now is not None else time.time())}
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk}
        payload = json.dumps(claims, separators=(",", ":")).encode()
        if self.alg != "EdDSA":
            return jws.serialize_compact(header, payload, self._key, algorithms=[self.alg])
        with warnings.catch_warnings():  # RFC 9864 prefers "Ed25519"; the server chose this
            warnings.simplefilter("ignore", SecurityWarning)
            return jws.serialize_compact(header, payload, self._key, algorithms=[self.alg])

    def __repr__(self) -> str:
        return f"DpopKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"


def read_key(path: Path) -> DpopKey | None:
    """The key stored at ``path``, or None when there is none or it is unreadable."""
    try:
        return DpopKey.from_jwk(json.loads(path.read_text()))
    except (OSError, ValueError, AttributeError):
        return None


def write_key(path: Path, key: DpopKey) -> None:
    """Store the private JWK at ``path``, atomically and never readable by others: it is
    written to a new file created with mode 0600 in the same folder (made 0700 if missing),
    then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:  # mkstemp creates the file O_EXCL with mode 0600
        with os.fdopen(fd, "w") as fh:
            json.dump(key.to_jwk(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_or_create_key(path: Path, algorithms: Sequence[str]) -> DpopKey:
    """The key at ``path`` when the server accepts its algorithm; otherwise a new key for the
    best algorithm in ``algorithms``, stored at ``path`` for later runs."""
    key = read_key(path)
    if key is not None and key.alg in algorithms:
        return key
    alg = choose_algorithm(algorithms)
    if alg is None:
        raise ValueError("the server accepts none of the DPoP algorithms this client has")
    key = DpopKey.generate(alg)
    write_key(path, key)
    return key
