"""The sync ``Server`` on a unix-domain listening socket (``sock=`` an ``AF_UNIX`` listener).

What a gunicorn ``-b unix:/path`` bind or a supervisor behind a local proxy hands a worker.
There is no port: ``.port`` is 0, ``.host`` the socket's path, and logs and ``repr`` show
``unix:/path``. Calls are made over a raw ``AF_UNIX`` socket with Swordfish's client engine
(the sync ``Client`` speaks TCP only).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import swordfish
from swordfish.protocol import Reply
from swordfish.sync.stream import format_address

from .conftest import StoreHandler
from .test_lingering_close import FIRST_BATCH, SECOND_BATCH, Pipeline, RunLog, SlowAdd

MODELS = ["simple", "threaded", "threadpool", "forking"]


@pytest.fixture
def unix_listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "store.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    try:
        yield sock, path
    finally:
        sock.close()


def unix_connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    return sock


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_serves_calls_over_a_unix_socket(
    store: ModuleType,
    unix_listener: tuple[socket.socket, str],
    model: str,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "swordfish.server")
    listener, path = unix_listener
    server = swordfish.make_server(
        store.Store, StoreHandler(store), sock=listener, model=model, transport=transport
    )
    assert (server.host, server.port, server.address) == (path, 0, f"unix:{path}")
    assert f"unix:{path}" in repr(server)
    server.start()  # names its thread after the address: no port needed
    try:
        pipe = Pipeline(store, transport=transport)
        for _ in range(2):  # two connections, one after the other
            client = unix_connect(path)
            try:
                client.sendall(pipe.calls(0, 5))
                replies = []
                while len(replies) < 5:
                    replies += _replies(pipe, client)
            finally:
                client.close()
            assert [r.result.success for r in replies] == [1000, 1001, 1002, 1003, 1004]  # type: ignore[attr-defined]
    finally:
        server.stop(timeout=5)
    assert server.connections == 0
    assert f"serving Store on unix:{path}" in caplog.text
    assert f"stopping Store on unix:{path}" in caplog.text
    assert listener.fileno() == -1  # the server closed its descriptor...
    assert Path(path).exists()  # ...and left the file to whoever bound it


def _replies(pipe: Pipeline, sock: socket.socket) -> list[Reply]:
    """The replies in what one read brings."""
    data = sock.recv(65536)
    assert data, "the server closed the connection"
    pipe.conn.receive_data(data)
    out = []
    while isinstance(event := pipe.conn.next_event(), Reply):
        out.append(event)
    return out


@pytest.mark.parametrize("model", ["threaded", "threadpool"])
def test_drain_over_a_unix_socket_delivers_every_reply_then_eof(
    store: ModuleType, unix_listener: tuple[socket.socket, str], model: str, tmp_path: Path
) -> None:
    """Unix sockets reset too (a close with unread input): the lingering close applies."""
    listener, path = unix_listener
    log = RunLog(tmp_path / "runs")
    server = swordfish.make_server(
        store.Store, SlowAdd(log), sock=listener, model=model, transport="framed"
    ).start()
    client = unix_connect(path)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5.0})
    try:
        pipe = Pipeline(store)
        client.sendall(pipe.calls(0, FIRST_BATCH))
        log.wait_for(3)
        client.sendall(pipe.calls(FIRST_BATCH, SECOND_BATCH))
        stopper.start()
        replies, outcome = pipe.read_all(client)
    finally:
        client.close()
        if stopper.ident is None:
            server.stop(timeout=1)
        else:
            stopper.join(10)
    ran = log.runs()
    pipe.check(replies, outcome, ran, ordered=True)
    assert 3 <= len(ran) < FIRST_BATCH


def test_format_address_names_unix_sockets() -> None:
    assert format_address("/run/store.sock") == "unix:/run/store.sock"
    assert format_address(b"\0store") == "unix:@store"  # Linux's abstract namespace
    assert format_address("") == "unix:(unnamed)"  # an accepted client's own address
    assert format_address(("127.0.0.1", 9090)) == "127.0.0.1:9090"
    assert format_address(("::1", 9090, 0, 0)) == "[::1]:9090"
    assert format_address(None) == "unknown"


def test_abstract_namespace_socket(store: ModuleType) -> None:
    name = f"\0swordfish-test-{threading.get_ident()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(name)
    listener.listen(4)
    server = swordfish.make_server(store.Store, StoreHandler(store), sock=listener).start()
    try:
        assert (server.host, server.port) == (name, 0)
        assert server.address == f"unix:@{name[1:]}"
        client = unix_connect(server.host)  # .host is what connect() takes
        try:
            pipe = Pipeline(store, transport="buffered")
            client.sendall(pipe.calls(41, 1))
            assert [r.result.success for r in _replies(pipe, client)] == [1041]  # type: ignore[attr-defined]
        finally:
            client.close()
    finally:
        server.stop(timeout=5)
