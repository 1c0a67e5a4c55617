"""Serving on a socket someone else bound (what a pre-fork supervisor hands its workers)."""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType

import pytest

import swordfish
from swordfish.aio import AsyncClient, AsyncServer

from .conftest import StoreHandler


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def test_sync_server_serves_on_a_given_socket(store: ModuleType) -> None:
    sock = _listening()
    port = sock.getsockname()[1]
    server = swordfish.make_server(
        store.Store, StoreHandler(store), sock=sock, transport="framed"
    ).start()
    try:
        assert server.port == port
        with swordfish.make_client(store.Store, "127.0.0.1", port, transport="framed") as c:
            assert [c.add(i, 1) for i in range(5)] == [1, 2, 3, 4, 5]
            c.ping()
        assert server.calls_served == 6
    finally:
        server.stop()
    assert sock.fileno() == -1  # the server closed its descriptor


def test_aio_server_serves_on_a_given_socket(store: ModuleType) -> None:
    async def main() -> None:
        sock = _listening()
        port = sock.getsockname()[1]
        server = AsyncServer(store.Store, StoreHandler(store), sock=sock, transport="framed")
        await server.start()
        try:
            assert server.port == port
            client = AsyncClient(store.Store, "127.0.0.1", port, transport="framed")
            async with client:
                assert await asyncio.gather(*(client.add(i, 1) for i in range(5))) == [
                    1, 2, 3, 4, 5
                ]  # fmt: skip
            assert server.calls_served == 5
        finally:
            await server.stop()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sync", "aio"])
def test_a_socket_that_is_not_listening_is_refused(store: ModuleType, kind: str) -> None:
    with socket.socket() as sock:
        with pytest.raises(ValueError, match="listening stream socket"):
            if kind == "sync":
                swordfish.make_server(store.Store, StoreHandler(store), sock=sock)
            else:
                AsyncServer(store.Store, StoreHandler(store), sock=sock)
