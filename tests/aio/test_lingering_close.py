"""A draining ``AsyncServer`` loses no reply: lingering close instead of a reset.

The asyncio twin of ``tests/drivers/test_lingering_close.py`` (see its docstring), on the
stdlib loop and on uvloop. The raw client is a blocking socket read in a thread, so what it
sees is exactly what the kernel delivered. Differences from the sync server: calls on one
connection run concurrently (replies may come out of order), and every complete call already
read when the drain begins still runs; calls sent after that are not read, so not run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from swordfish.aio import make_aio_server
from swordfish.aio.server import LINGER_QUIET, LINGER_TIME
from tests.drivers.conftest import raw_connect
from tests.drivers.test_lingering_close import (
    FIRST_BATCH,
    ROUNDS,
    SECOND_BATCH,
    Peer,
    Pipeline,
    RunLog,
)

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


class AsyncSlowAdd:
    """``add`` logs each run, then waits a little; ``echo`` answers 2 MB."""

    def __init__(self, log: RunLog) -> None:
        self.log = log

    async def ping(self) -> None:
        return None

    async def add(self, a: int, b: int) -> int:
        self.log.record(a)  # logged before the reply exists: a run with no reply is a loss
        await asyncio.sleep(0.01)
        return a + b

    async def echo(self, text: str) -> str:
        self.log.record(len(text))
        await asyncio.sleep(0.02)
        return text * 400_000


async def runs_reach(log: RunLog, count: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while len(log.runs()) < count:
        assert time.monotonic() < deadline, f"the handler ran {len(log.runs())} calls"
        await asyncio.sleep(0.002)


async def _round(store: ModuleType, log: RunLog) -> tuple[int, int]:
    # Two calls at a time per connection: the first batch takes a while, so the drain starts
    # with calls running, calls buffered, and the second batch unread in the kernel.
    server = await make_aio_server(
        store.Store,
        AsyncSlowAdd(log),
        port=0,
        transport="framed",
        max_in_flight_per_connection=2,
    )
    sock = raw_connect(server.port)
    stop: asyncio.Future[None] | None = None
    try:
        pipe = Pipeline(store)
        sock.sendall(pipe.calls(0, FIRST_BATCH))
        await runs_reach(log, 3)
        sock.sendall(pipe.calls(FIRST_BATCH, SECOND_BATCH))  # "sent just now"
        stop = asyncio.ensure_future(server.stop(timeout=5.0))
        replies, outcome = await asyncio.to_thread(pipe.read_all, sock)
    finally:
        sock.close()
        await (stop if stop is not None else server.stop(timeout=1))
    ran = log.runs()
    pipe.check(replies, outcome, ran, ordered=False)
    return len(ran), FIRST_BATCH + SECOND_BATCH


def test_drain_delivers_every_reply_then_eof(
    arun: Run[Any], store: ModuleType, tmp_path: Path
) -> None:
    async def main() -> list[tuple[int, int]]:
        return [await _round(store, RunLog(tmp_path / f"runs-{i}")) for i in range(ROUNDS)]

    runs = arun(main())
    assert all(3 <= ran < sent for ran, sent in runs), runs


def test_a_big_reply_still_in_our_send_buffer_is_delivered(
    arun: Run[None], store: ModuleType, tmp_path: Path
) -> None:
    log = RunLog(tmp_path / "runs")

    async def main() -> None:
        server = await make_aio_server(
            store.Store,
            AsyncSlowAdd(log),
            port=0,
            transport="framed",
            max_in_flight_per_connection=1,
        )
        sock = raw_connect(server.port)
        stop: asyncio.Future[None] | None = None
        try:
            pipe = Pipeline(store)
            echo = pipe.spec.methods["echo"]
            calls = [pipe.conn.send_call(echo, echo.args(text="abcde"))[1] for _ in range(3)]
            sock.sendall(b"".join(calls))
            await runs_reach(log, 1)
            sock.sendall(pipe.conn.send_call(echo, echo.args(text="late"))[1])
            stop = asyncio.ensure_future(server.stop(timeout=5.0))
            await asyncio.sleep(0.5)  # a client busy elsewhere: the reply waits in buffers
            replies, outcome = await asyncio.to_thread(pipe.read_all, sock)
        finally:
            sock.close()
            await (stop if stop is not None else server.stop(timeout=1))
        ran = log.runs()
        assert (outcome, len(replies)) == ("eof", len(ran)), ran
        assert len(ran) == 3  # every call read before the drain ran; the late one was not
        assert all(r.result.success == "abcde" * 400_000 for r in replies)  # type: ignore[attr-defined]

    arun(main())


def test_idle_connection_gets_eof_at_stop_and_a_late_call_is_not_run(
    arun: Run[None], store: ModuleType, tmp_path: Path
) -> None:
    log = RunLog(tmp_path / "runs")

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncSlowAdd(log), port=0)
        sock = raw_connect(server.port)
        stop: asyncio.Future[None] | None = None
        try:
            pipe = Pipeline(store, transport="buffered")
            sock.sendall(pipe.calls(0, 1))
            first, _ = await asyncio.to_thread(pipe.read_all, sock, 0.5)  # one reply, no EOF
            assert [r.seqid for r in first] == [1]
            start = time.monotonic()
            stop = asyncio.ensure_future(server.stop(timeout=5.0))
            sock.settimeout(3)
            assert await asyncio.to_thread(sock.recv, 1) == b""  # FIN, promptly
            assert time.monotonic() - start < 1.0
            sock.sendall(pipe.calls(1, 3))  # into the linger: read and dropped
            await asyncio.sleep(0.05)
            # Still lingering, so no RST came back: a write would fail after one.
            sock.sendall(pipe.calls(4, 1))
            await asyncio.wait_for(stop, 10)
            assert time.monotonic() - start < LINGER_QUIET + 1.5  # idle peers cannot hold stop
        finally:
            sock.close()
            await (stop if stop is not None else server.stop(timeout=1))
        assert log.runs() == [0]

    arun(main())


@pytest.mark.parametrize("timeout", [1.0, 5.0])
@pytest.mark.parametrize("kind", ["silent", "trickle"])
def test_a_peer_that_never_closes_cannot_hold_stop(
    arun: Run[None], store: ModuleType, timeout: float, kind: str, tmp_path: Path
) -> None:
    log = RunLog(tmp_path / "runs")

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncSlowAdd(log), port=0, transport="framed")
        sock = raw_connect(server.port)
        sock.sendall(b"\x00\x00\x10\x00")  # announces a frame of 4096 bytes; it never ends
        await asyncio.sleep(0.1)
        peer = Peer(sock, trickle=kind == "trickle")
        try:
            start = time.monotonic()
            await server.stop(timeout=timeout)
            took = time.monotonic() - start
            deadline = time.monotonic() + 3
            while peer.eof_at is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        finally:
            await asyncio.to_thread(peer.close)
        assert peer.eof_at is not None  # FIN first (the reader saw EOF), whatever came after
        assert peer.eof_at - start < 1.0  # and promptly
        if kind == "silent":
            assert took < LINGER_QUIET + 1.0, took
        else:
            assert took < min(timeout, LINGER_TIME) + 1.0, took
            assert took >= min(timeout, LINGER_TIME) - 0.3, took
        assert log.runs() == []

    arun(main())


def test_linger_constants_are_short_and_bounded() -> None:
    assert 0 < LINGER_QUIET < LINGER_TIME <= 2.0
