"""Observability hangs off the side: flows emit events, subscribers turn them into signals."""
