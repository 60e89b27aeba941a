"""First-start demo data: a public native/CLI client and a user, so a newcomer can log in.

The CLI client may also use the device authorization grant (``proofkey login --device``).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from proofkey.crypto import new_handle
from proofkey.flows.admin import DEFAULT_GRANTS, register_client, register_user
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.settings import Settings
from proofkey.store.base import AlreadyExists, Store

__all__ = [
    "CLI_CLIENT_ID",
    "DEMO_CLIENT_ID",
    "DEMO_SPA_CLIENT_ID",
    "DEMO_USERNAME",
    "DemoInfo",
    "seed_demo",
]

DEMO_CLIENT_ID = "proofkey-demo"
DEMO_SPA_CLIENT_ID = "proofkey-demo-spa"
CLI_CLIENT_ID = "proofkey-cli"
DEMO_USERNAME = "demo"
_PASSWORD_FILE = "demo-password.txt"  # noqa: S105 - a file name


@dataclass(frozen=True, slots=True)
class DemoInfo:
    client_id: str
    username: str
    password: str | None
    password_file: Path
    created: bool


def _spa_redirects(issuer: str) -> list[str]:
    """The browser demo at ``<issuer>/demo``; on a loopback issuer, at any port."""
    uri = f"{issuer}/demo"
    parts = urlsplit(uri)
    if parts.hostname in {"127.0.0.1", "::1"} and parts.scheme == "http":
        host = "[::1]" if parts.hostname == "::1" else parts.hostname
        return [f"http://{host}{parts.path}"]
    return [uri]


async def _ensure_client(store: Store, settings: Settings, client_id: str, name: str,
                         redirect_uris: list[str], now: int,
                         grant_types: tuple[str, ...] = DEFAULT_GRANTS) -> None:
    if await store.get_client(client_id) is not None:
        return
    with contextlib.suppress(AlreadyExists):  # another worker created it first
        await register_client(
            store, client_id, client_type="public", redirect_uris=redirect_uris,
            scopes=settings.scopes_supported, supported_scopes=settings.scopes_supported,
            grant_types=grant_types, name=name, now=now)


async def seed_demo(store: Store, settings: Settings) -> DemoInfo:
    """Create the demo clients (native, CLI, browser) and user once; later starts only report
    them."""
    now = int(time.time())
    path = settings.data_dir / _PASSWORD_FILE
    created = False
    loopback = ["http://127.0.0.1/callback", "http://[::1]/callback"]
    await _ensure_client(store, settings, DEMO_CLIENT_ID, "proofkey demo", loopback, now)
    await _ensure_client(store, settings, CLI_CLIENT_ID, "proofkey CLI", loopback, now,
                         (*DEFAULT_GRANTS, DEVICE_GRANT_TYPE))
    await _ensure_client(store, settings, DEMO_SPA_CLIENT_ID, "proofkey browser demo",
                         _spa_redirects(settings.effective_issuer), now)
    password: str | None = None
    if await store.get_user_by_username(DEMO_USERNAME) is None:
        password = new_handle(12)
        try:
            await register_user(store, DEMO_USERNAME, password, name="Demo User",
                                email="demo@example.com", now=now)
            created = True
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
        except AlreadyExists:
            password = None
    elif path.exists():
        password = path.read_text().strip() or None
    return DemoInfo(DEMO_CLIENT_ID, DEMO_USERNAME, password, path, created)
