"""``ThriftApp``: a Thrift service and its handler, packaged for an application server.

An application server (gunicorn, with the workers of ``swordfish.web.gunicorn``) owns the
listening sockets, the worker processes and their lifecycle; it imports a module and takes one
object out of it. ``ThriftApp`` is that object: it holds what the server needs to build a
Swordfish server in each worker (the service, the handler, protocol and transport, limits,
filters and the driver options) and builds one per listening socket on demand. It opens no
socket and starts no thread itself, so importing the module that defines it is cheap and safe
before ``fork()``.

One app runs under either worker kind where it can:

- the blocking ``ThriftWorker`` runs plain handler methods in a thread pool and takes sync
  ``Filter``s;
- the asyncio ``ThriftAsyncWorker`` runs ``async def`` methods on its event loop and plain ones
  in a thread pool (or inline, ``sync_handlers="inline"``), and takes ``AsyncFilter``s.

An app whose handler has ``async def`` methods, or whose filters are async, needs the asyncio
worker; one with sync filters needs the blocking one. ``check_worker`` says so at boot, with
the name of the right worker class, instead of failing on the first call.

Application servers that only know WSGI insist that the object is callable: ``ThriftApp`` is,
and answers any HTTP request with ``501 Not Implemented`` and a text that says what it is and
how to serve it (this app speaks raw Thrift over TCP; Thrift over HTTP is a separate app).
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Callable, Iterable
from typing import Any

from ..aio.server import SYNC_HANDLER_MODES, AsyncServer
from ..limits import Limits
from ..model.service import ServiceSpec
from ..rpc.filter import AnyAsyncFilter, AnyFilter, AsyncFilter, Filter, Stack
from ..rpc.options import (
    PROTOCOLS,
    TRANSPORTS,
    check_choice,
    check_positive_int,
    check_timeout,
    resolve_service,
)
from ..rpc.service import AsyncService, Service
from ..sync.server import DEFAULT_WORKERS
from ..sync.server import Server as SyncServer

__all__ = ["DEFAULT_ASYNC_THREADS", "DEFAULT_SYNC_THREADS", "WORKER_KINDS", "ThriftApp"]

#: Handler threads per listening socket of the blocking worker when neither gunicorn's
#: ``--threads`` (above 1) nor ``ThriftApp(threads=)`` says otherwise.
DEFAULT_SYNC_THREADS = DEFAULT_WORKERS
#: Threads for plain handler methods of the asyncio worker, on the same terms.
DEFAULT_ASYNC_THREADS = 16
#: ``check_worker`` kinds.
WORKER_KINDS = ("sync", "async")

_WORKER_CLASSES = {
    "sync": "swordfish.web.gunicorn.ThriftWorker",
    "async": "swordfish.web.gunicorn.ThriftAsyncWorker",
}

_NOT_HTTP = (
    "This is a Swordfish Thrift application ({name}): it speaks raw Thrift over TCP "
    "(protocol={protocol}, transport={transport}), not HTTP.\n"
    "Serve it with a Thrift worker, for example:\n"
    "    gunicorn -k swordfish.web.gunicorn.ThriftWorker module:app\n"
    "and call it with a Thrift client. (Thrift over HTTP is not served by this app.)\n"
)


class ThriftApp:
    """A Thrift service for an application server: ``app = ThriftApp(calc.Calculator, Handler())``.

    service: a service class from ``swordfish.load()`` (or its ``ServiceSpec``).
    handler: an object with one method per IDL method (plain or ``async def``), or a
        ``Service`` / ``AsyncService`` used as the terminal (as for the servers).
    protocol, transport, limits, idle_timeout: as for ``swordfish.Server`` and
        ``AsyncServer``; every worker serves with the same ones.
    filters: server-side filters (or a ``Stack``), outermost first: sync ``Filter``s for
        the blocking worker, ``AsyncFilter``s for the asyncio worker.
    threads: handler threads per listening socket (the blocking worker's pool; the asyncio
        worker's pool for plain methods). gunicorn's ``--threads`` wins when it is above 1;
        the default is ``DEFAULT_SYNC_THREADS`` / ``DEFAULT_ASYNC_THREADS``.
    max_in_flight, max_in_flight_per_connection, sync_handlers, call_timeout: asyncio worker
        only, as for ``AsyncServer``.

    Options are checked here, so a mistake fails when the module is imported (gunicorn then
    stops with "Worker failed to boot") rather than on the first call.
    """

    def __init__(
        self,
        service: object,
        handler: object,
        *,
        protocol: str = "binary",
        transport: str = "buffered",
        limits: Limits | None = None,
        filters: Iterable[AnyFilter | AnyAsyncFilter] | Stack = (),
        idle_timeout: float | None = 60.0,
        threads: int | None = None,
        max_in_flight: int = 10_000,
        max_in_flight_per_connection: int = 128,
        sync_handlers: str = "thread",
        call_timeout: float | None = None,
    ) -> None:
        self.spec: ServiceSpec = resolve_service(service)
        self.handler = handler
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.transport = check_choice("transport", transport, TRANSPORTS)
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a swordfish.Limits, not {type(limits).__name__}")
        self.limits = limits
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        self.idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self.threads = None if threads is None else check_positive_int("threads", threads)
        self.max_in_flight = check_positive_int("max_in_flight", max_in_flight)
        self.max_in_flight_per_connection = check_positive_int(
            "max_in_flight_per_connection", max_in_flight_per_connection
        )
        self.sync_handlers = check_choice("sync_handlers", sync_handlers, SYNC_HANDLER_MODES)
        self.call_timeout = check_timeout("call_timeout", call_timeout)

    # -- which worker can run it ----------------------------------------------------------------

    def _needs(self) -> tuple[str, str] | None:
        """``(kind, why)`` when only one worker kind can run this app, else ``None``."""
        if self.stack.is_async:
            return "async", "its filters are AsyncFilters"
        if self.stack:
            return "sync", "its filters are sync Filters"
        if isinstance(self.handler, AsyncService):
            return "async", "its handler is an AsyncService"
        if isinstance(self.handler, Service):
            return None  # a sync terminal: the blocking pool or the asyncio worker's threads
        names = _async_methods(self.spec, self.handler)
        if names:
            return "async", f"handler methods {', '.join(names)} are async def"
        return None

    def check_worker(self, kind: str) -> None:
        """Raise ``TypeError`` (naming the worker class to use) if ``kind`` cannot run this app.

        kind: "sync" (the blocking ``ThriftWorker``) or "async" (``ThriftAsyncWorker``).
        """
        check_choice("worker kind", kind, WORKER_KINDS)
        needs = self._needs()
        if needs is not None and needs[0] != kind:
            need, why = needs
            raise TypeError(
                f"{self!r} cannot run in a {kind} worker: {why}; serve it with "
                f"-k {_WORKER_CLASSES[need]}"
            )

    # -- building servers -----------------------------------------------------------------------

    def make_server(
        self,
        sock: socket.socket,
        *,
        threads: int | None = None,
        outer_filters: Iterable[AnyFilter] = (),
    ) -> SyncServer:
        """A blocking thread-pool ``Server`` on the listening socket ``sock`` (not started).

        threads: pool size (default: ``self.threads``, else ``DEFAULT_SYNC_THREADS``).
        outer_filters: sync filters put outside the app's own (a worker's bookkeeping).
        """
        self.check_worker("sync")
        return SyncServer(
            self.spec,
            self.handler,
            protocol=self.protocol,
            transport=self.transport,
            model="threadpool",
            workers=threads or self.threads or DEFAULT_SYNC_THREADS,
            limits=self.limits,
            idle_timeout=self.idle_timeout,
            filters=_with_outer(self.stack, outer_filters, Filter),
            sock=sock,
        )

    def make_async_server(
        self,
        sock: socket.socket,
        *,
        threads: int | None = None,
        outer_filters: Iterable[AnyAsyncFilter] = (),
    ) -> AsyncServer:
        """An ``AsyncServer`` on the listening socket ``sock``; ``await server.start()`` it.

        threads: threads for plain handler methods (default: ``self.threads``, else
            ``DEFAULT_ASYNC_THREADS``).
        outer_filters: async filters put outside the app's own (a worker's bookkeeping).
        """
        self.check_worker("async")
        return AsyncServer(
            self.spec,
            self.handler,
            protocol=self.protocol,
            transport=self.transport,
            limits=self.limits,
            max_in_flight=self.max_in_flight,
            max_in_flight_per_connection=self.max_in_flight_per_connection,
            handler_threads=threads or self.threads or DEFAULT_ASYNC_THREADS,
            sync_handlers=self.sync_handlers,
            idle_timeout=self.idle_timeout,
            call_timeout=self.call_timeout,
            filters=_with_outer(self.stack, outer_filters, AsyncFilter),
            sock=sock,
        )

    # -- WSGI: say what this is ---------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """WSGI entry point: ``501 Not Implemented``, explaining that this app is raw Thrift.

        gunicorn requires the object it loads to be callable; a server started with an HTTP
        worker by mistake answers this instead of failing obscurely.
        """
        body = _NOT_HTTP.format(
            name=self.spec.name, protocol=self.protocol, transport=self.transport
        ).encode()
        start_response(
            "501 Not Implemented",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def __repr__(self) -> str:
        return (
            f"<ThriftApp {self.spec.name} handler={type(self.handler).__name__} "
            f"protocol={self.protocol} transport={self.transport}>"
        )


def _async_methods(spec: ServiceSpec, handler: object) -> list[str]:
    """IDL methods that ``handler`` implements with ``async def`` (or an async callable)."""
    found = []
    for name in spec.methods:
        fn = getattr(handler, name, None)
        if fn is None:
            continue
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an async callable object
        ):
            found.append(name)
    return found


def _with_outer(stack: Stack, outer: Iterable[Any], kind: type) -> Stack:
    extra = tuple(outer)
    for f in extra:
        if not isinstance(f, kind):
            raise TypeError(f"outer_filters must be {kind.__name__}s, not {type(f).__name__}")
    return Stack((*extra, *stack)) if extra else stack
