"""``proofkey bff``: run the Backend-for-Frontend gateway for a single-page app.

Flags override ``PROOFKEY_BFF_*`` variables, which override the ``[bff]`` section of the TOML
file (``--config`` or ``PROOFKEY_CONFIG``). The client secret comes from stdin
(``--client-secret-stdin``) or the environment, never from a flag that ``ps`` would show.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from proofkey.bff.settings import describe_bff_settings
from proofkey.cli.common import ConfigOpt, err, fail

__all__ = ["EPILOG", "bff"]

# "\b" keeps click from re-wrapping the list: one setting per paragraph, names never split.
EPILOG = ("Example: echo \"$SECRET\" | proofkey bff --issuer https://id.example.com "
          "--client-id spa --client-secret-stdin --upstream /api=http://127.0.0.1:9000 "
          "--listen 127.0.0.1:8080 --public-url https://app.example.com\n\n"
          "Settings (environment variables; TOML keys of the [bff] section are the lower-case "
          "names without the prefix):\n\n"
          + "\n\n".join("\b\n" + line for line in describe_bff_settings().splitlines()))


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise fail(f"--listen must be HOST:PORT, got {value[:60]!r}", 2)
    return host.strip("[]") or "127.0.0.1", int(port)


def bff(
    issuer: Annotated[str | None, typer.Option(help="The provider's issuer URL.")] = None,
    client_id: Annotated[str | None, typer.Option(help="The gateway's client id.")] = None,
    client_secret_stdin: Annotated[bool, typer.Option(
        "--client-secret-stdin", help="Read the client secret from the first line of stdin.")
    ] = False,
    upstream: Annotated[list[str] | None, typer.Option(
        help="PREFIX=URL of an API to proxy (repeatable), e.g. /api=http://127.0.0.1:9000.")
    ] = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on.")] = None,
    public_url: Annotated[str | None, typer.Option(
        help="The gateway's origin as browsers see it (default: http://HOST:PORT).")] = None,
    session_store_url: Annotated[str | None, typer.Option(
        help="sqlite:///path or postgresql://… for the sessions.")] = None,
    static_dir: Annotated[str | None, typer.Option(
        help="Serve this directory at / ('sample': the bundled sample SPA).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the Backend-for-Frontend gateway: logins, a session cookie, proxied API calls."""
    from proofkey.bff import create_bff_app, load_bff_settings
    from proofkey.settings import SettingsError

    overrides: dict[str, object] = {
        "issuer": issuer, "client_id": client_id, "public_url": public_url,
        "session_store_url": session_store_url, "static_dir": static_dir,
        "upstreams": list(upstream) if upstream else None}
    if client_secret_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise fail("--client-secret-stdin: stdin had no secret", 2)
        overrides["client_secret"] = secret
    if listen is not None:
        overrides["host"], overrides["port"] = _listen(listen)
    try:
        settings = load_bff_settings(overrides, config_file=config)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    if settings.session_store_url == "":
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    import uvicorn

    from proofkey.observability.logs import configure_logging
    from proofkey.settings import load_settings

    configure_logging(load_settings({}, environ={}), None)
    app = create_bff_app(settings)
    routes = ", ".join(f"{u.prefix} -> {u.url}" for u in settings.upstreams) or "none"
    err.print(f"proofkey bff serving {settings.origin} for {settings.issuer} "
              f"(upstreams: {routes})", markup=False, highlight=False)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False,
                server_header=False, log_level="info", timeout_graceful_shutdown=10)
