"""AES-GCM sealing for the two secrets the upstream leg must be able to read back.

1. An upstream client secret added by ``proofkey connector add`` is stored in the database
   sealed with the connector key: 32 random bytes in ``<data_dir>/connector-secrets.key``
   (created 0600 on first use). The database alone does not reveal it; every instance that
   serves the connector needs the same key file (or takes the secret from TOML + environment).
2. An upstream transaction (verifier, nonce, pending request handle) is sealed with a key
   derived from the browser's cookie secret AND the transaction's ``state`` (HKDF-SHA256), and
   stored under the digest of the state. Neither the database, nor the state in the upstream
   response (which leaks where codes leak), nor the cookie alone opens it: the PKCE verifier is
   only usable by the browser that started the login, once.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEY_FILE", "SealError", "connector_key", "open_json", "seal_json",
           "transaction_key"]

KEY_FILE = "connector-secrets.key"
_NONCE = 12


class SealError(Exception):
    """A sealed value does not open with this key (tampered, or another key)."""


def connector_key(data_dir: Path, *, create: bool = False) -> bytes:
    """The connector key of ``data_dir``; made (0600) when ``create`` and missing."""
    path = data_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise SealError(f"no connector key at {path}")
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    try:
        key = base64.urlsafe_b64decode(path.read_text().strip())
    except ValueError:
        raise SealError(f"{path} is not a connector key") from None
    if len(key) != 32:
        raise SealError(f"{path} is not a connector key")
    return key


def transaction_key(browser_secret: str, state: str) -> bytes:
    """The key of one upstream transaction: HKDF over the browser secret and the state."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=state.encode(),
                info=b"proofkey upstream transaction").derive(browser_secret.encode())


def seal_json(key: bytes, value: Any, *, purpose: str) -> str:
    """``value`` as JSON, encrypted and authenticated (``purpose`` is bound as AAD)."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(value).encode(), purpose.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_json(key: bytes, sealed: str, *, purpose: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
        return json.loads(plain)
    except (InvalidTag, ValueError):
        raise SealError("the sealed value does not open") from None
