"""Tokens kept between CLI runs: one JSON file, mode 0600, keyed by issuer and client id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .core import TokenSet

__all__ = ["TokenCache", "default_path"]


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "proofkey" / "tokens.json"


class TokenCache:
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
        return f"{issuer} {client_id}"

    def get(self, issuer: str, client_id: str) -> TokenSet | None:
        entry = self._read().get(self.key(issuer, client_id))
        return TokenSet.from_json(entry) if isinstance(entry, dict) else None

    def put(self, issuer: str, client_id: str, tokens: TokenSet) -> None:
        data = self._read()
        data[self.key(issuer, client_id)] = tokens.to_json()
        self._write(data)

    def remove(self, issuer: str, client_id: str) -> bool:
        data = self._read()
        if data.pop(self.key(issuer, client_id), None) is None:
            return False
        self._write(data)
        return True

    def entries(self) -> list[tuple[str, str]]:
        return [tuple(k.split(" ", 1)) for k in self._read()]  # type: ignore[misc]
