"""The DPoP key kept between runs: a private JWK in a 0600 file, created atomically (never
readable by others, not even for a moment), reused by later runs; and the token cache that
records each entry's token type and key thumbprint beside it."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proofkey.sdk import TokenSet
from proofkey.sdk.dpop import DpopKey, load_or_create_key, read_key, write_key
from proofkey.sdk.tokencache import TokenCache

NODE_ALGS = ["ES256", "Ed25519", "EdDSA"]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask a user could have: the mode must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_key_file_is_0600_in_a_0700_folder_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "proofkey" / "dpop-x.jwk"
    key = load_or_create_key(path, NODE_ALGS)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert json.loads(path.read_text())["d"]  # the private key, for later runs
    again = load_or_create_key(path, NODE_ALGS)
    assert again.thumbprint == key.thumbprint
    assert [p.name for p in path.parent.iterdir()] == ["dpop-x.jwk"]  # no temporary left


@pytest.mark.usefixtures("open_umask")
def test_the_key_is_never_readable_by_others_while_it_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, bool]] = []
    real_replace = os.replace

    def watch(src: str, dst: str) -> None:
        seen.append((mode(Path(src)), Path(dst).exists()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watch)
    path = tmp_path / "dpop.jwk"
    write_key(path, DpopKey.generate())
    write_key(path, DpopKey.generate())  # replacing an existing key too
    assert seen == [(0o600, False), (0o600, True)]
    assert mode(path) == 0o600


def test_a_key_the_server_no_longer_accepts_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "dpop.jwk"
    old = load_or_create_key(path, ["PS256"])
    assert old.alg == "PS256"
    new = load_or_create_key(path, NODE_ALGS)
    assert new.alg == "ES256"
    stored = read_key(path)
    assert stored is not None
    assert stored.thumbprint == new.thumbprint


def test_an_unreadable_key_file_is_replaced_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "dpop.jwk"
    path.write_text('{"kty": "EC", "alg": "ES256"}')
    assert read_key(path) is None
    key = load_or_create_key(path, ["ES256"])
    stored = read_key(path)
    assert stored is not None
    assert stored.thumbprint == key.thumbprint


def test_the_cache_records_the_token_type_and_the_keys_thumbprint(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "proofkey" / "tokens.json")
    key_path = cache.dpop_key_path("https://as.example", "cli")
    assert key_path.parent == cache.path.parent  # next to the token file
    assert key_path != cache.dpop_key_path("https://other.example", "cli")
    key = load_or_create_key(key_path, ["ES256"])
    bound = TokenSet("at", "DPoP", int(time.time()) + 60, "rt", dpop_jkt=key.thumbprint)
    cache.put("https://as.example", "cli", bound)
    cache.put("https://other.example", "cli", TokenSet("at2", "Bearer", None))
    stored = json.loads(cache.path.read_text())
    assert stored["https://as.example cli"]["token_type"] == "DPoP"
    assert stored["https://as.example cli"]["dpop_jkt"] == key.thumbprint
    again = cache.get("https://as.example", "cli")
    assert again is not None
    assert again.dpop_bound
    assert again.dpop_jkt == key.thumbprint
    bearer = cache.get("https://other.example", "cli")
    assert bearer is not None
    assert not bearer.dpop_bound
    assert bearer.dpop_jkt is None

    assert cache.remove("https://as.example", "cli")
    assert not key_path.exists()  # logging out forgets the key too
