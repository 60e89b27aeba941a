"""Which redirects prove the client (RFC 8252 §8.6): a code sent there reaches only the
registered client, so remembered consent may make a request silent."""

from __future__ import annotations

import pytest

from proofkey.protocol.redirect_uri import redirect_assures_client


@pytest.mark.parametrize("uri", [
    "https://app.example.com/cb", "https://app.example.com:8443/cb?x=1",
    "http://app.example.com/demo",
])
def test_a_public_clients_web_redirect_on_a_real_host_assures_it(uri: str) -> None:
    assert redirect_assures_client(uri, public=True)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1/callback", "http://127.0.0.1:49152/callback", "http://[::1]:8080/cb",
    "http://127.1.2.3/cb", "https://127.0.0.1/cb", "https://localhost/cb",
    "http://app.localhost/cb", "com.example.app:/cb", "com.example.app://cb/path",
    "https:///cb",
])
def test_a_public_clients_loopback_or_private_use_redirect_does_not(uri: str) -> None:
    assert not redirect_assures_client(uri, public=True)


@pytest.mark.parametrize("uri", ["http://127.0.0.1/callback", "https://app.example.com/cb"])
def test_any_redirect_of_a_confidential_client_does(uri: str) -> None:
    assert redirect_assures_client(uri, public=False)
