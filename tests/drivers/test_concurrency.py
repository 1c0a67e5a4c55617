"""Many clients at once, idle timeouts, and the threadpool's selector hand-off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import swordfish

from .conftest import StoreHandler


@pytest.fixture
def make(store: ModuleType) -> Iterator[Any]:
    servers: list[Any] = []
    clients: list[Any] = []

    def build(**kwargs: Any) -> tuple[Any, Any]:
        server = swordfish.make_server(store.Store, StoreHandler(store), port=0, **kwargs)
        servers.append(server.start())

        def client(**ckw: Any) -> Any:
            c = swordfish.make_client(store.Store, port=server.port, **ckw)
            clients.append(c)
            return c

        return server, client

    yield build
    for c in clients:
        c.close()
    for s in servers:
        s.stop(timeout=2)


@pytest.mark.parametrize("model", ["threaded", "threadpool"])
@pytest.mark.parametrize("protocol", ["binary", "compact"])
def test_many_concurrent_clients(make: Any, model: str, protocol: str) -> None:
    server, client = make(model=model, protocol=protocol, transport="framed")
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def run(n: int) -> None:
        try:
            c = client(protocol=protocol, transport="framed")
            barrier.wait(5)
            for i in range(25):
                assert c.add(n, i) == n + i
                assert c.echo(f"{n}-{i}") == f"{n}-{i}"
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert server.connections == 16


def test_threadpool_idle_connections_do_not_pin_workers(make: Any) -> None:
    """Six open connections, two workers: every connection still gets served."""
    server, client = make(model="threadpool", workers=2)
    clients = [client() for _ in range(6)]
    for c in clients:
        assert c.ping() is None  # all six connected and now idle
    for i, c in enumerate(clients):
        assert c.add(i, 1) == i + 1
    assert server.connections == 6


def test_threadpool_runs_calls_in_parallel_up_to_workers(make: Any) -> None:
    server, client = make(model="threadpool", workers=4)
    clients = [client() for _ in range(4)]
    for c in clients:
        c.ping()
    start = time.monotonic()
    threads = [threading.Thread(target=c.slow, args=(0.4, 1)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - start < 1.2  # 4 x 0.4 s sequentially would be 1.6 s


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool"])
def test_idle_timeout_closes_connection_and_client_reconnects(make: Any, model: str) -> None:
    server, client = make(model=model, idle_timeout=0.3)
    c = client()
    assert c.add(1, 2) == 3
    deadline = time.monotonic() + 3
    while server.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connections == 0  # the server hung up on the idle connection
    assert c.add(2, 3) == 5  # the client noticed and reconnected; the call was not lost


def test_stop_is_idempotent_and_start_twice_fails(make: Any) -> None:
    server, client = make(model="threaded")
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    server.stop()
    server.stop()


def test_stop_before_start_and_context_manager(store: ModuleType) -> None:
    server = swordfish.make_server(store.Store, StoreHandler(store), port=0)
    server.stop()
    server.start()  # returns at once: the server was stopped before it served
    server.serve_forever()  # likewise
    with swordfish.make_server(store.Store, StoreHandler(store), port=0) as running:
        with swordfish.make_client(store.Store, port=running.port) as c:
            assert c.add(1, 2) == 3
    assert running.connections == 0
