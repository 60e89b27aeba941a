"""``proofkey bff``: a Backend-for-Frontend gateway that keeps tokens out of the browser.

It does the PKCE code flow as a confidential client (built on ``proofkey.sdk``), keeps the
tokens server-side, gives the browser a ``__Host-`` session cookie holding only a random id,
and forwards API calls to configured upstreams with the access token attached.

The app is imported on first use, so the CLI can read the settings module (for ``--help``)
without loading the gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proofkey.bff.settings import BffSettings, Upstream, load_bff_settings

if TYPE_CHECKING:
    from proofkey.bff.app import create_bff_app

__all__ = ["BffSettings", "Upstream", "create_bff_app", "load_bff_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_bff_app":
        from proofkey.bff.app import create_bff_app

        return create_bff_app
    raise AttributeError(f"module 'proofkey.bff' has no attribute {name!r}")
