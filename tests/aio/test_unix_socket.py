"""``AsyncServer`` on a unix-domain listening socket (``sock=`` an ``AF_UNIX`` listener).

The asyncio twin of ``tests/drivers/test_unix_socket.py``, on both loops: ``.port`` is 0,
``.host`` the path, logs and ``repr`` show ``unix:/path``; calls go over a raw ``AF_UNIX``
stream with Swordfish's client engine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from swordfish.aio import AsyncServer
from swordfish.aio.stream import format_address
from swordfish.protocol import ConnectionClosed, Reply
from tests.drivers.conftest import StoreHandler
from tests.drivers.test_lingering_close import FIRST_BATCH, SECOND_BATCH, Pipeline, RunLog

from .test_lingering_close import AsyncSlowAdd, runs_reach

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


def unix_listener(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    return sock


async def call_over_unix(path: str, pipe: Pipeline, first: int, count: int) -> list[int]:
    """Pipeline ``count`` adds on a fresh unix connection; the answers, in seqid order."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(pipe.calls(first, count))
        replies: dict[int, int] = {}
        while len(replies) < count:
            event = pipe.conn.next_event()
            if isinstance(event, Reply):
                replies[event.seqid] = event.result.success  # type: ignore[attr-defined]
            elif isinstance(event, ConnectionClosed):
                raise AssertionError("the server closed the connection")
            else:
                async with asyncio.timeout(5):
                    pipe.conn.receive_data(await reader.read(65536))
        return [replies[s] for s in sorted(replies)]
    finally:
        writer.close()


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_serves_calls_over_a_unix_socket(
    arun: Run[None],
    store: ModuleType,
    tmp_path: Path,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "swordfish.aio.server")
    path = str(tmp_path / "store.sock")
    listener = unix_listener(path)

    async def main() -> None:
        server = AsyncServer(store.Store, StoreHandler(store), sock=listener, transport=transport)
        assert (server.host, server.port, server.address) == (path, 0, f"unix:{path}")
        await server.start()
        try:
            assert (server.host, server.port, server.address) == (path, 0, f"unix:{path}")
            assert f"unix:{path}" in repr(server)
            pipe = Pipeline(store, transport=transport)
            assert await call_over_unix(path, pipe, 0, 5) == [1000, 1001, 1002, 1003, 1004]
            assert await call_over_unix(path, pipe, 7, 1) == [1007]
            assert server.calls_served == 6
        finally:
            await server.stop(timeout=5)
        assert server.connections == 0

    try:
        arun(main())
    finally:
        listener.close()
    assert f"serving Store on unix:{path}" in caplog.text
    assert f"stopping Store on unix:{path}" in caplog.text
    assert Path(path).exists()  # left to whoever bound it


def test_drain_over_a_unix_socket_delivers_every_reply_then_eof(
    arun: Run[None], store: ModuleType, tmp_path: Path
) -> None:
    """Unix sockets reset too (a close with unread input): the lingering close applies."""
    path = str(tmp_path / "store.sock")
    listener = unix_listener(path)
    log = RunLog(tmp_path / "runs")

    async def main() -> None:
        server = AsyncServer(
            store.Store,
            AsyncSlowAdd(log),
            sock=listener,
            transport="framed",
            max_in_flight_per_connection=2,
        )
        await server.start()
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        stop: asyncio.Future[None] | None = None
        try:
            pipe = Pipeline(store)
            client.sendall(pipe.calls(0, FIRST_BATCH))
            await runs_reach(log, 3)
            client.sendall(pipe.calls(FIRST_BATCH, SECOND_BATCH))
            stop = asyncio.ensure_future(server.stop(timeout=5.0))
            replies, outcome = await asyncio.to_thread(pipe.read_all, client)
        finally:
            client.close()
            await (stop if stop is not None else server.stop(timeout=1))
        ran = log.runs()
        pipe.check(replies, outcome, ran, ordered=False)
        assert 3 <= len(ran) < FIRST_BATCH + SECOND_BATCH

    try:
        arun(main())
    finally:
        listener.close()


def test_format_address_names_unix_sockets() -> None:
    assert format_address("/run/store.sock") == "unix:/run/store.sock"
    assert format_address(b"\0store") == "unix:@store"
    assert format_address("") == "unix:(unnamed)"
    assert format_address(("127.0.0.1", 9090)) == "127.0.0.1:9090"
    assert format_address(None) == "unknown"
