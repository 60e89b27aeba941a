"""RP-Initiated Logout 1.0 §2: the SDK builds the end-session URL from discovery, naming the
client by client_id so no token (id_token_hint) ever goes into a URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from proofkey.sdk.core import ProviderMetadata, end_session_url

BASE = {"issuer": "https://id.example", "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token"}


def test_the_end_session_url_names_the_client_and_where_to_return_without_a_token() -> None:
    metadata = ProviderMetadata.from_json(
        {**BASE, "end_session_endpoint": "https://id.example/logout?tenant=a"},
        "https://id.example")
    url = end_session_url(metadata, "spa", "https://app.example/", state="s1")
    assert url is not None
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://id.example/logout"
    assert parse_qs(parts.query) == {"tenant": ["a"], "client_id": ["spa"],
                                     "post_logout_redirect_uri": ["https://app.example/"],
                                     "state": ["s1"]}


def test_a_provider_without_end_session_gives_none() -> None:
    metadata = ProviderMetadata.from_json(BASE, "https://id.example")
    assert metadata.end_session_endpoint is None
    assert end_session_url(metadata, "spa", "https://app.example/") is None
