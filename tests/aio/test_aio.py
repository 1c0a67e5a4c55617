"""The asyncio server and pipelined client over real loopback sockets, on both loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.aio import AsyncClient, make_aio_client, make_aio_server
from swordfish.codec import get_codec
from swordfish.errors import (
    ConnectionClosedError,
    DeadlineExceeded,
    Rejected,
    SeqIdMismatch,
    TransportError,
    TransportTimeout,
)
from swordfish.framing import make_framer
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.model.ttype import MessageType
from swordfish.protocol import ClientConnection
from tests.aio.conftest import AsyncStoreHandler, closed_by_peer, open_raw
from tests.drivers.conftest import StoreHandler

Run = Callable[[Any], Any]
COMBOS = [
    pytest.param(p, t, id=f"{p}-{t}") for p in ("binary", "compact") for t in ("buffered", "framed")
]


@pytest.mark.parametrize(("protocol", "transport"), COMBOS)
@pytest.mark.parametrize("handler_kind", ["async", "thread", "inline"])
def test_calls_of_every_shape(
    arun: Run, store: ModuleType, protocol: str, transport: str, handler_kind: str
) -> None:
    handler = AsyncStoreHandler(store) if handler_kind == "async" else StoreHandler(store)
    mode = "inline" if handler_kind == "inline" else "thread"

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, protocol=protocol, transport=transport,
            sync_handlers=mode,
        )  # fmt: skip
        c = await make_aio_client(
            store.Store, port=server.port, protocol=protocol, transport=transport, timeout=5
        )
        try:
            assert await c.ping() is None
            assert await c.add(2, 3) == 5
            assert await c.echo("héllo") == "héllo"
            assert await c.echo_binary(b"\x00\xff") == b"\x00\xff"
            shape = store.Shape(name="s", points=[store.Point(x=1, y=2)], tags={"a": 1}, ids={3})
            assert await c.roundtrip(shape) == shape
            assert len(await c.many(50)) == 50
            assert await c.nested({"k": [1, 2]}) == {"k": [2, 1]}
            assert await c.pick(True) == store.Value(num=7)
            assert await c.get("x") == "value of x"
            with pytest.raises(store.NotFound):
                await c.get("missing")
            with pytest.raises(store.Invalid):
                await c.get("bad")
            with pytest.raises(TApplicationException) as info:
                await c.boom("value")
            assert info.value.type == ApplicationExceptionType.INTERNAL_ERROR
            assert "kaboom" in str(info.value)
            with pytest.raises(TApplicationException, match="cannot encode"):
                await c.boom("overflow")
            with pytest.raises(TApplicationException, match="told you so"):
                await c.boom("app")
            assert await c.fire("t") is None  # oneway
            assert await c.fired() == 1
            assert c.connected  # answers and exceptions never cost the connection
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_unknown_method_and_multiplexed_name(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        c = await make_aio_client(store.StoreV2, port=server.port)
        try:
            with pytest.raises(TApplicationException) as info:
                await c.added_later(1)
            assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
            assert await c.add(1, 1) == 2
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_out_of_order_replies_on_one_connection(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        server = await make_aio_server(store.Store, handler, port=0, transport="framed")
        c = await make_aio_client(store.Store, port=server.port, transport="framed")
        done: list[int] = []

        async def call(seconds: float, value: int) -> int:
            result: int = await c.slow(seconds, value)
            done.append(result)
            return result

        try:
            results = await asyncio.gather(
                call(0.4, 1), call(0.2, 2), call(0.0, 3), call(0.3, 4), c.add(10, 20)
            )
            assert results == [1, 2, 3, 4, 30]  # each caller got its own answer
            assert done == [3, 2, 4, 1]  # ...although they arrived in another order
            assert server.connections == 1  # all on one connection
            assert handler.max_running == 4  # and they ran concurrently
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_cancellation_keeps_the_connection_in_sync(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        server = await make_aio_server(store.Store, handler, port=0)
        c = await make_aio_client(store.Store, port=server.port)
        try:
            task = asyncio.ensure_future(c.slow(0.3, 99))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # More calls, including one whose reply arrives after the cancelled one's.
            assert await asyncio.gather(c.slow(0.5, 5), c.add(1, 2)) == [5, 3]
            assert handler.finished[:2] == [99, 5]  # the late reply came and was dropped
            assert c.connected and server.connections == 1
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_timeout_and_deadline(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        c = await make_aio_client(store.Store, port=server.port, timeout=5)
        try:
            start = time.monotonic()
            with pytest.raises(TransportTimeout, match="still connected"):
                await c.with_options(timeout=0.1).slow(0.4, 1)
            assert time.monotonic() - start < 0.35
            with pytest.raises(DeadlineExceeded):
                await c.with_options(deadline=time.monotonic() + 0.1).slow(0.4, 2)
            c.timeout = 0.1
            with pytest.raises(TransportTimeout):
                await c.slow(0.4, 3)
            c.timeout = 5
            # The connection survived every timeout; late replies are dropped quietly.
            assert await c.slow(0.5, 4) == 4
            assert c.connected and server.connections == 1
        finally:
            await c.close()
            await server.stop()

    arun(main())


async def _fake_server(reply: Callable[[bytes], bytes]) -> asyncio.Server:
    """A server that answers the first framed message with ``reply(message)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                writer.write(reply(await reader.readexactly(size)))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("wrong", ["seqid", "name"])
