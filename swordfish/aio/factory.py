"""``make_aio_server`` / ``make_aio_client`` / ``make_aio_pool``: the public way to build the
asyncio drivers.

Each is the class's constructor followed by the I/O that makes the object usable (the server
listening, the client connected, the pool holding its ``min_size`` connections), so it is a
coroutine. The options are the constructor's own: declared, defaulted and documented once, in
``AsyncServer``, ``AsyncClient`` and ``AsyncClientPool``, and type-checked through
``ParamSpec`` (a wrong keyword is a mypy error, as with the classes).

``make_aio_client(..., transport="http")`` builds an ``AsyncHttpClient`` instead (Thrift over
HTTP; ``host`` may be a whole URL, ``path=``/``url=`` are accepted) with that class's options;
``make_aio_server`` refuses ``transport="http"`` and names the ASGI app that serves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from ..rpc.options import HTTP_TRANSPORT
from .client import AsyncClient, AsyncClientPool
from .server import AsyncServer

if TYPE_CHECKING:
    from .http import AsyncHttpClient

__all__ = ["make_aio_client", "make_aio_pool", "make_aio_server"]

P = ParamSpec("P")
T = TypeVar("T")


def _opened(
    name: str, cls: Callable[P, T], open_: Callable[[T], Awaitable[T]], doc: str
) -> Callable[P, Coroutine[Any, Any, T]]:
    async def make(*args: P.args, **kwargs: P.kwargs) -> T:
        if kwargs.get("transport") == HTTP_TRANSPORT:
            raise ValueError(
                f"{name}: transport='http' is served by swordfish.web.ThriftASGIApp (under "
                "uvicorn) or ThriftWSGIApp, not by the raw-TCP AsyncServer"
            )
        return await open_(cls(*args, **kwargs))

    make.__name__ = make.__qualname__ = name
    make.__doc__ = doc
    return make


make_aio_server = _opened(
    "make_aio_server",
    AsyncServer,
    AsyncServer.start,
    """A started, listening ``AsyncServer`` (read ``.port`` when ``port=0``); options as for
    ``AsyncServer``. Serve with ``await server.serve_forever()``; stop with
    ``await server.stop(timeout)``.""",
)


@overload
async def make_aio_client(
    service: object,
    host: str = ...,
    port: int = ...,
    *,
    transport: Literal["http"],
    **options: Any,
) -> AsyncHttpClient: ...
@overload
async def make_aio_client(
    service: object,
    host: str = ...,
    port: int = ...,
    *,
    transport: str = ...,
    **options: Any,
) -> AsyncClient: ...
async def make_aio_client(
    service: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    transport: str = "buffered",
    **options: Any,
) -> AsyncClient | AsyncHttpClient:
    """A connected ``AsyncClient`` (any number of concurrent calls on one connection), or with
    ``transport="http"`` an ``AsyncHttpClient``; options as for the class built."""
    if transport == HTTP_TRANSPORT:
        from .http import AsyncHttpClient  # httpx is an optional dependency

        return await AsyncHttpClient(service, host, port, **options).connect()
    return await AsyncClient(service, host, port, transport=transport, **options).connect()


make_aio_pool = _opened(
    "make_aio_pool",
    AsyncClientPool,
    AsyncClientPool.start,
    """A started ``AsyncClientPool`` holding its ``min_size`` connections; options as for
    ``AsyncClientPool``.""",
)
