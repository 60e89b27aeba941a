"""The ``proofkey`` command: serve, migrate, and manage clients, users and keys.

One module per command group: ``serve``, ``maintenance`` (migrate, gc), ``clients``, ``users``,
``keys``, ``resources``, ``login`` (login, token, logout); ``common`` holds what they share
(settings, store, output, audit). The operator tools (scan-logs, lint, probe, check) live in
``proofkey.ops``.
"""

from __future__ import annotations

import typer

from proofkey.cli import (
    admin,
    bff,
    client_check,
    clients,
    connectors,
    grants,
    keys,
    login,
    maintenance,
    registration,
    resources,
    serve,
    users,
)
from proofkey.ops import check_cli, tools_cli

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, add_completion=False,
                  help="proofkey: a PKCE-first OAuth 2.1 / OpenID Connect authorization server.")
app.add_typer(clients.app, name="client")
app.add_typer(users.app, name="user")
app.add_typer(keys.app, name="keys")
app.add_typer(registration.app, name="registration")
app.add_typer(connectors.app, name="connector")
app.add_typer(resources.app, name="resource")
app.add_typer(admin.app, name="admin")
app.add_typer(grants.grant_app, name="grant")
app.add_typer(grants.session_app, name="session")

app.command(epilog=serve.EPILOG)(serve.serve)
app.command()(maintenance.migrate)
app.command()(maintenance.gc)
app.command()(login.login)
app.command()(login.token)
app.command()(login.logout)
app.command("scan-logs")(tools_cli.scan_logs)
app.command("lint")(tools_cli.lint)
app.command("probe")(tools_cli.probe)
app.command("check")(check_cli.check)
app.command("bff", epilog=bff.EPILOG)(bff.bff)
app.command("client-check")(client_check.client_check)


def main() -> None:
    app()
