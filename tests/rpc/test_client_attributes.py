"""Every client front (blocking, HTTP, asyncio, asyncio HTTP, pool) reaches IDL methods as
attributes through one mixin, lists them in ``dir()``, and never sends its own attribute
names to the stub."""

from __future__ import annotations

from typing import Any

import pytest

import swordfish
from swordfish.aio import AsyncClient, AsyncClientPool
from swordfish.aio.http import AsyncHttpClient
from swordfish.rpc.stub import IDLMethodAttributes
from swordfish.sync.http import HttpClient
from tests.paths import REPO

store = swordfish.load(str(REPO / "tests" / "drivers" / "store.thrift"))

FRONTS: list[Any] = [swordfish.Client, HttpClient, AsyncClient, AsyncHttpClient, AsyncClientPool]


@pytest.mark.parametrize("cls", FRONTS, ids=lambda c: c.__name__)
def test_idl_methods_are_attributes_and_listed(cls: Any) -> None:
    assert issubclass(cls, IDLMethodAttributes)
    client = cls(store.Store, "127.0.0.1", 9)  # nothing connects until a call
    assert {"add", "ping", "get"} <= set(dir(client))
    assert client.add is not None and callable(client.add)
    with pytest.raises(AttributeError):
        client.no_such_method  # noqa: B018 - the lookup is the test
    with pytest.raises(AttributeError):
        client.__no_dunder__  # noqa: B018


@pytest.mark.parametrize("cls", FRONTS, ids=lambda c: c.__name__)
def test_own_names_never_reach_the_stub(cls: Any) -> None:
    client = object.__new__(cls)  # as during __init__: nothing set yet
    for name in cls._sf_own:
        with pytest.raises(AttributeError):
            getattr(client, name)
