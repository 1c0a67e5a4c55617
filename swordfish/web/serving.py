"""Ready-made HTTP servers for the Thrift-over-HTTP apps (what ``swordfish serve --transport
http`` runs).

- ``wsgi_server``: the stdlib's ``wsgiref`` server around a ``ThriftWSGIApp``, one request at
  a time (``simple``), a thread per connection (``threaded``) or a bounded pool of threads
  (``threadpool``). wsgiref speaks HTTP/1.0 (one request per connection, no keep-alive): good
  for tools, tests and small deployments; run the app under gunicorn for anything more.
- ``uvicorn_server``: a ``uvicorn.Server`` for a ``ThriftASGIApp`` on a socket we bound
  (so ``port=0`` works and the port is known before serving), HTTP/1.1 with keep-alive.

Both take an ``ssl.SSLContext`` (``swordfish.tls.server_context``) to serve HTTPS.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ..netinfo import format_address
from ..rpc.options import check_choice, check_positive_int, check_timeout
from .asgi import DEFAULT_THREADS, ThriftASGIApp
from .wsgi import ThriftWSGIApp

__all__ = ["WSGI_MODELS", "serve_http", "uvicorn_server", "wsgi_server"]

log = logging.getLogger("swordfish.web.serving")

#: ``model=`` values of ``wsgi_server``.
WSGI_MODELS = ("simple", "threaded", "threadpool")


class _Handler(WSGIRequestHandler):
    """wsgiref's handler with a socket timeout, logging through ``logging`` (not stderr)."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


class _PoolServer(WSGIServer):
    """A connection at a time per thread of a fixed pool (connections beyond it queue)."""

    workers = 8
    _pool: ThreadPoolExecutor | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="swordfish-wsgi")
        self._pool.submit(self._work, request, client_address)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def wsgi_server(
    app: ThriftWSGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    model: str = "threaded",
    workers: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float | None = 60.0,
) -> WSGIServer:
    """A bound, listening wsgiref server for ``app``; run ``serve_forever()``, stop with
    ``shutdown()`` and ``server_close()``. ``.server_port`` is the port.

    model: "simple", "threaded" or "threadpool" (``workers`` threads, default 8).
    timeout: socket timeout of each connection (a client that stalls longer is dropped).
    ssl_context: serve HTTPS; each handshake runs in the connection's own thread.
    """
    check_choice("model", model, WSGI_MODELS)
    if workers is not None and model != "threadpool":
        raise ValueError(f"workers applies to model='threadpool' only, not {model!r}")
    handler = type("_SwordfishHandler", (_Handler,), {"timeout": check_timeout("timeout", timeout)})
    cls: type[WSGIServer]
    if model == "simple":
        cls = WSGIServer
    elif model == "threaded":
        cls = _ThreadedServer
    else:
        cls = type(
            "_SwordfishPoolServer",
            (_PoolServer,),
            {"workers": check_positive_int("workers", workers) if workers is not None else 8},
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_cls = type(cls.__name__, (cls,), {"address_family": family})
    server: WSGIServer = server_cls((host, port), handler)
    server.set_app(app)
    if ssl_context is not None:
        # No handshake in the accepting thread: a client that never sends one must not stall
        # every other client. OpenSSL completes it on the connection's first read.
        server.socket = ssl_context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    return server


def uvicorn_server(
    app: ThriftASGIApp,
    *,
    ssl_context: ssl.SSLContext | None = None,
    graceful_timeout: float | None = 5.0,
    keep_alive: float = 5.0,
    access_log: bool = False,
    log_level: str = "warning",
) -> Any:
    """A ``uvicorn.Server`` for ``app`` (not started): ``await server.serve(sockets=[sock])``
    on a listening socket you bound. uvicorn is an optional dependency
    (``pip install 'swordfish[asgi]'``)."""
    import uvicorn

    options: dict[str, Any] = {}
    if ssl_context is not None:
        if "ssl_context_factory" not in inspect.signature(uvicorn.Config).parameters:
            raise ValueError("serving HTTPS from an SSLContext needs uvicorn >= 0.54")
        options["ssl_context_factory"] = lambda config, default: ssl_context
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        timeout_keep_alive=max(1, round(keep_alive)),
        timeout_graceful_shutdown=None if graceful_timeout is None else round(graceful_timeout),
        **options,
    )
    return uvicorn.Server(config)


