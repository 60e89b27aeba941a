"""``proofkey bff``: a Backend-for-Frontend gateway that keeps tokens out of the browser.

It does the PKCE code flow as a confidential client (built on ``proofkey.sdk``), keeps the
tokens server-side, gives the browser a ``__Host-`` session cookie holding only a random id,
and forwards API calls to configured upstreams with the access token attached.
"""

from proofkey.bff.app import create_bff_app
from proofkey.bff.settings import BffSettings, Upstream, load_bff_settings

__all__ = ["BffSettings", "Upstream", "create_bff_app", "load_bff_settings"]
