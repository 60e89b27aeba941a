"""Every public class and method of the SDK says what it does (docs/sdk.md is the guide; the
docstrings are what an editor shows)."""

from __future__ import annotations

import inspect

import pytest

import proofkey.sdk
from proofkey.sdk.loopback import LoopbackReceiver
from proofkey.sdk.tokencache import TokenCache

CLASSES = [getattr(proofkey.sdk, name) for name in proofkey.sdk.__all__
           if inspect.isclass(getattr(proofkey.sdk, name))] + [LoopbackReceiver, TokenCache]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_method_has_a_docstring(cls: type) -> None:
    assert inspect.getdoc(cls), cls.__name__
    missing = [name for name, member in vars(cls).items()
               if not name.startswith("_") and (inspect.isfunction(member)
                                                or isinstance(member, property))
               and not inspect.getdoc(member)]
    assert missing == [], f"{cls.__name__}: {missing}"