def serve_http(
    service: object,
    handler: object,
    host: str,
    port: int,
    *,
    protocol: str = "binary",
    header_transforms: Iterable[str] = (),
    server: str = "threaded",
    workers: int | None = None,
    idle_timeout: float | None = 60.0,
    graceful_timeout: float = 2.0,
    ssl_context: ssl.SSLContext | None = None,
    loop: str | None = None,
    verbose: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Serve ``handler`` over HTTP until SIGTERM/SIGINT (``swordfish serve --transport http``).

    server: "asyncio" runs a ``ThriftASGIApp`` under uvicorn (``workers``: its handler
    threads; ``loop``: "asyncio" or "uvloop"); "simple", "threaded" or "threadpool" run a
    ``ThriftWSGIApp`` under ``wsgi_server`` (``workers``: the pool's threads). ``say`` gets
    ``listening on HOST:PORT (...)`` once the socket listens, then ``stopping``. Returns the
    exit status (0 after a clean stop). ``header_transforms``: as for the apps (THeader only).
    """
    tls = ", tls" if ssl_context is not None else ""
    if server == "asyncio":
        return _serve_asgi(
            ThriftASGIApp(
                service,
                handler,
                protocol=protocol,
                header_transforms=header_transforms,
                threads=DEFAULT_THREADS if workers is None else workers,
            ),
            host,
            port,
            ssl_context=ssl_context,
            graceful_timeout=graceful_timeout,
            keep_alive=idle_timeout or 5.0,
            loop=loop or "asyncio",
            verbose=verbose,
            say=say,
            what=f"server=asyncio, protocol={protocol}, transport=http{tls}",
        )
    if loop is not None:
        raise ValueError("--loop applies to --server asyncio only")
    app = ThriftWSGIApp(service, handler, protocol=protocol, header_transforms=header_transforms)
    httpd = wsgi_server(
        app,
        host,
        port,
        model=server,
        workers=workers,
        ssl_context=ssl_context,
        timeout=idle_timeout,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.2,), daemon=True)
    try:
        thread.start()
        say(
            f"listening on {format_address((host, httpd.server_port))} (server={server}, "
            f"protocol={protocol}, transport=http{tls})"
        )
        while not stop.wait(0.5):
            pass
        say("stopping")
        httpd.shutdown()
        thread.join(graceful_timeout)
        httpd.server_close()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def _serve_asgi(
    app: ThriftASGIApp,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    graceful_timeout: float,
    keep_alive: float,
    loop: str,
    verbose: bool,
    say: Callable[[str], None],
    what: str,
) -> int:
    from ..aio.loops import run

    userver = uvicorn_server(
        app,
        ssl_context=ssl_context,
        graceful_timeout=graceful_timeout,
        keep_alive=keep_alive,
        access_log=verbose,
        log_level="info" if verbose else "warning",
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns TCP_NODELAY on only for sockets whose proto is
    # IPPROTO_TCP, and with proto 0 every small response body waited for the client's delayed
    # ACK (~40 ms per call).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise

    async def main() -> None:
        async def announce() -> None:
            while not userver.started and not userver.should_exit:
                await asyncio.sleep(0.02)
            if userver.started:
                say(f"listening on {format_address((host, sock.getsockname()[1]))} ({what})")

        watcher = asyncio.ensure_future(announce())
        try:
            await userver.serve(sockets=[sock])
        finally:
            watcher.cancel()
        say("stopping")

    # uvicorn handles SIGTERM/SIGINT while it serves, then re-raises the signal to the handler
    # it found: make that one a no-op, so a requested stop ends with status 0.
    previous = {s: signal.signal(s, _ignore) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        run(main(), loop=loop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sock.close()
        app.close()
    return 0


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal handler that does nothing (see ``_serve_asgi``)."""
