"""Client behaviour that does not depend on the server model."""

from __future__ import annotations

import socket
import threading
import time
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.errors import (
    ConnectionClosedError,
    Rejected,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_a_transport_error(store: ModuleType) -> None:
    c = swordfish.make_client(store.Store, port=free_port(), connect_timeout=1)
    with pytest.raises(TransportError, match="connect to 127.0.0.1:") as info:
        c.ping()
    assert not isinstance(info.value, TransportTimeout)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


@pytest.mark.ci_may_skip("needs a kernel that drops SYNs when the accept queue is full")
def test_connect_timeout(store: ModuleType) -> None:
    # A listener whose accept queue is full drops new SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.settimeout(0.2)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                break
            fillers.append(s)
        else:
            pytest.skip("this kernel does not drop SYNs on a full backlog")
        c = swordfish.make_client(store.Store, port=port, connect_timeout=0.3)
        start = time.monotonic()
        with pytest.raises(TransportTimeout, match="connect to 127.0.0.1:.* timed out"):
            c.ping()
        assert time.monotonic() - start < 2
    finally:
        for s in fillers:
            s.close()
        listener.close()


class FakeServer:
    """A scripted peer: reads one request, then does whatever ``reply`` says."""

    def __init__(self, reply: Any) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reply = reply
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            self.reply(conn)
            time.sleep(0.2)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(2)


def test_server_vanishing_mid_reply(store: ModuleType) -> None:
    from swordfish.codec import get_codec
    from swordfish.model import MessageType

    spec = store.Store.__thrift_service__
    result = spec.methods["echo"].result(success="z" * 50)
    reply = get_codec("binary").encode_message("echo", MessageType.REPLY, 1, result)
    fake = FakeServer(lambda conn: conn.sendall(reply[: len(reply) // 2]))
    try:
        c = swordfish.make_client(store.Store, port=fake.port, timeout=3)
        with pytest.raises(ConnectionClosedError, match="mid-reply"):
            c.echo("q")
        assert not c.connected
    finally:
        fake.close()


def test_server_closing_without_reply(store: ModuleType) -> None:
    fake = FakeServer(lambda conn: None)
    try:
        c = swordfish.make_client(store.Store, port=fake.port, timeout=3)
        with pytest.raises(ConnectionClosedError, match="before replying"):
            c.add(1, 2)
    finally:
        fake.close()


def test_reply_with_wrong_seqid_is_a_protocol_error(store: ModuleType) -> None:
    from swordfish.codec import get_codec
    from swordfish.model import MessageType

    spec = store.Store.__thrift_service__
    result = spec.methods["add"].result(success=3)
    reply = get_codec("binary").encode_message("add", MessageType.REPLY, 999, result)
    fake = FakeServer(lambda conn: conn.sendall(reply))
    try:
        c = swordfish.make_client(store.Store, port=fake.port, timeout=3)
        with pytest.raises(RemoteProtocolError, match="seqid 999"):
            c.add(1, 2)
        assert not c.connected
    finally:
        fake.close()


def test_closed_client_refuses_calls(store: ModuleType) -> None:
    server = swordfish.make_server(store.Store, object(), port=0).start()
    try:
        with swordfish.make_client(store.Store, port=server.port) as c:
            pass
        with pytest.raises(Rejected, match="closed"):
            c.ping()
    finally:
        server.stop()


def test_bad_arguments_fail_before_connecting(store: ModuleType) -> None:
    c = swordfish.make_client(store.Store, port=free_port())
    with pytest.raises(TypeError, match=r"add\(\) got an unexpected argument 'c'"):
        c.add(1, c=2)
    assert not c.connected


def test_client_attributes_win_and_stub_reaches_everything(store: ModuleType) -> None:
    c = swordfish.make_client(store.Store, port=free_port())
    assert c.stub.add.__name__ == "add"
    assert "add" in dir(c)
    with pytest.raises(AttributeError, match="service Store has no method 'nope'"):
        c.nope  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "json5"}, "unknown protocol 'json5'; choose one of: binary, compact"),
        ({"transport": "tcp"}, "unknown transport 'tcp'; choose one of: buffered, framed"),
    ],
)
def test_unknown_names_list_the_choices(store: ModuleType, kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        swordfish.make_client(store.Store, **kwargs)
    with pytest.raises(ValueError, match=message):
        swordfish.make_server(store.Store, object(), port=0, **kwargs)


def test_http_transport_points_to_the_http_drivers(store: ModuleType) -> None:
    """``transport="http"`` is Thrift over HTTP: the factories build HTTP clients, and the
    raw-TCP classes refuse it with an error that names what serves or speaks it."""
    from swordfish.aio import AsyncClient, AsyncClientPool, AsyncServer
    from swordfish.sync.http import HttpClient

    with swordfish.make_client(store.Store, port=free_port(), transport="http") as http:
        assert isinstance(http, HttpClient)
    with pytest.raises(ValueError, match=r"unknown transport 'http' for Client.*HttpClient"):
        swordfish.Client(store.Store, port=free_port(), transport="http")
    for cls in (AsyncClient, AsyncClientPool):
        with pytest.raises(
            ValueError, match=r"transport 'http' for AsyncClient.*AsyncHttpClient.*make_aio_client"
        ):
            cls(store.Store, port=free_port(), transport="http")
    for server_cls, name in ((swordfish.Server, "Server"), (AsyncServer, "AsyncServer")):
        with pytest.raises(
            ValueError,
            match=rf"transport 'http' for {name}, .*ThriftWSGIApp.*ThriftASGIApp|"
            rf"transport 'http' for {name}, .*ThriftASGIApp.*ThriftWSGIApp",
        ):
            server_cls(store.Store, object(), port=0, transport="http")
    with pytest.raises(ValueError, match="ThriftWSGIApp"):
        swordfish.make_server(store.Store, object(), port=0, transport="http")


def test_server_argument_checks(store: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown model 'gevent'; choose one of: simple, thre"):
        swordfish.make_server(store.Store, object(), port=0, model="gevent")
    with pytest.raises(ValueError, match="workers applies to model='threadpool' only"):
        swordfish.make_server(store.Store, object(), port=0, model="threaded", workers=2)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        swordfish.make_server(store.Store, object(), port=0, workers=0)
    with pytest.raises(TypeError, match="service must be a service class"):
        swordfish.make_server("Store", object(), port=0)


def test_service_spec_is_accepted_too(store: ModuleType) -> None:
    spec = store.Store.__thrift_service__
    server = swordfish.make_server(spec, object(), port=0).start()
    try:
        with swordfish.make_client(spec, port=server.port) as c:
            with pytest.raises(swordfish.TApplicationException, match="not implemented"):
                c.ping()
    finally:
        server.stop()


def test_port_in_use_is_a_transport_error(store: ModuleType) -> None:
    server = swordfish.make_server(store.Store, object(), port=0)
    try:
        with pytest.raises(TransportError, match="listen on 127.0.0.1:"):
            swordfish.make_server(store.Store, object(), port=server.port)
    finally:
        server.stop()


def test_a_service_can_be_the_handler(store: ModuleType) -> None:
    from swordfish.rpc import Request, Service

    def terminal(request: Request) -> Any:
        assert request.method.result is not None
        result: Any = request.method.result()
        args: Any = request.args
        result.success = 100 + args.a
        return result

    server = swordfish.make_server(store.Store, Service.from_function(terminal), port=0).start()
    try:
        with swordfish.make_client(store.Store, port=server.port) as c:
            assert c.add(1, 2) == 101
    finally:
        server.stop()


def test_proxy_server_forwards_to_a_client_connection(store: ModuleType) -> None:
    """A client's terminal service is a server's terminal too: a proxy is two lines."""
    from .conftest import StoreHandler

    backend = swordfish.make_server(store.Store, StoreHandler(store), port=0).start()
    upstream = swordfish.make_client(store.Store, port=backend.port, transport="buffered")
    proxy = swordfish.make_server(
        store.Store, upstream.connection, port=0, transport="framed", model="simple"
    ).start()
    try:
        with swordfish.make_client(store.Store, port=proxy.port, transport="framed") as c:
            assert c.add(2, 3) == 5
            with pytest.raises(store.NotFound):
                c.get("missing")
            with pytest.raises(swordfish.TApplicationException, match="ValueError: kaboom"):
                c.boom("value")
    finally:
        proxy.stop()
        upstream.close()
        backend.stop()
