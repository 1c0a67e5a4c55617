"""``make_aio_server`` / ``make_aio_client`` / ``make_aio_pool``: the public way to build the
asyncio drivers.

Each is the class's constructor followed by the I/O that makes the object usable (the server
listening, the client connected, the pool holding its ``min_size`` connections), so it is a
coroutine. The options are the constructor's own: declared, defaulted and documented once, in
``AsyncServer``, ``AsyncClient`` and ``AsyncClientPool``, and type-checked through
``ParamSpec`` (a wrong keyword is a mypy error, as with the classes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from .client import AsyncClient, AsyncClientPool
from .server import AsyncServer

__all__ = ["make_aio_client", "make_aio_pool", "make_aio_server"]

P = ParamSpec("P")
T = TypeVar("T")


def _opened(
    name: str, cls: Callable[P, T], open_: Callable[[T], Awaitable[T]], doc: str
) -> Callable[P, Coroutine[Any, Any, T]]:
    async def make(*args: P.args, **kwargs: P.kwargs) -> T:
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

make_aio_client = _opened(
    "make_aio_client",
    AsyncClient,
    AsyncClient.connect,
    """A connected ``AsyncClient`` (any number of concurrent calls on one connection);
    options as for ``AsyncClient``.""",
)

make_aio_pool = _opened(
    "make_aio_pool",
    AsyncClientPool,
    AsyncClientPool.start,
    """A started ``AsyncClientPool`` holding its ``min_size`` connections; options as for
    ``AsyncClientPool``.""",
)
