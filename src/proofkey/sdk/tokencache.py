"""Tokens kept between CLI runs: one JSON file, mode 0600, keyed by issuer and client id; the
DPoP key of each entry in its own 0600 file beside it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .core import TokenSet

__all__ = ["TokenCache", "default_path"]


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/proofkey/tokens.json`` (``~/.config/...`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "proofkey" / "tokens.json"


class TokenCache:
    """Token sets kept between runs of a tool, keyed by issuer and client id, in one JSON file
    written atomically with mode 0600 (its directory 0700). ``proofkey login`` uses it.
    Each entry keeps its token type and, for a DPoP token, its key's thumbprint
    (``dpop_jkt``); the key itself is in ``dpop_key_path(issuer, client_id)``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, self.path)

    @staticmethod
    def key(issuer: str, client_id: str) -> str:
        """The entry name of one issuer and client."""
        return f"{issuer} {client_id}"

    def dpop_key_path(self, issuer: str, client_id: str) -> Path:
        """Where the DPoP key of one issuer and client is kept, beside the token file (one
        key per entry, so two providers never see the same key)."""
        tag = hashlib.sha256(self.key(issuer, client_id).encode()).hexdigest()[:16]
        return self.path.with_name(f"dpop-{tag}.jwk")

    def get(self, issuer: str, client_id: str) -> TokenSet | None:
        """The stored token set, or None (also when the file is missing or unreadable)."""
        entry = self._read().get(self.key(issuer, client_id))
        return TokenSet.from_json(entry) if isinstance(entry, dict) else None

    def put(self, issuer: str, client_id: str, tokens: TokenSet) -> None:
        """Store (replace) the token set; after a refresh, store the new one: the old refresh
        token no longer works."""
        data = self._read()
        data[self.key(issuer, client_id)] = tokens.to_json()
        self._write(data)

    def remove(self, issuer: str, client_id: str) -> bool:
        """Forget the entry and its DPoP key; False if there was no entry."""
        with contextlib.suppress(FileNotFoundError):
            self.dpop_key_path(issuer, client_id).unlink()
        data = self._read()
        if data.pop(self.key(issuer, client_id), None) is None:
            return False
        self._write(data)
        return True

    def entries(self) -> list[tuple[str, str]]:
        """(issuer, client id) of every stored entry."""
        return [tuple(k.split(" ", 1)) for k in self._read()]  # type: ignore[misc]
