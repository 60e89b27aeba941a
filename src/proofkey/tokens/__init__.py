"""Signing keys and the tokens minted with them."""
