"""``HttpClient`` and ``AsyncHttpClient`` (``transport="http"``) over real loopback sockets.

Against ``ThriftASGIApp`` under a real uvicorn (keep-alive): connections are pooled and
reused (counted by the peer address the server saw), bounded by ``pool_size``, replaced when
the server closes them; timeouts and deadlines; and against a scripted raw HTTP server:
non-200 statuses, hang-ups (never retried), oneway answers without a delimited body.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import swordfish
from swordfish.aio.http import AsyncHttpClient
from swordfish.errors import (
    DeadlineExceeded,
    LimitExceeded,
    Rejected,
    TransportError,
    TransportTimeout,
)
from swordfish.framing.http import HttpStatusError
from swordfish.limits import Limits
from swordfish.rpc import Filter, Request, Response, Service
from swordfish.sync.http import HttpClient
from swordfish.web import ThriftASGIApp
from tests.web.http_apps import AsyncHandler, Handler, store
from tests.web.http_servers import uvicorn_thread


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with uvicorn_thread(ThriftASGIApp(store.Store, AsyncHandler(), threads=8)) as p:
        yield p


# -- a scripted HTTP server ----------------------------------------------------------------


class Scripted:
    """Accepts connections, reads one request head (+ body) each, answers ``reply`` bytes
    (``None``: hang up), then holds the socket ``hold`` seconds. Counts accepted connections."""

    def __init__(self, reply: bytes | None, hold: float = 0.0) -> None:
        self.reply = reply
        self.hold = hold
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            if self.reply is not None:
                conn.sendall(self.reply)
            time.sleep(self.hold)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@contextlib.contextmanager
def scripted(reply: bytes | None, hold: float = 0.0) -> Iterator[Scripted]:
    server = Scripted(reply, hold)
    try:
        yield server
    finally:
        server.close()


# -- sync ----------------------------------------------------------------------------------


def test_sync_pool_reuses_one_connection(port: int) -> None:
    with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
        peers = {c.echo("peer?") for _ in range(20)}
        assert c.add(1, 2) == 3
        assert len(peers) == 1, peers  # 20 calls, one TCP connection
    with HttpClient(store.Store, f"http://127.0.0.1:{port}/rpc", timeout=15) as other:
        assert other.echo("peer?") not in peers  # another client, another connection


def test_sync_pool_is_bounded(port: int) -> None:
    with HttpClient(store.Store, "127.0.0.1", port, timeout=30, pool_size=2) as c:

        def work(i: int) -> str:
            assert c.slow(0.2, i) == i
            return str(c.echo("peer?"))

        with ThreadPoolExecutor(6) as pool:
            peers = set(pool.map(work, range(12)))
    assert 1 <= len(peers) <= 2, peers


def test_sync_pool_replaces_connections_the_server_closed() -> None:
    app = ThriftASGIApp(store.Store, Handler())
    with uvicorn_thread(app, timeout_keep_alive=1) as p:
        with HttpClient(store.Store, "127.0.0.1", p, timeout=15) as c:
            first = c.echo("peer?")
            time.sleep(2.5)  # uvicorn closes the idle connection after 1 s
            second = c.echo("peer?")
            assert first != second  # a new connection, and the call did not fail


def test_sync_timeouts(port: int) -> None:
    with HttpClient(store.Store, "127.0.0.1", port, timeout=0.5) as c:
        with pytest.raises(TransportTimeout, match="slow"):
            c.slow(3.0, 1)
        c.timeout = 15
        assert c.add(1, 1) == 2
    with HttpClient(store.Store, "127.0.0.1", port, timeout=10, pool_size=1) as c:
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(c.stub.slow, 2.0, 1)
            time.sleep(0.3)  # the slow call has its 10 s deadline and the only connection
            c.timeout = 0.5
            with pytest.raises(TransportTimeout, match="free connection"):
                c.add(1, 1)
            assert busy.result(10) == 1


def test_sync_errors() -> None:
    with scripted(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverload!") as s:
        with HttpClient(store.Store, "127.0.0.1", s.port, timeout=15) as c:
            with pytest.raises(HttpStatusError) as info:
                c.add(1, 2)
    assert info.value.status == 503
    assert "HTTP 503 Service Unavailable" in str(info.value)
    assert "overload!" in str(info.value) and f"127.0.0.1:{s.port}" in str(info.value)
    assert isinstance(info.value, TransportError)

    with scripted(None) as s:  # reads the call, hangs up: the call may have run
        with HttpClient(store.Store, "127.0.0.1", s.port, timeout=15) as c:
            with pytest.raises(TransportError):
                c.add(1, 2)
        assert s.accepted == 1  # not retried

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = unused.getsockname()[1]
    with HttpClient(store.Store, "127.0.0.1", dead, timeout=15) as c:
        with pytest.raises(TransportError, match="cannot connect"):
            c.add(1, 2)


def test_sync_oneway_and_limits(port: int) -> None:
    # Apache's THttpServer answers a oneway call with an HTTP/1.0 200 and no length, and
    # closes only after running it: the client must return at the status line.
    with scripted(b"HTTP/1.0 200 OK\r\nContent-Type: application/x-thrift\r\n\r\n", hold=5) as s:
        with HttpClient(store.Store, "127.0.0.1", s.port, timeout=15) as c:
            started = time.monotonic()
            assert c.fire("x") is None
            assert time.monotonic() - started < 4
    with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
        before = c.fired()
        assert c.fire("y") is None
        deadline = time.monotonic() + 10
        while c.fired() == before:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    small = Limits(max_frame_size=1000)
    with HttpClient(store.Store, "127.0.0.1", port, timeout=15, limits=small) as c:
        assert c.echo("a" * 100) == "a" * 100
        with pytest.raises(LimitExceeded):
            c.echo_binary(b"a" * 900 + b"b" * 100)  # the reply is over 1000 bytes
        assert c.add(1, 2) == 3


def test_sync_filters_and_close(port: int) -> None:
    calls: list[str] = []

    class Count(Filter[Request, Response, Request, Response]):
        role = "count"
        description = "records each method called"

        def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
            calls.append(request.name)
            return service(request)

    c = HttpClient(store.Store, "127.0.0.1", port, timeout=15, filters=[Count()])
    assert c.add(1, 2) == 3
    c.close()
    with pytest.raises(Rejected):
        c.add(1, 2)
    assert calls == ["add", "add"]


def test_factories(port: int) -> None:
    c = swordfish.make_client(store.Store, "127.0.0.1", port, transport="http", path="/x")
    with c:
        assert isinstance(c, HttpClient) and c.url == f"http://127.0.0.1:{port}/x"
        assert c.add(2, 3) == 5
    with pytest.raises(ValueError, match="ThriftWSGIApp"):
        swordfish.make_server(store.Store, Handler(), port=0, transport="http")
    with pytest.raises(ValueError, match="unknown transport"):
        swordfish.Server(store.Store, Handler(), port=0, transport="http")
    with pytest.raises(ValueError, match="unknown protocol"):
        HttpClient(store.Store, protocol="thrift")
    with pytest.raises(ValueError, match="http://"):
        HttpClient(store.Store, url="127.0.0.1:9090")

    async def main() -> None:
        a = await swordfish.make_aio_client(store.Store, "127.0.0.1", port, transport="http")
        async with a:
            assert isinstance(a, AsyncHttpClient)
            assert await a.add(2, 3) == 5
        with pytest.raises(ValueError, match="ThriftASGIApp"):
            await swordfish.make_aio_server(store.Store, Handler(), port=0, transport="http")

    asyncio.run(main())


# -- asyncio -------------------------------------------------------------------------------


def test_async_pool_reuse_bound_and_concurrency(port: int) -> None:
    async def main() -> None:
        async with AsyncHttpClient(store.Store, "127.0.0.1", port, timeout=15, pool_size=3) as c:
            sequential = {await c.echo("peer?") for _ in range(10)}
            assert len(sequential) == 1, sequential

            async def work(i: int) -> str:
                assert await c.slow(0.3, i) == i
                return str(await c.echo("peer?"))

            peers = set(await asyncio.gather(*(work(i) for i in range(9))))
            assert 1 <= len(peers) <= 3, peers

    asyncio.run(main())


def test_async_timeouts_and_deadlines(port: int) -> None:
    async def main() -> None:
        async with AsyncHttpClient(store.Store, "127.0.0.1", port, timeout=0.5) as c:
            with pytest.raises(TransportTimeout):
                await c.slow(3.0, 1)
            stub = c.with_options(timeout=None, deadline=time.monotonic() + 0.5)
            with pytest.raises(DeadlineExceeded):
                await stub.slow(3.0, 1)
            c.timeout = 15
            assert await c.add(1, 1) == 2
            result = await c.call(
                "add", store.Store.__thrift_service__.methods["add"].args(a=1, b=5)
            )
            assert result is not None and result.success == 6  # type: ignore[attr-defined]
            # A cancelled call leaves the client usable.
            task = asyncio.ensure_future(c.slow(3.0, 1))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await c.add(2, 2) == 4

    asyncio.run(main())


def test_async_errors_and_oneway() -> None:
    async def main(status_port: int, hangup: Scripted, oneway_port: int) -> None:
        async with AsyncHttpClient(store.Store, "127.0.0.1", status_port, timeout=15) as c:
            with pytest.raises(HttpStatusError, match="HTTP 500"):
                await c.add(1, 2)
        async with AsyncHttpClient(store.Store, "127.0.0.1", hangup.port, timeout=15) as c:
            with pytest.raises(TransportError):
                await c.add(1, 2)
        assert hangup.accepted == 1
        async with AsyncHttpClient(store.Store, "127.0.0.1", oneway_port, timeout=15) as c:
            started = time.monotonic()
            assert await c.fire("z") is None
            assert time.monotonic() - started < 4
        c2 = AsyncHttpClient(store.Store, "127.0.0.1", oneway_port)
        await c2.close()
        with pytest.raises(Rejected):
            await c2.add(1, 2)

    error = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    with scripted(error) as s500, scripted(None) as hangup:
        with scripted(b"HTTP/1.0 200 OK\r\n\r\n", hold=5) as oneway:
            asyncio.run(main(s500.port, hangup, oneway.port))


def test_async_against_multiplexed_json_endpoint() -> None:
    app = ThriftASGIApp(services={"S": (store.Store, AsyncHandler())}, protocol="json")

    async def main(p: int) -> Any:
        async with AsyncHttpClient(
            store.Store, "127.0.0.1", p, protocol="json", service_name="S", timeout=15
        ) as c:
            return await c.nested({"k": [1, 2]})

    with uvicorn_thread(app) as p:
        assert asyncio.run(main(p)) == {"k": [2, 1]}
