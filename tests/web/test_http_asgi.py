"""``ThriftASGIApp`` under a real uvicorn: a subprocess (``python -m uvicorn``) and, for apps
built in the test, uvicorn on a thread of this process.

Async handler methods are awaited, plain ones run in the app's thread pool; bad requests are
refused with the right status and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swordfish.aio.http import AsyncHttpClient
from swordfish.errors import TransportError
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.rpc import AsyncFilter, AsyncService, Filter, Request, Response
from swordfish.sync.http import HttpClient
from swordfish.web import HTTP_HEADERS_KEY, ThriftASGIApp
from tests.web.http_apps import AsyncHandler, Handler, store
from tests.web.http_servers import (
    post,
    raw_request,
    read_response,
    uvicorn_server,
    uvicorn_thread,
)
from tests.web.test_http_wsgi import BAD_REQUESTS, _call_bytes


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with uvicorn_server(tmp_path_factory.mktemp("uvicorn") / "log") as server:
        yield server.port


@pytest.fixture
def client(port: int) -> Iterator[HttpClient]:
    with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
        yield c


def test_async_and_plain_handlers(port: int) -> None:
    async def main() -> None:
        async with AsyncHttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
            assert await c.add(20, 22) == 42  # async def, awaited on the loop
            assert await c.echo("plain") == "plain"  # plain, in the thread pool
            # Concurrent slow calls: async ones overlap on the loop.
            started = time.monotonic()
            got = await asyncio.gather(*(c.slow(1.0, i) for i in range(6)))
            assert got == list(range(6))
            assert time.monotonic() - started < 5.5  # serial would be 6 s
            with pytest.raises(store.NotFound):
                await c.get("missing")
            with pytest.raises(TApplicationException) as info:
                await c.boom("x")
            assert info.value.type == ApplicationExceptionType.INTERNAL_ERROR

    asyncio.run(main())


def test_unknown_method(port: int) -> None:
    with HttpClient(store.StoreV2, "127.0.0.1", port, timeout=15) as v2:
        with pytest.raises(TApplicationException) as info:
            v2.added_later(1)
        assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
        assert v2.add(1, 1) == 2


def test_oneway_is_answered_before_the_handler_runs(client: HttpClient, tmp_path: Path) -> None:
    go = tmp_path / "go"
    before = client.fired()
    assert client.fire(f"block:{go}") is None
    # Same keep-alive connection: the next call is not held up behind the running oneway.
    assert client.fired() == before
    go.touch()
    deadline = time.monotonic() + 15
    while client.fired() == before:
        assert time.monotonic() < deadline, "the oneway handler never ran"
        time.sleep(0.05)


@pytest.mark.parametrize(("request_bytes", "status"), BAD_REQUESTS)
def test_bad_requests_are_refused_and_the_server_keeps_serving(
    port: int, client: HttpClient, request_bytes: bytes, status: int
) -> None:
    got, headers, body = raw_request(port, request_bytes)
    assert got == status, body
    if status == 405:
        assert headers.get("allow") == "POST"
    assert client.add(1, 2) == 3


def test_malformed_thrift_bodies(port: int, client: HttpClient) -> None:
    call = _call_bytes("add", store.Store.__thrift_service__.methods["add"].args(a=1, b=2))
    for body in (call[:-3], call + call, b"\x80\x01\x00\x01\xff\xff\xff\xff"):
        status, _, text = raw_request(port, post("/", body))
        assert status == 400, text
    status, headers, _ = raw_request(port, post("/", call))
    assert status == 200 and headers["content-type"] == "application/x-thrift"
    assert client.add(2, 2) == 4


def test_huge_content_length_is_refused_at_once(port: int, client: HttpClient) -> None:
    request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n"
    status, headers, body = raw_request(port, request, timeout=10)
    assert status == 413
    assert headers.get("connection") == "close"
    assert b"max_frame_size" in body
    assert client.add(1, 2) == 3


def test_a_stalled_body_gets_408_and_blocks_no_one(port: int, client: HttpClient) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        for i in range(5):
            assert client.add(i, 1) == i + 1
        started = time.monotonic()
        status, _, _ = read_response(stalled)  # body_timeout=3 in tests.web.http_apps
        assert status == 408
        assert time.monotonic() - started < 14


def test_lifespan_starts_and_stops_the_thread_pool() -> None:
    app = ThriftASGIApp(store.Store, Handler(), threads=2)
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})

        async def send(message: Any) -> None:
            sent.append(dict(message))

        await asyncio.wait_for(app({"type": "lifespan"}, inbox.get, send), 10)

    asyncio.run(main())
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert app._executor is None  # shut down by the shutdown event


def test_under_uvicorn_in_process_with_filters_and_multiplexing() -> None:
    seen: list[str] = []

    class Audit(AsyncFilter[Request, Response, Request, Response]):
        role = "audit"
        description = "records each call's service, method and user agent"

        async def __call__(
            self, request: Request, service: AsyncService[Request, Response]
        ) -> Response:
            agent = request.context.attributes[HTTP_HEADERS_KEY].get("x-agent", "")
            seen.append(f"{request.service}.{request.name}.{agent}")
            return await service(request)

    app = ThriftASGIApp(
        services={"A": (store.Store, AsyncHandler()), "B": (store.Store, Handler())},
        filters=[Audit()],
        protocol="compact",
    )
    with uvicorn_thread(app) as port:
        opts: dict[str, Any] = {"protocol": "compact", "timeout": 15, "headers": {"X-Agent": "t"}}
        with HttpClient(store.Store, "127.0.0.1", port, service_name="A", **opts) as a:
            assert a.add(1, 2) == 3
        with HttpClient(store.Store, "127.0.0.1", port, service_name="B", **opts) as b:
            assert b.echo("b") == "b"
        with HttpClient(store.Store, "127.0.0.1", port, service_name="C", **opts) as c:
            with pytest.raises(TApplicationException):
                c.add(1, 2)
    assert seen == ["A.add.t", "B.echo.t"]


def test_async_service_handler_is_the_terminal() -> None:
    class Terminal(AsyncService[Request, Response]):
        async def __call__(self, request: Request) -> Response:
            method = request.method
            assert method.result is not None
            return method.result(success=f"terminal:{request.args.text}")

    with uvicorn_thread(ThriftASGIApp(store.Store, Terminal(), protocol="json")) as port:
        with HttpClient(store.Store, "127.0.0.1", port, protocol="json", timeout=15) as c:
            assert c.echo("x") == "terminal:x"


def test_bad_options() -> None:
    class SyncFilter(Filter[Request, Response, Request, Response]):
        def __call__(self, request: Request, service: Any) -> Response:
            return service(request)  # type: ignore[no-any-return]

    with pytest.raises(TypeError, match="build"):
        ThriftASGIApp(store.Store, Handler(), filters=[SyncFilter()])
    with pytest.raises(ValueError, match="threads"):
        ThriftASGIApp(store.Store, Handler(), threads=0)
    with pytest.raises(ValueError, match="body_timeout"):
        ThriftASGIApp(store.Store, Handler(), body_timeout=-1)


def test_http_status_error_names_the_status(port: int) -> None:
    # The app is fine; a client speaking JSON to a binary endpoint is refused by label (415).
    with HttpClient(store.Store, "127.0.0.1", port, protocol="json", timeout=15) as c:
        with pytest.raises(TransportError, match="HTTP 415") as info:
            c.add(1, 2)
    assert getattr(info.value, "status", None) == 415
