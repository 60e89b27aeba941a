"""proofkey: a PKCE-first OAuth 2.1 / OpenID Connect authorization server."""

__version__ = "0.1.0"
__all__ = ["__version__"]
