"""The operator console at ``/admin``: server-rendered pages, one module per page group.

``auth`` (sign in and out), ``clients`` (catalog, posture, lint findings, traffic), ``users``
(users, their login sessions), ``keys``, ``audit``; ``common`` holds the admin check, headers
and CSRF. The data comes from ``flows.console_*``. ``routes()`` is mounted by ``web.app`` on the
admin port when ``PROOFKEY_ADMIN_PORT`` is set, else on the main port; every route is a plain
``Route`` under ``/admin``, so ``/admin/api/...`` stays free for the admin API.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from . import audit, auth, clients, keys, users

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    return [
        Route("/admin", auth.home, methods=["GET"]),
        Route("/admin/login", auth.login_form, methods=["GET"]),
        Route("/admin/login", auth.login, methods=["POST"]),
        Route("/admin/logout", auth.logout, methods=["POST"]),
        Route("/admin/clients", clients.clients, methods=["GET"]),
        Route("/admin/users", users.users, methods=["GET"]),
        Route("/admin/sessions", users.sessions, methods=["GET"]),
        Route("/admin/sessions/end", users.end_session, methods=["POST"]),
        Route("/admin/keys", keys.keys, methods=["GET"]),
        Route("/admin/audit", audit.audit, methods=["GET"]),
    ]
