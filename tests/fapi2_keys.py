"""A fapi2 client's public keys, for tests that register one: private_key_jwt clients need a
JWK Set once the registration takes keys (``build_client(jwks=...)``, ``client add --jwks``);
before that there is nowhere to put them and nothing asks for them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from joserfc.jwk import ECKey

from proofkey.flows.admin import build_client

__all__ = ["TAKES_KEYS", "cli_key_args", "key_kwargs", "public_jwks"]

TAKES_KEYS = "jwks" in inspect.signature(build_client).parameters


def public_jwks() -> str:
    key = ECKey.generate_key("P-256", parameters={"kid": "test-1", "alg": "ES256"})
    return json.dumps({"keys": [key.as_dict(private=False)]})


def key_kwargs() -> dict[str, str]:
    """Keyword arguments for ``build_client``/``register_client``."""
    return {"jwks": public_jwks()} if TAKES_KEYS else {}


def cli_key_args(folder: Path) -> list[str]:
    """Arguments for ``proofkey client add``."""
    if not TAKES_KEYS:
        return []
    path = folder / f"jwks-{len(list(folder.glob('jwks-*')))}.json"
    path.write_text(public_jwks())
    return ["--jwks", str(path)]
