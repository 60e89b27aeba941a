"""Tests that run real ``proofkey`` processes: the CLI and ``proofkey serve``."""
