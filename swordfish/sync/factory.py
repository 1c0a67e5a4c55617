"""``make_server`` / ``make_client``: the public way to build the blocking drivers.

Thin on purpose: they name every option once, with its default, and hand over to ``Server``
and ``Client``, which validate (an unknown protocol, transport or model is a ``ValueError``
listing the valid choices).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..limits import Limits
from ..rpc.filter import AnyFilter, Stack
from .client import Client
from .server import Server

__all__ = ["make_client", "make_server"]


def make_server(
    service: object,
    handler: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    model: str = "threadpool",
    workers: int | None = None,
    limits: Limits | None = None,
    idle_timeout: float | None = 60.0,
    filters: Iterable[AnyFilter] | Stack = (),
) -> Server:
    """A bound, listening ``Server``; call ``serve_forever()`` or ``start()`` on it.

    service: the loaded service class (``calc.Calculator``) or its ``ServiceSpec``.
    handler: object with one method per IDL method (``handler.add(a, b)``).
    port: 0 picks a free port (read ``server.port``).
    protocol: "binary" or "compact". transport: "buffered" (unframed) or "framed".
    model: "simple", "threaded" or "threadpool" (``workers`` threads; threadpool only).
    idle_timeout: seconds before a silent connection is closed (``None`` = never).
    filters: server-side filters, outermost first, around the handler dispatch.
    """
    return Server(
        service,
        handler,
        host,
        port,
        protocol=protocol,
        transport=transport,
        model=model,
        workers=workers,
        limits=limits,
        idle_timeout=idle_timeout,
        filters=filters,
    )


def make_client(
    service: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    protocol: str = "binary",
    transport: str = "buffered",
    timeout: float | None = 30.0,
    connect_timeout: float | None = 5.0,
    limits: Limits | None = None,
    filters: Iterable[AnyFilter] | Stack = (),
) -> Client:
    """A ``Client``; it connects on its first call.

    timeout: per-call deadline in seconds (``None`` = wait forever). On expiry the call raises
        ``TransportTimeout`` and the connection is closed (the next call reconnects).
    connect_timeout: bound on opening the connection (refused/unreachable: ``TransportError``).
    protocol and transport must match the server's.
    """
    return Client(
        service,
        host,
        port,
        protocol=protocol,
        transport=transport,
        timeout=timeout,
        connect_timeout=connect_timeout,
        limits=limits,
        filters=filters,
    )
