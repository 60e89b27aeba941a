"""Operator tools that speak HTTP like any client: probe, log scanner, client linter."""
