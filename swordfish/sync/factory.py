"""``make_server`` / ``make_client``: the public way to build the blocking drivers.

``make_server`` is the ``Server`` constructor itself (through a wrapper typed with its exact
signature), so every option is declared, with its default and documentation, in one place.
``make_client`` builds a ``Client`` (raw Thrift over TCP: ``transport="buffered"``, "framed",
"zlib") or, with ``transport="http"``, an ``HttpClient`` (Thrift over HTTP, to a
``swordfish.web`` WSGI/ASGI app or any Apache HTTP server); each takes its own class's options.
``make_*`` is the name users of thriftpy2 expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from ..rpc.options import HTTP_TRANSPORT
from .client import Client
from .server import Server

if TYPE_CHECKING:
    from .http import HttpClient

__all__ = ["make_client", "make_server"]

P = ParamSpec("P")
T = TypeVar("T")

#: The error for ``transport="http"`` given to a stream server.
HTTP_SERVER_HINT = (
    "transport='http' is not served by make_server/Server (raw Thrift over TCP): serve HTTP "
    "with swordfish.web.ThriftWSGIApp (gunicorn) or swordfish.web.ThriftASGIApp (uvicorn), "
    "or `swordfish serve --transport http`"
)


def _no_http(cls: Callable[P, T]) -> Callable[P, T]:
    def make(*args: P.args, **kwargs: P.kwargs) -> T:
        if kwargs.get("transport") == HTTP_TRANSPORT:
            raise ValueError(HTTP_SERVER_HINT)
        return cls(*args, **kwargs)

    make.__name__ = make.__qualname__ = "make_server"
    make.__doc__ = """A bound, listening ``Server`` (see ``Server`` for every option)."""
    return make


make_server = _no_http(Server)


@overload
def make_client(
    service: object,
    host: str = ...,
    port: int = ...,
    *,
    transport: Literal["http"],
    **options: Any,
) -> HttpClient: ...
@overload
def make_client(
    service: object,
    host: str = ...,
    port: int = ...,
    *,
    transport: str = ...,
    **options: Any,
) -> Client: ...
def make_client(
    service: object,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    transport: str = "buffered",
    **options: Any,
) -> Client | HttpClient:
    """A ``Client`` that connects on its first call, or with ``transport="http"`` an
    ``HttpClient`` (``host`` may then be a whole URL; ``path=``/``url=`` are accepted).

    Options are those of the class built (see ``Client`` and ``HttpClient``).
    """
    if transport == HTTP_TRANSPORT:
        from .http import HttpClient  # httpx is an optional dependency: import it on demand

        return HttpClient(service, host, port, **options)
    return Client(service, host, port, transport=transport, **options)
