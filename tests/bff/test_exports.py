"""The gateway's public names are a curated list (STYLE point 8)."""

from __future__ import annotations

import proofkey.bff


def test_the_package_exports_exactly_its_public_api() -> None:
    assert sorted(proofkey.bff.__all__) == ["BffSettings", "Upstream", "create_bff_app",
                                            "load_bff_settings"]
    for name in proofkey.bff.__all__:
        assert getattr(proofkey.bff, name) is not None