def test_reply_for_no_call_fails_every_pending_call(
    arun: Run, store: ModuleType, wrong: str
) -> None:
    spec = store.Store.__thrift_service__
    codec = get_codec("binary")

    def reply(message: bytes) -> bytes:
        msg = codec.decode_message(message, lambda n, t: spec.methods[n].args)
        name = "echo" if wrong == "name" else msg.name
        seqid = msg.seqid + 1000 if wrong == "seqid" else msg.seqid
        result = spec.methods[name].result(
            success=msg.body.a + msg.body.b if name == "add" else "x"
        )
        payload = codec.encode_message(name, MessageType.REPLY, seqid, result)
        return len(payload).to_bytes(4, "big") + payload

    async def main() -> None:
        fake = await _fake_server(reply)
        port = fake.sockets[0].getsockname()[1]
        c = await make_aio_client(store.Store, port=port, transport="framed", timeout=5)
        try:
            results = await asyncio.gather(c.add(1, 2), c.add(3, 4), return_exceptions=True)
            assert all(isinstance(r, SeqIdMismatch) for r in results), results
            assert not c.connected
        finally:
            await c.close()
            fake.close()

    arun(main())


def test_server_closing_fails_pending_calls_and_restart_reconnects(
    arun: Run, store: ModuleType
) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        port = server.port
        c = await make_aio_client(store.Store, port=port, timeout=5)
        try:
            assert await c.add(1, 1) == 2
            pending = asyncio.ensure_future(c.slow(5, 1))
            await asyncio.sleep(0.1)
            await server.stop(timeout=0.1)  # the slow call cannot finish in time
            with pytest.raises(ConnectionClosedError):
                await pending
            with pytest.raises(TransportError):  # nobody listening: refused
                await c.add(1, 1)
            server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=port)
            assert await c.add(2, 2) == 4  # the next call reconnected
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_client_limits_in_flight_then_rejects(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        handler.gate = asyncio.Event()
        server = await make_aio_server(store.Store, handler, port=0)
        c = await make_aio_client(store.Store, port=server.port, max_in_flight=2, max_waiters=2)
        try:
            calls = [asyncio.ensure_future(c.slow(-1, i)) for i in range(3)]
            await asyncio.sleep(0.2)
            assert c.in_flight == 2 and handler.running == 2  # the third waits for a slot
            with pytest.raises(TransportTimeout, match="call slots"):
                await c.with_options(timeout=0.05).add(1, 1)  # waited, within its timeout
            calls.append(asyncio.ensure_future(c.slow(-1, 3)))
            await asyncio.sleep(0.05)
            with pytest.raises(Rejected, match="max_in_flight=2, max_waiters=2"):
                await c.slow(-1, 9)  # no room to wait either: refused at once
            handler.gate.set()
            assert await asyncio.gather(*calls) == [0, 1, 2, 3]
            assert handler.max_running == 2
            assert await c.add(1, 1) == 2
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_server_backpressure_stops_reading(arun: Run, store: ModuleType) -> None:
    """Over the per-connection limit the server stops reading; nothing sent is lost."""
    handler = AsyncStoreHandler(store)
    spec = store.Store.__thrift_service__
    codec = get_codec("binary")

    async def main() -> None:
        handler.gate = asyncio.Event()
        server = await make_aio_server(
            store.Store, handler, port=0, transport="framed", max_in_flight_per_connection=4
        )
        engine = ClientConnection(spec, codec, make_framer("framed", codec))
        reader, writer = await open_raw(server.port)
        transport = writer.transport
        transport.set_write_buffer_limits(high=0)
        sent = 0
        stalled = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for _ in range(200):
                _, data = engine.send_call("slow", spec.methods["slow"].args(seconds=-1, value=1))
                writer.write(data)
                sent += 1
            await asyncio.sleep(0.01)
            if transport.get_write_buffer_size() > 1_000_000:
                stalled = True  # the kernel buffers are full: the server is not reading
                break
        assert stalled, "the server kept reading although its calls were not finishing"
        assert handler.running == 4 and server.in_flight == 4
        handler.gate.set()
        got = 0
        while got < sent:
            engine.receive_data(await reader.read(1 << 20))
            while not isinstance(engine.next_event(), type(swordfish.protocol.NEED_DATA)):
                got += 1
        assert got == sent  # every call that was written got its answer
        assert handler.max_running == 4
        writer.close()
        await server.stop()

    arun(main())


def test_server_wide_limit_spans_connections(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        handler.gate = asyncio.Event()
        server = await make_aio_server(store.Store, handler, port=0, max_in_flight=3)
        clients = [await make_aio_client(store.Store, port=server.port) for _ in range(3)]
        try:
            calls = [asyncio.ensure_future(c.slow(-1, i)) for i in range(2) for c in clients]
            await asyncio.sleep(0.3)
            assert handler.running == 3 and server.in_flight == 3
            handler.gate.set()
            assert sorted(await asyncio.gather(*calls)) == [0, 0, 0, 1, 1, 1]
            assert handler.max_running == 3
        finally:
            for c in clients:
                await c.close()
            await server.stop()

    arun(main())


def test_silent_and_slow_peers_time_out(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(
            store.Store, AsyncStoreHandler(store), port=0, idle_timeout=0.3
        )
        try:
            silent_r, silent_w = await open_raw(server.port)
            slow_r, slow_w = await open_raw(server.port)
            slow_w.write(b"\x80\x01\x00\x01\x00\x00")  # half a message header, then nothing
            start = time.monotonic()
            assert await closed_by_peer(silent_r, within=2)
            assert await closed_by_peer(slow_r, within=2)
            assert 0.25 < time.monotonic() - start < 1.5
            silent_w.close()
            slow_w.close()
        finally:
            await server.stop()

    arun(main())


def test_idle_timeout_does_not_cut_busy_connections(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(
            store.Store, AsyncStoreHandler(store), port=0, idle_timeout=0.2
        )
        c = await make_aio_client(store.Store, port=server.port)
        try:
            assert await c.slow(0.7, 1) == 1  # 3.5 idle timeouts long, but in flight
            assert c.connected
            await asyncio.sleep(0.5)
            assert server.connections == 0  # idle now: closed
            assert await c.add(1, 2) == 3  # and the client reconnects
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_call_timeout_answers_and_cancels(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        server = await make_aio_server(store.Store, handler, port=0, call_timeout=0.1)
        c = await make_aio_client(store.Store, port=server.port)
        try:
            with pytest.raises(TApplicationException, match="did not answer within"):
                await c.slow(1.0, 1)
            await asyncio.sleep(0.05)
            assert handler.running == 0  # the handler was cancelled
            assert await c.slow(0.0, 2) == 2
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_graceful_stop_drains(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        idle = await make_aio_client(store.Store, port=server.port)
        busy = await make_aio_client(store.Store, port=server.port)
        assert await idle.ping() is None
        calls = [asyncio.ensure_future(busy.slow(0.4, i)) for i in range(5)]
        await asyncio.sleep(0.1)
        start = time.monotonic()
        await server.stop(timeout=5)
        elapsed = time.monotonic() - start
        assert await asyncio.gather(*calls) == [0, 1, 2, 3, 4]  # nothing accepted is lost
        assert elapsed < 1.0
        assert server.connections == 0
        with pytest.raises(TransportError):
            await idle.ping()  # idle connection closed, and nobody listens any more
        await idle.close()
        await busy.close()

    arun(main())


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_malformed_input_closes_only_that_connection(
    arun: Run, store: ModuleType, transport: str
) -> None:
    garbage = b"\x00\x00\x00\x08" + b"\xff" * 8 if transport == "framed" else b"\xff" * 16

    async def main() -> None:
        server = await make_aio_server(
            store.Store, AsyncStoreHandler(store), port=0, transport=transport
        )
        c = await make_aio_client(store.Store, port=server.port, transport=transport)
        try:
            pending = asyncio.ensure_future(c.slow(0.3, 1))
            reader, writer = await open_raw(server.port)
            writer.write(garbage)
            assert await closed_by_peer(reader)
            writer.close()
            huge_r, huge_w = await open_raw(server.port)
            huge_w.write(
                b"\x7f\xff\xff\xff"
                if transport == "framed"
                else b"\x80\x01\x00\x01\x7f\xff\xff\xff"
            )
            assert await closed_by_peer(huge_r, within=2)
            huge_w.close()
            assert await pending == 1  # the healthy connection did not notice
            assert await c.add(1, 2) == 3
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_sync_handlers_run_in_parallel_threads(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, StoreHandler(store), port=0, handler_threads=4)
        c = await make_aio_client(store.Store, port=server.port)
        try:
            start = time.monotonic()
            assert await asyncio.gather(*(c.slow(0.3, i) for i in range(4))) == [0, 1, 2, 3]
            assert time.monotonic() - start < 0.9  # in parallel, and the loop stayed free
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_thousand_concurrent_connections(arun: Run, store: ModuleType) -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * 1000 + 200  # both ends of every connection live in this process
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        clients: list[AsyncClient] = []
        try:
            clients = list(
                await asyncio.gather(
                    *(make_aio_client(store.Store, port=server.port) for _ in range(1000))
                )
            )
            results = await asyncio.gather(*(c.slow(0.05, i) for i, c in enumerate(clients)))
            assert results == list(range(1000))
            assert server.connections == 1000
        finally:
            await asyncio.gather(*(c.close() for c in clients))
            await server.stop()

    arun(main())


def test_argument_checks(store: ModuleType) -> None:
    from swordfish.aio import AsyncClientPool, AsyncServer

    with pytest.raises(ValueError, match="unknown protocol 'simplejson'"):
        AsyncServer(store.Store, object(), protocol="simplejson")
    with pytest.raises(ValueError, match="sync_handlers"):
        AsyncServer(store.Store, object(), sync_handlers="fork")
    with pytest.raises(ValueError, match="max_in_flight must be a positive int"):
        AsyncServer(store.Store, object(), max_in_flight=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        AsyncServer(store.Store, object(), idle_timeout=-1)
    with pytest.raises(ValueError, match="unknown transport"):
        AsyncClient(store.Store, transport="http")
    with pytest.raises(ValueError, match="min_size"):
        AsyncClientPool(store.Store, min_size=5, max_size=2)
    with pytest.raises(TypeError, match="service must be"):
        AsyncClient(object())
