"""``ThriftWSGIApp`` under a real gunicorn (subprocess, threaded worker) and under wsgiref.

Calls go through Swordfish's ``HttpClient``; requests no client would send (wrong method,
huge length, junk, a stalled body) go as raw bytes on a socket. After every bad request the
server must still answer a normal call.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import swordfish
from swordfish.errors import TransportTimeout
from swordfish.limits import Limits
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.rpc import Filter, Request, Response, Service
from swordfish.sync.http import HttpClient
from swordfish.web import HTTP_HEADERS_KEY, ThriftWSGIApp
from tests.web import http_apps
from tests.web.http_apps import Handler, store
from tests.web.http_servers import gunicorn_server, post, raw_request, wsgiref_server

SERVERS = ["gunicorn", "wsgiref"]


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with gunicorn_server(tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield server.port


@pytest.fixture(scope="module")
def wsgiref_port() -> Iterator[int]:
    with wsgiref_server(http_apps.wsgi_app) as port:
        yield port


@pytest.fixture(params=SERVERS)
def port(request: pytest.FixtureRequest) -> int:
    return int(request.getfixturevalue(f"{request.param}_port"))


@pytest.fixture
def client(port: int) -> Iterator[HttpClient]:
    with HttpClient(store.Store, "127.0.0.1", port, path="/any/path", timeout=15) as c:
        yield c


def _call_bytes(name: str, args: Any, protocol: str = "binary") -> bytes:
    """One call message as a client would POST it (encoded with the public codec API)."""
    from swordfish.codec import get_codec
    from swordfish.model.ttype import MessageType

    return get_codec(protocol).encode_message(name, MessageType.CALL, 7, args)


def test_calls_and_answers(client: HttpClient) -> None:
    assert client.add(2, 40) == 42
    assert client.echo("héllo") == "héllo"
    assert client.echo_binary(b"\x00\xff" * 1000) == b"\x00\xff" * 1000
    shape = store.Shape(name="sq", points=[store.Point(x=1, y=2)], tags={"a": 1}, ids={3, 4})
    assert client.roundtrip(shape) == shape
    assert len(client.many(50)) == 50
    assert client.nested({"k": [1, 2, 3]}) == {"k": [3, 2, 1]}
    assert client.pick(True) == store.Value(num=7)
    client.ping()
    with pytest.raises(store.NotFound):
        client.get("missing")
    with pytest.raises(TApplicationException) as info:
        client.boom("value")
    assert info.value.type == ApplicationExceptionType.INTERNAL_ERROR
    assert "kaboom" in str(info.value)
    assert client.add(1, 1) == 2


def test_unknown_method_is_a_thrift_answer(port: int) -> None:
    # StoreV2 has a method the server's Store lacks: the engine answers UNKNOWN_METHOD (200).
    with HttpClient(store.StoreV2, "127.0.0.1", port, timeout=15) as v2:
        with pytest.raises(TApplicationException) as info:
            v2.added_later(1)
        assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
        assert v2.add(3, 4) == 7


def test_oneway_is_answered_before_the_handler_runs(client: HttpClient, tmp_path: Path) -> None:
    go = tmp_path / "go"
    before = client.fired()
    started = time.monotonic()
    assert client.fire(f"block:{go}") is None  # the handler is now waiting for `go`
    assert time.monotonic() - started < 10
    assert client.fired() == before  # answered, not yet run
    go.touch()
    deadline = time.monotonic() + 15
    while client.fired() == before:
        assert time.monotonic() < deadline, "the oneway handler never ran"
        time.sleep(0.05)
    assert client.fired() == before + 1


BAD_REQUESTS = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 405, id="get"),
    pytest.param(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, id="put"),
    pytest.param(post("/", b"junk that is no thrift message"), 400, id="junk"),
    pytest.param(post("/", b""), 400, id="empty"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400, id="bad-length"
    ),
    pytest.param(
        post("/", b"x", content_type="application/vnd.apache.thrift.json"), 415, id="json-label"
    ),
]


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
    for body in (call[:-3], call + call, call + b"\x00"):
        status, _, text = raw_request(port, post("/", body))
        assert status == 400, text
    # The same bytes, whole and alone, are a good call: the 400s were about the framing.
    status, headers, reply = raw_request(port, post("/", call))
    assert status == 200
    assert headers["content-type"] == "application/x-thrift"
    assert reply[:4] == struct.pack("!I", 0x80010002)  # strict binary header, type REPLY
    assert client.add(2, 2) == 4


def test_huge_content_length_is_refused_without_reading_the_body(port: int) -> None:
    # 1 TB declared, nothing sent: the answer must come without the server waiting for it.
    request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n"
    status, _, body = raw_request(port, request, timeout=10)
    assert status == 413
    assert b"max_frame_size" in body


def test_a_stalled_client_does_not_block_others(port: int, client: HttpClient) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        for i in range(5):
            assert client.add(i, i) == 2 * i


def test_wsgiref_needs_a_length() -> None:
    with wsgiref_server(http_apps.wsgi_app) as port:
        status, _, _ = raw_request(port, b"POST / HTTP/1.0\r\nHost: t\r\n\r\n")
        assert status == 411


@pytest.mark.parametrize("protocol", ["binary", "compact", "json"])
def test_protocols(protocol: str) -> None:
    app = ThriftWSGIApp(store.Store, Handler(), protocol=protocol)
    with wsgiref_server(app) as port:
        with HttpClient(store.Store, "127.0.0.1", port, protocol=protocol, timeout=15) as c:
            assert c.echo("über") == "über"
            assert c.nested({"a": [1, 2]}) == {"a": [2, 1]}
        want = (
            "application/vnd.apache.thrift.json" if protocol == "json" else "application/x-thrift"
        )
        with pytest.raises(swordfish.errors.TransportError, match=r"HTTP 4(00|15)"):
            # Another protocol's call: refused by its label (415) or as malformed (400).
            other = "json" if protocol != "json" else "binary"
            with HttpClient(store.Store, "127.0.0.1", port, protocol=other, timeout=15) as c:
                c.add(1, 2)
        status, headers, _ = raw_request(
            port,
            post(
                "/",
                _call_bytes(
                    "ping", store.Store.__thrift_service__.methods["ping"].args(), protocol
                ),
            ),
        )
        assert status == 200 and headers["content-type"] == want


def test_multiplexed_services() -> None:
    app = ThriftWSGIApp(services={"A": (store.Store, Handler()), "B": (store.Store, Handler())})
    with wsgiref_server(app) as port:
        with HttpClient(store.Store, "127.0.0.1", port, service_name="A", timeout=15) as a:
            assert a.add(1, 2) == 3
        with HttpClient(store.Store, "127.0.0.1", port, service_name="Z", timeout=15) as z:
            with pytest.raises(TApplicationException) as info:
                z.add(1, 2)
            assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
        with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as plain:
            with pytest.raises(TApplicationException):
                plain.add(1, 2)


class RequireToken(Filter[Request, Response, Request, Response]):
    role = "auth"
    description = "refuses calls without the right X-Token header"

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        headers = request.context.attributes[HTTP_HEADERS_KEY]
        if headers.get("x-token") != "s3cret":
            raise TApplicationException("no token", ApplicationExceptionType.UNKNOWN)
        return service(request)


def test_filters_see_the_http_headers() -> None:
    app = ThriftWSGIApp(store.Store, Handler(), filters=[RequireToken()])
    with wsgiref_server(app) as port:
        headers = {"X-Token": "s3cret"}
        with HttpClient(store.Store, "127.0.0.1", port, headers=headers, timeout=15) as good:
            assert good.add(1, 2) == 3
        with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as bad:
            with pytest.raises(TApplicationException, match="no token"):
                bad.add(1, 2)


def test_body_over_max_frame_size_is_413() -> None:
    app = ThriftWSGIApp(store.Store, Handler(), limits=Limits(max_frame_size=1024))
    with wsgiref_server(app) as port:
        with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
            assert c.echo("x" * 500) == "x" * 500
            with pytest.raises(swordfish.errors.TransportError, match="HTTP 413"):
                c.echo("x" * 5000)
            assert c.add(1, 2) == 3


def test_slow_reads_are_bounded_by_the_server_timeout() -> None:
    with wsgiref_server(http_apps.wsgi_app, timeout=1.0) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123")
            stalled.settimeout(10)
            # The server gives up on the body after its 1 s socket timeout and answers 400
            # or just closes; either way the socket is released well before our 10 s.
            data = stalled.recv(65536)
            assert data == b"" or data.startswith(b"HTTP/1.0 400")


def test_wsgi_app_refuses_async_handlers_and_filters() -> None:
    with pytest.raises(TypeError, match="ThriftASGIApp"):
        ThriftWSGIApp(store.Store, http_apps.AsyncHandler())
    with pytest.raises(ValueError, match="unknown protocol"):
        ThriftWSGIApp(store.Store, Handler(), protocol="thrift")
    with pytest.raises(ValueError, match="service and a handler"):
        ThriftWSGIApp(store.Store)


def test_client_timeout_against_gunicorn(gunicorn_port: int) -> None:
    with HttpClient(store.Store, "127.0.0.1", gunicorn_port, timeout=0.5) as c:
        with pytest.raises(TransportTimeout):
            c.slow(3.0, 1)
        c.timeout = 15
        assert c.add(1, 2) == 3
