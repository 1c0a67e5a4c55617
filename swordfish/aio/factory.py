"""``make_aio_server`` / ``make_aio_client`` / ``make_aio_pool``: the public way to build the
asyncio drivers.

Thin on purpose, like the sync factories: they name every option once, with its default, and
hand over to the classes, which validate (a bad choice is a ``ValueError`` listing the valid
ones). They are coroutines because each does its I/O before returning: the server is
listening, the client connected, the pool holds its ``min_size`` connections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ..limits import Limits
from ..rpc.filter import AnyAsyncFilter, Stack
from .client import AsyncClient, AsyncClientPool, AsyncStub
from .server import AsyncServer

__all__ = ["make_aio_client", "make_aio_pool", "make_aio_server"]


async def make_aio_server(
    service: object,
    handler: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    limits: Limits | None = None,
    max_in_flight: int = 10_000,
    max_in_flight_per_connection: int = 128,
    handler_threads: int = 16,
    sync_handlers: str = "thread",
    idle_timeout: float | None = 60.0,
    call_timeout: float | None = None,
    backlog: int = 1024,
    reuse_port: bool = False,
    filters: Iterable[AnyAsyncFilter] | Stack = (),
) -> AsyncServer:
    """A started, listening ``AsyncServer`` (read ``.port`` when ``port=0``).

    handler: one method per IDL method; ``async def`` methods run on the loop, plain ones in a
        pool of ``handler_threads`` threads (or on the loop with ``sync_handlers="inline"``).
    max_in_flight / max_in_flight_per_connection: calls running at once in the server / on
        one connection; when full the connection stops reading (backpressure).
    idle_timeout: seconds before a connection with nothing in flight is closed.
    call_timeout: seconds a handler call may take before the client gets an error.
    filters: ``AsyncFilter``s (or a ``Stack``), outermost first, around every handler call.
    Serve with ``await server.serve_forever()``; stop with ``await server.stop(timeout)``.
    """
    server = AsyncServer(
        service,
        handler,
        host,
        port,
        protocol=protocol,
        transport=transport,
        limits=limits,
        max_in_flight=max_in_flight,
        max_in_flight_per_connection=max_in_flight_per_connection,
        handler_threads=handler_threads,
        sync_handlers=sync_handlers,
        idle_timeout=idle_timeout,
        call_timeout=call_timeout,
        backlog=backlog,
        reuse_port=reuse_port,
        filters=filters,
    )
    return await server.start()


async def make_aio_client(
    service: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    timeout: float | None = 30.0,
    connect_timeout: float | None = 5.0,
    limits: Limits | None = None,
    max_in_flight: int = 1024,
    max_waiters: int = 1024,
    service_name: str | None = None,
    filters: Iterable[AnyAsyncFilter] | Stack = (),
) -> AsyncClient:
    """A connected ``AsyncClient``: any number of concurrent calls on one connection.

    timeout: per-call timeout in seconds (``None`` = wait forever); on expiry the call raises
        ``TransportTimeout`` and the connection stays open (its late reply is dropped).
    max_in_flight / max_waiters: calls on the wire / waiting for a slot; beyond: ``Rejected``.
    filters: ``AsyncFilter``s (or a ``Stack``), outermost first, around every call.
    """
    client = AsyncClient(
        service,
        host,
        port,
        protocol=protocol,
        transport=transport,
        timeout=timeout,
        connect_timeout=connect_timeout,
        limits=limits,
        max_in_flight=max_in_flight,
        max_waiters=max_waiters,
        service_name=service_name,
        filters=filters,
    )
    return await client.connect()


async def make_aio_pool(
    service: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    timeout: float | None = 30.0,
    connect_timeout: float | None = 5.0,
    limits: Limits | None = None,
    min_size: int = 0,
    max_size: int = 10,
    max_waiters: int = 1024,
    idle_timeout: float | None = 60.0,
    max_lifetime: float | None = None,
    health_check: Callable[[AsyncStub], Awaitable[object]] | None = None,
    health_check_interval: float = 0.0,
    service_name: str | None = None,
    filters: Iterable[AnyAsyncFilter] | Stack = (),
) -> AsyncClientPool:
    """A started ``AsyncClientPool`` (one call per connection at a time; see its docstring)."""
    pool = AsyncClientPool(
        service,
        host,
        port,
        protocol=protocol,
        transport=transport,
        timeout=timeout,
        connect_timeout=connect_timeout,
        limits=limits,
        min_size=min_size,
        max_size=max_size,
        max_waiters=max_waiters,
        idle_timeout=idle_timeout,
        max_lifetime=max_lifetime,
        health_check=health_check,
        health_check_interval=health_check_interval,
        service_name=service_name,
        filters=filters,
    )
    return await pool.start()
