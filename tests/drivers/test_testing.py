"""``swordfish.testing``: the helper users put in their own test suites."""

from __future__ import annotations

from types import ModuleType

import pytest

import swordfish
from swordfish.rpc import Filter, Request, Response, Service
from swordfish.testing import running_server, serve

from .conftest import StoreHandler


@pytest.mark.parametrize("protocol", ["binary", "compact"])
@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_serve_yields_a_connected_client(store: ModuleType, protocol: str, transport: str) -> None:
    with serve(store.Store, StoreHandler(store), protocol=protocol, transport=transport) as c:
        assert c.add(1, 2) == 3
        with pytest.raises(store.NotFound):
            c.get("missing")
        port = c.port
    with pytest.raises(swordfish.TransportError):  # stopped on exit
        swordfish.make_client(store.Store, port=port, connect_timeout=1).ping()


def test_serve_runs_both_filter_stacks(store: ModuleType) -> None:
    seen: list[str] = []

    def tag(side: str) -> Filter[Request, Response, Request, Response]:
        def fn(request: Request, service: Service[Request, Response]) -> Response:
            seen.append(f"{side}:{request.name}")
            return service(request)

        return Filter.from_function(fn, role=side)

    with serve(
        store.Store, StoreHandler(store), filters=[tag("server")], client_filters=[tag("client")]
    ) as c:
        c.ping()
    assert seen == ["client:ping", "server:ping"]


def test_running_server_allows_several_clients(store: ModuleType) -> None:
    with running_server(store.Store, StoreHandler(store)) as server:
        a = swordfish.make_client(store.Store, port=server.port)
        b = swordfish.make_client(store.Store, port=server.port)
        with a, b:
            assert a.add(1, 1) == b.add(1, 1) == 2
