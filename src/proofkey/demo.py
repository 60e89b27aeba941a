"""First-start demo data: a public native/CLI client and a user, so a newcomer can log in."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from proofkey.crypto import new_handle
from proofkey.flows.admin import register_client, register_user
from proofkey.settings import Settings
from proofkey.store.base import AlreadyExists, Store

__all__ = ["DEMO_CLIENT_ID", "DEMO_USERNAME", "DemoInfo", "seed_demo"]

DEMO_CLIENT_ID = "proofkey-demo"
DEMO_USERNAME = "demo"
_PASSWORD_FILE = "demo-password.txt"


@dataclass(frozen=True, slots=True)
class DemoInfo:
    client_id: str
    username: str
    password: str | None
    password_file: Path
    created: bool


async def seed_demo(store: Store, settings: Settings) -> DemoInfo:
    """Create the demo client and user once; later starts only report them."""
    now = int(time.time())
    path = settings.data_dir / _PASSWORD_FILE
    created = False
    if await store.get_client(DEMO_CLIENT_ID) is None:
        try:
            await register_client(
                store, DEMO_CLIENT_ID, client_type="public",
                redirect_uris=["http://127.0.0.1/callback", "http://[::1]/callback"],
                scopes=settings.scopes_supported, supported_scopes=settings.scopes_supported,
                name="proofkey demo", now=now)
        except AlreadyExists:
            pass
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
