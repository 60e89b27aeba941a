"""Upstream identity providers ("connectors"): sign users in through another OpenID Connect or
OAuth 2.0 provider, with the upstream leg held to the same rules as proofkey's own server.

The upstream leg is a client, so it is done by ``proofkey.sdk``: PKCE S256, PAR when
advertised, ``state`` and ``nonce``, the RFC 9207 ``iss`` check and id_token validation.
``config`` reads connectors (TOML and the database), ``sealing`` protects their secrets and
the upstream transactions, ``upstream`` drives the SDK, ``accounts`` links upstream subjects
to local users and ``login`` ties both legs to the pending downstream authorization.
"""

from __future__ import annotations

__all__: list[str] = []
