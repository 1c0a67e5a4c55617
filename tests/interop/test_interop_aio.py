"""Apache's and thriftpy2's client programs against the asyncio server, on both loops.

The same peer client programs and check table as test_interop.py; only the server differs:
``AsyncServer`` runs on an event loop in a background thread of this process while the peer
runs as a subprocess over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop import harness

# Fixtures shared with test_interop.py (imported, so pytest registers them here too).
from tests.interop.test_interop import (  # noqa: F401
    PEER_COMBOS,
    PeerArgv,
    apache_gen_dir,
    old_peer_idl,
    peer_argv,
    sf,
)


@contextlib.contextmanager
def aio_server(package: Any, protocol: str, transport: str, loop_name: str) -> Iterator[int]:
    """An ``AsyncServer`` for ThriftTest on its own loop thread; yields its port."""
    _, sf_handler = package
    from swordfish.aio import make_aio_server, new_event_loop

    loop = new_event_loop(loop_name)
    started: list[Any] = []
    ready = threading.Event()

    async def start() -> None:
        server = await make_aio_server(
            sf_handler.thrift_test.ThriftTest,
            sf_handler.Handler(),  # plain methods: they run in the server's thread pool
            "127.0.0.1",
            0,
            protocol=protocol,
            transport=transport,
        )
        started.append(server)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    assert started, "the asyncio server did not start"
    server = started[0]
    try:
        yield server.port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(timeout=5), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize(("peer", "protocol", "transport"), PEER_COMBOS)
@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_peer_client_to_aio_server(
    peer: str,
    protocol: str,
    transport: str,
    loop_name: str,
    peer_argv: PeerArgv,  # noqa: F811
    sf: Any,  # noqa: F811
    require: Any,
) -> None:
    if loop_name == "uvloop":
        require.module("uvloop")
    with aio_server(sf, protocol, transport, loop_name) as port:
        harness.run_client(peer_argv(peer, "client", protocol, transport, port=port))
