"""One rule set: what `proofkey lint` calls an error, registration refuses, naming the rule;
its warnings come back with the registered client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proofkey.flows.admin import AdminError, register_client
from proofkey.protocol.client_policy import Policy, lint, view_of_client
from proofkey.store import open_store
from proofkey.store.base import Store

SCOPES = ("openid", "profile")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.mark.parametrize(("uri", "rule"), [
    ("https://x.example/*", "PKL010"),
    ("https://*.example.com/cb", "PKL010"),
])
async def test_a_lint_error_refuses_the_registration(store: Store, uri: str, rule: str) -> None:
    with pytest.raises(AdminError, match=rf"\[{rule}\]"):
        await register_client(store, "web", client_type="confidential", redirect_uris=[uri],
                              scopes=SCOPES, supported_scopes=SCOPES, now=1)
    assert await store.get_client("web") is None


async def test_warnings_come_back_with_the_client(store: Store) -> None:
    new = await register_client(store, "web", client_type="confidential",
                                redirect_uris=["https://app.example.com"], scopes=SCOPES,
                                supported_scopes=SCOPES, now=1)
    assert any("[PKL011]" in w for w in new.warnings)
    assert await store.get_client("web") is not None


@pytest.mark.parametrize("uri", [
    "https://app.example.com/cb", "https://app.example.com", "http://127.0.0.1/cb",
    "com.example.app:/cb", "https://x.example/*", "http://localhost/cb",
    "https://app.example.com/cb#frag", "javascript:alert(1)", "http://app.example.com/cb",
])
@pytest.mark.parametrize("kind", ["public", "confidential"])
async def test_registration_and_lint_agree(store: Store, uri: str, kind: str) -> None:
    try:
        new = await register_client(store, "c", client_type=kind,  # type: ignore[arg-type]
                                    redirect_uris=[uri], scopes=SCOPES,
                                    supported_scopes=SCOPES, now=1)
    except AdminError:
        return  # refused: nothing stored, nothing for lint to see
    errors = [i for i in lint(view_of_client(new.client), Policy()) if i.severity == "error"]
    assert errors == [], f"registered {uri!r} although lint calls it an error"
