"""Helpers for testing apps against proofkey: the ``proofkey_test_server`` pytest fixture
(``proofkey.testing.pytest_plugin``, loaded by pytest through the ``pytest11`` entry point)."""
