"""``proofkey serve``: prepare the store and keys, then run uvicorn with the settings."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import typer

from proofkey.cli.common import ConfigOpt, err, fail, run, settings_from
from proofkey.settings import Settings, describe_settings, env_name
from proofkey.store.base import Store

__all__ = ["EPILOG", "serve"]

# "\b" keeps click from re-wrapping the list: one setting per paragraph, names never split.
EPILOG = ("Settings (environment variables; TOML keys are the lower-case names without the "
          "prefix; deploy/proofkey.example.toml lists them all):\n\n"
          + "\n\n".join("\b\n" + line for line in describe_settings().splitlines()))


def _masked_url(url: str) -> str:
    """A database URL fit for logs: a password in the userinfo or the query becomes ***."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and not any(key.lower() == "password" for key, _ in pairs):
        return url  # untouched: urlunsplit would turn sqlite://// into sqlite://
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = parts.query
    if any(key.lower() == "password" for key, _ in pairs):
        query = "&".join(f"{key}=***" if key.lower() == "password" else f"{key}={value}"
                         for key, value in pairs)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _check_port(host: str, port: int) -> None:
    """One line and exit 2 when the address cannot be bound (another server has it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another "
                       "server running there? set PROOFKEY_PORT or --port)", 2) from None


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    issuer: Annotated[str | None, typer.Option(help="Issuer URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
) -> None:
    """Run the authorization server (SQLite in the data directory unless configured)."""
    settings = settings_from(config, host=host, port=port, workers=workers, issuer=issuer,
                             data_dir=str(data_dir) if data_dir else None)
    _check_port(settings.host, settings.port)  # before anything is created or printed
    import uvicorn

    from proofkey.demo import seed_demo
    from proofkey.tokens.keys import KeyRing

    async def prepare(store: Store) -> Any:
        await KeyRing.load(store, int(time.time()))
        return await seed_demo(store, settings) if settings.demo else None

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"invalid setting {env_name('data_dir')}: cannot create "
                   f"{settings.data_dir}: {exc.strerror}", 2) from None
    demo = run(settings, prepare)
    issuer_url = settings.effective_issuer
    err.print(f"proofkey serving {issuer_url} (store: "
              f"{_masked_url(settings.effective_database_url)})", markup=False, highlight=False)
    if demo is not None:
        # The password only to a person at a terminal: a captured log must not keep it.
        shown = demo.password and sys.stderr.isatty()
        err.print(f"Log in at {issuer_url}/account as user '{demo.username}'"
                  + (f" with password {demo.password}" if shown else "")
                  + f" (password file: {demo.password_file}); demo client: {demo.client_id}",
                  markup=False, highlight=False)
    # Worker processes rebuild the same settings from the environment.
    for f in fields(Settings):
        value = getattr(settings, f.name)
        os.environ[env_name(f.name)] = " ".join(value) if isinstance(value, tuple) else str(value)
    os.environ.pop("PROOFKEY_CONFIG", None)
    from proofkey.observability.logs import configure_logging

    configure_logging(settings, None)
    uvicorn.run("proofkey.web.app:create_app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, loop="uvloop", http="httptools",
                access_log=False, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=30, server_header=False,
                # X-Forwarded-For/-Proto only from the configured proxies (never X-Forwarded-Host:
                # the issuer is a setting, not a header).
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=list(settings.trusted_proxies))
