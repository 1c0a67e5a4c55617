"""Helpers for testing your own handlers and filters against a real Swordfish server.

Built only from public constructors (``make_server`` / ``make_client``), so what it exercises
is exactly what production code runs: real loopback sockets, real codecs and framing. Use it
in your test suite::

    from swordfish.testing import serve

    def test_add():
        calc = swordfish.load("calc.thrift")
        with serve(calc.Calculator, CalculatorHandler()) as client:
            assert client.add(1, 2) == 3

The server listens on 127.0.0.1 on a free port and is stopped (drained) when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .limits import Limits
from .rpc.filter import AnyFilter, Stack
from .sync.client import Client
from .sync.factory import make_client, make_server
from .sync.server import Server

__all__ = ["running_server", "serve"]


@contextmanager
def running_server(
    service: object,
    handler: object,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    model: str = "threaded",
    filters: Iterable[AnyFilter] | Stack = (),
    limits: Limits | None = None,
    **server_options: Any,
) -> Iterator[Server]:
    """A started loopback server on a free port (``server.port``); stopped on exit.

    ``model`` defaults to "threaded" so several clients may be connected at once.
    """
    server = make_server(
        service,
        handler,
        "127.0.0.1",
        0,
        protocol=protocol,
        transport=transport,
        model=model,
        filters=filters,
        limits=limits,
        **server_options,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serve(
    service: object,
    handler: object,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    model: str = "threaded",
    filters: Iterable[AnyFilter] | Stack = (),
    client_filters: Iterable[AnyFilter] | Stack = (),
    timeout: float | None = 10.0,
    limits: Limits | None = None,
) -> Iterator[Client]:
    """Serve ``handler`` on loopback and yield a client connected to it.

    filters / client_filters: server-side and client-side stacks, to test your filters.
    timeout: the client's per-call timeout (a hung handler fails the test instead of hanging).
    """
    with running_server(
        service,
        handler,
        protocol=protocol,
        transport=transport,
        model=model,
        filters=filters,
        limits=limits,
    ) as server:
        client = make_client(
            service,
            "127.0.0.1",
            server.port,
            protocol=protocol,
            transport=transport,
            timeout=timeout,
            limits=limits,
            filters=client_filters,
        )
        with client:
            yield client
