"""gunicorn worker classes that serve raw Thrift over TCP (not HTTP).

    gunicorn -k swordfish.web.gunicorn.ThriftWorker -w 4 -b 0.0.0.0:9090 myservice:app

where ``myservice.app`` is a ``swordfish.web.ThriftApp``. gunicorn keeps doing what it is
good at: it binds the sockets, forks the workers, replaces dead ones, recycles them after
``--max-requests``, reloads on ``SIGHUP`` and stops gracefully on ``SIGTERM``. Each worker
builds one Swordfish server per listening socket (``-b`` may be given several times; unix
sockets work too) on its own copy of the socket, and the kernel spreads new connections over
the workers. A Thrift connection is long-lived: it stays with the worker that accepted it.

Two kinds of worker (see ``docs/gunicorn.md``):

``ThriftWorker``
    The blocking thread-pool server: at most ``threads`` calls at once per socket, over any
    number of connections. The main thread only supervises: it heartbeats to the arbiter,
    counts calls for ``--max-requests``, and drains on shutdown. A worker whose every thread
    has been stuck in one call for longer than half of ``--timeout`` stops heartbeating, so
    the arbiter kills and replaces it (a worker with a free thread is still serving and is
    left alone).
``ThriftAsyncWorker``
    The asyncio server on uvloop when it is installed (``--asgi-loop`` picks: auto, asyncio,
    uvloop). The heartbeat is a timer on the event loop, so a handler that blocks the loop
    for longer than ``--timeout`` gets the worker killed and replaced, as it should.

Signals (sent by the arbiter; see gunicorn's docs for what the arbiter does with its own):
TERM drains: the worker stops accepting, closes idle connections, answers every call it
has received (within ``--graceful-timeout``, less a small margin so it exits before the
arbiter's SIGKILL), then exits 0. QUIT and INT stop at once. ABRT (the arbiter's "worker
timeout") exits 1 at once. USR1 reopens log files. Reaching ``--max-requests`` (jitter
already applied by gunicorn) drains the same way as TERM and the arbiter starts a fresh
worker. A client that sends a call on a connection in the instant it is closed sees a
``TransportError`` and may retry on a new connection.

TLS: gunicorn's own settings turn it on. ``--certfile`` (and ``--keyfile`` unless the key is
in the certificate file), ``--ca-certs`` for the CA that client certificates must chain to,
``--cert-reqs`` (0 none, 1 optional, 2 required: mutual TLS) and ``--ciphers`` go through
``swordfish.tls.server_context`` (TLS 1.2 or newer, no renegotiation), and gunicorn's
``ssl_context(config, factory)`` server hook, if the configuration file defines one, can adjust
or replace the result. Each worker builds its own context after the fork; the arbiter builds
one first only to refuse unusable settings before forking. The handshake runs where the
connection is served, bounded by the server's handshake timeout; a client that fails it (no
certificate under ``--cert-reqs 2``, say) is dropped and the worker keeps serving.
``--do-handshake-on-connect``, ``--suppress-ragged-eofs`` and ``--ssl-version`` do not apply.

Without gunicorn installed, importing this module raises ``ImportError`` naming the
``swordfish[gunicorn]`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

try:
    from gunicorn.workers.base import Worker  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - tested in a subprocess without gunicorn
    if exc.name is not None and exc.name.split(".")[0] != "gunicorn":
        raise  # gunicorn is there but broken: show the real error
    raise ImportError(
        "swordfish.web.gunicorn needs gunicorn, an optional dependency: "
        "pip install 'swordfish[gunicorn]'",
        name=exc.name,
    ) from exc

from .. import tls
from ..aio.loops import new_event_loop
from ..aio.server import AsyncServer
from ..rpc.filter import AsyncFilter, Filter
from ..rpc.request import Request, Response
from ..rpc.service import AsyncService, Service
from ..sync.server import Server
from ..sync.stream import format_address
from .app import ThriftApp

__all__ = ["ThriftAsyncWorker", "ThriftWorker", "server_ssl_context"]

#: gunicorn's exit status for "worker failed to boot": the arbiter stops instead of
#: respawning a worker that can never serve (``Arbiter.WORKER_BOOT_ERROR``).
WORKER_BOOT_ERROR = 3

#: Longest pause between heartbeats when ``--timeout`` allows more.
_MAX_TICK = 1.0


class _BootFailed(Exception):
    """The servers could not be built or started: exit with ``WORKER_BOOT_ERROR``."""


class _ThriftWorkerBase(Worker):  # type: ignore[misc]  # gunicorn is untyped
    """What both worker kinds share: app checks, options, listeners, logging, drain budget."""

    kind = "sync"
    thrift_app: ThriftApp
    #: This worker's TLS context (built after the fork), or None for plain TCP.
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Called by the arbiter before it forks: refuse settings these workers cannot honour."""
        if cfg.is_ssl:
            # A throwaway context, so that unusable TLS settings stop gunicorn here, once,
            # instead of in every worker. RuntimeError: gunicorn prints "Error: <message>"
            # and exits 1.
            try:
                server_ssl_context(cfg)
            except (OSError, ValueError, TypeError) as exc:  # ssl.SSLError is an OSError
                raise RuntimeError(f"{cls.__name__}: unusable TLS settings: {exc}") from exc

    def load_wsgi(self) -> None:
        # Runs before gunicorn marks the worker booted: a wrong app here makes the arbiter
        # stop with "Worker failed to boot" instead of respawning a worker that cannot serve.
        super().load_wsgi()
        app = self.wsgi
        if not isinstance(app, ThriftApp):
            uri = getattr(self.app, "app_uri", None) or "the application"
            raise TypeError(
                f"{type(self).__name__} serves a swordfish.web.ThriftApp, but {uri} is "
                f"{app!r}; expose `app = ThriftApp(service, handler)` in the module"
            )
        app.check_worker(self.kind)
        self.thrift_app = app
        _route_swordfish_logs(self.log)
        if self.cfg.is_ssl:
            self.ssl_context = server_ssl_context(self.cfg)  # this process's own

    def _threads(self) -> int | None:
        """gunicorn's ``--threads`` when it says more than the default 1; else the app decides."""
        threads = self.cfg.threads
        return threads if isinstance(threads, int) and threads > 1 else None

    def _tick(self) -> float:
        """Seconds between heartbeats: well within the arbiter's patience (``timeout`` / 2)."""
        timeout = float(self.timeout or 0)
        return min(_MAX_TICK, timeout) if timeout > 0 else _MAX_TICK

    def _drain_budget(self) -> float:
        """How long a graceful stop waits for running calls.

        The arbiter SIGKILLs a worker ``graceful_timeout`` s after its SIGTERM; stopping a
        little earlier lets the worker close its connections and exit on its own terms.
        """
        graceful = max(0.0, float(self.cfg.graceful_timeout))
        return max(0.0, graceful - min(1.0, graceful / 10))

    def _parent_gone(self) -> bool:
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            return True
        return False

    def _ready(self, servers: list[str], detail: str) -> None:
        app = self.thrift_app
        self.log.info(
            "swordfish worker ready (pid %d): %s on %s (%s/%s%s, %s)",
            os.getpid(),
            app.spec.name,
            ", ".join(servers),
            app.protocol,
            app.transport,
            ", tls" if self.ssl_context is not None else "",
            detail,
        )

    def _serve_tls(self, server: Server | AsyncServer) -> None:
        """Give a server built by the app (not yet started) this worker's TLS context.

        ``ThriftApp.make_server`` / ``make_async_server`` take no ``ssl_context`` yet; both
        servers read their public ``ssl_context`` attribute only when they start accepting.
        """
        if self.ssl_context is not None:
            server.ssl_context = self.ssl_context

    def _max_requests_reached(self, count: int) -> None:
        self.log.info(
            "swordfish worker (pid %d) answered %d calls (max requests %d): draining for a restart",
            os.getpid(),
            count,
            self.max_requests,
        )


# -- the blocking worker --------------------------------------------------------------------------


class _CallCount:
    """Calls finished by one worker (all its servers), and a wake-up at ``limit``."""

    def __init__(self, limit: int, on_limit: Callable[[], None]) -> None:
        self.limit = limit
        self.on_limit = on_limit
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1
            reached = self.count == self.limit
        if reached:
            self.on_limit()


class _CallTracker(Filter[Request, Response, Request, Response]):
    """Outermost filter of each server in a ``ThriftWorker``: which threads are in a call.

    The worker's heartbeat reads it to tell a busy worker (some thread free) from a wedged one
    (every thread stuck), and it counts finished calls for ``--max-requests``.
    """

    role = "gunicorn-worker"
    description = "tracks running calls for the gunicorn worker's heartbeat and max-requests"

    def __init__(self, count: _CallCount) -> None:
        self.count = count
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}  # thread id -> when its call started

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        ident = threading.get_ident()  # a pool thread runs one call at a time
        with self._lock:
            self._running[ident] = time.monotonic()
        try:
            return service(request)
        finally:
            with self._lock:
                self._running.pop(ident, None)
            self.count.add()

    def stuck(self, threads: int, older_than: float) -> bool:
        """Whether all ``threads`` are in calls that started more than ``older_than`` s ago."""
        now = time.monotonic()
        with self._lock:
            starts = list(self._running.values())
        return len(starts) >= threads and all(now - t > older_than for t in starts)


class _Served:
    """One listening socket of a ``ThriftWorker``: its server, tracker and serving thread."""

    def __init__(self, server: Server, tracker: _CallTracker, name: str) -> None:
        self.server = server
        self.tracker = tracker
        self.name = name
        self.thread = threading.Thread(
            target=server.serve_forever, name=f"swordfish-serve {name}", daemon=True
        )


class ThriftWorker(_ThriftWorkerBase):
    """gunicorn worker: the blocking thread-pool Thrift server (see the module docstring).

    Threads per listening socket: ``--threads`` when above 1, else ``ThriftApp(threads=)``,
    else ``swordfish.web.app.DEFAULT_SYNC_THREADS``.
    """

    kind = "sync"

    def run(self) -> None:
        app = self.thrift_app
        self._count = _CallCount(self.max_requests, self._wake)
        served: list[_Served] = []
        try:
            for listener in self.sockets:
                tracker = _CallTracker(self._count)
                server = app.make_server(
                    _own_copy(listener), threads=self._threads(), outer_filters=[tracker]
                )
                self._serve_tls(server)
                served.append(_Served(server, tracker, _describe(listener)))
        except Exception:
            self.log.exception("swordfish worker (pid %d): cannot serve %r", os.getpid(), app)
            for s in served:
                s.server.stop(0)
            sys.exit(WORKER_BOOT_ERROR)
        for s in served:
            s.thread.start()
        threads = served[0].server.workers if served else 0
        self._ready([s.name for s in served], f"{threads} threads per socket")
        self._supervise(served)
        self.alive = False
        self._drain(served)

    def _supervise(self, served: list[_Served]) -> None:
        """Main thread: heartbeat, max-requests and parent checks until told to stop."""
        tick = self._tick()
        warned = False
        while self.alive:
            wedged = [
                s
                for s in served
                if self.timeout and s.tracker.stuck(s.server.workers, float(self.timeout))
            ]
            if wedged:
                if not warned:
                    self.log.critical(
                        "swordfish worker (pid %d): all %d threads on %s have been in one call "
                        "for more than %.0f s; no more heartbeats, so gunicorn restarts it",
                        os.getpid(),
                        wedged[0].server.workers,
                        wedged[0].name,
                        self.timeout,
                    )
                    warned = True
            else:
                self.notify()
                warned = False
            self.nr = self._count.count
            if self.nr >= self.max_requests:
                self._max_requests_reached(self.nr)
                return
            if self._parent_gone():
                return
            for s in served:
                if not s.thread.is_alive():
                    self.log.error("swordfish server on %s stopped unexpectedly", s.name)
                    return
            self._wait(tick)

    def _wait(self, seconds: float) -> None:
        """Sleep until a signal, a max-requests wake-up or ``seconds``, whichever is first."""
        pipe = self.PIPE[0]  # gunicorn's wake-up pipe; signals write to it too
        ready, _, _ = select.select([pipe], [], [], seconds)
        if ready:
            try:
                os.read(pipe, 4096)
            except BlockingIOError:
                pass  # another wake-up already drained it

    def _wake(self) -> None:
        """From a pool thread: get the main thread out of ``_wait`` now."""
        try:
            os.write(self.PIPE[1], b".")
        except OSError:
            pass  # full (a wake-up is pending anyway) or closed (exiting)

    def _drain(self, served: list[_Served]) -> None:
        budget = self._drain_budget()
        self.log.info(
            "swordfish worker (pid %d) stopping: finishing running calls (up to %.1f s)",
            os.getpid(),
            budget,
        )
        # Server.stop blocks until its calls are answered: run each in a thread so that this
        # one keeps heartbeating (the arbiter times out a recycling worker like any other).
        stoppers = [
            threading.Thread(target=s.server.stop, args=(budget,), daemon=True) for s in served
        ]
        for t in stoppers:
            t.start()
        tick = self._tick()
        deadline = time.monotonic() + budget + 5.0  # stop() closes hard at budget; a backstop
        for t in [*stoppers, *(s.thread for s in served)]:
            while t.is_alive() and time.monotonic() < deadline:
                self.notify()
                t.join(tick)
        self.nr = self._count.count
        self.log.info(
            "swordfish worker (pid %d) exiting after %d calls",
            os.getpid(),
            sum(s.server.calls_served for s in served),
        )


# No "ThriftSyncWorker" alias on purpose: gunicorn replaces any -k value ending in
# "SyncWorker" with its own HTTP gthread worker when --threads > 1, silently.


# -- the asyncio worker ---------------------------------------------------------------------------


class _AsyncCallCounter(AsyncFilter[Request, Response, Request, Response]):
    """Counts finished calls for ``--max-requests`` (only installed when that is set).

    A filter rather than polling ``calls_served``: the limit is noticed on the very call that
    reaches it, however many calls a second the worker answers.
    """

    role = "gunicorn-worker"
    description = "counts finished calls for the gunicorn worker's max-requests"

    def __init__(self, limit: int, on_limit: Callable[[int], None]) -> None:
        self.limit = limit
        self.on_limit = on_limit
        self.count = 0

    async def __call__(
        self, request: Request, service: AsyncService[Request, Response]
    ) -> Response:
        try:
            return await service(request)
        finally:
            self.count += 1
            if self.count == self.limit:
                self.on_limit(self.count)


class ThriftAsyncWorker(_ThriftWorkerBase):
    """gunicorn worker: the asyncio Thrift server (see the module docstring).

    The loop is uvloop when it can be imported, else the stdlib's; gunicorn's ``--asgi-loop``
    (auto, asyncio, uvloop) chooses explicitly. Threads for plain handler methods per socket:
    ``--threads`` when above 1, else ``ThriftApp(threads=)``, else
    ``swordfish.web.app.DEFAULT_ASYNC_THREADS``.
    """

    kind = "async"

    def init_process(self) -> None:
        # The loop must exist before gunicorn calls init_signals (its handlers live on it).
        self.loop_name, self.loop = _new_loop(getattr(self.cfg, "asgi_loop", "auto"))
        asyncio.set_event_loop(self.loop)
        self._stop_requested: asyncio.Event | None = None
        self._quick = False
        self._aborted = False
        self._draining = False
        super().init_process()

    def init_signals(self) -> None:
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self._on_term)
        loop.add_signal_handler(signal.SIGQUIT, self._on_quit)
        loop.add_signal_handler(signal.SIGINT, self._on_quit)
        loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        loop.add_signal_handler(signal.SIGWINCH, lambda: None)
        # Not a loop callback: SIGABRT is the arbiter giving up on a worker whose loop stopped
        # heartbeating, i.e. a loop blocked by a handler; only a plain handler still runs then
        # (between two bytecodes of the blocking code), and gunicorn's exits the process.
        signal.signal(signal.SIGABRT, self.handle_abort)

    def handle_abort(self, sig: int, frame: Any) -> None:
        self._aborted = True
        # gunicorn's handler raises SystemExit inside whatever code was blocking the loop. The
        # stdlib loop lets it out of run_until_complete, but uvloop catches it in a transport
        # callback ("Fatal error on transport"); stopping the loop ends run() either way.
        self.loop.stop()
        super().handle_abort(sig, frame)

    def _on_term(self) -> None:
        self.alive = False
        self._request_stop()

    def _on_quit(self) -> None:
        self.alive = False
        first = not self._quick
        self._quick = True
        if first:
            self.cfg.worker_int(self)
        if self._draining:
            self.loop.stop()  # cut a graceful drain short: run() sees the loop stop
        else:
            self._request_stop()

    def _request_stop(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()

    def run(self) -> None:
        clean = False
        try:
            self.loop.run_until_complete(self._serve())
            clean = True
        except _BootFailed:
            sys.exit(WORKER_BOOT_ERROR)
        except RuntimeError:
            if not (self._quick or self._aborted):
                raise
            # A quick stop (or SIGABRT) ended the loop early ("Event loop stopped before Future
            # completed"): that is the point of it.
        finally:
            _close_loop(self.loop, clean=clean)
        if self._aborted:
            sys.exit(1)  # as gunicorn's abort handler would have, had its SystemExit got out

    async def _serve(self) -> None:
        app = self.thrift_app
        self._stop_requested = asyncio.Event()
        counter = None
        if self.max_requests < sys.maxsize:
            counter = _AsyncCallCounter(self.max_requests, self._on_limit)
        servers: list[AsyncServer] = []
        names = [_describe(listener) for listener in self.sockets]
        try:
            for listener in self.sockets:
                server = app.make_async_server(
                    _own_copy(listener),
                    threads=self._threads(),
                    outer_filters=[counter] if counter is not None else [],
                )
                self._serve_tls(server)
                servers.append(server)
                await server.start()
        except Exception as exc:
            self.log.exception("swordfish worker (pid %d): cannot serve %r", os.getpid(), app)
            for server in servers:
                await server.stop(0)
            raise _BootFailed from exc
        threads = servers[0].handler_threads if servers else 0
        self._ready(names, f"loop={self.loop_name}, {threads} handler threads per socket")
        beat = asyncio.create_task(self._heartbeat(servers, counter))
        if not self.alive:  # a signal arrived before the event existed
            self._request_stop()
        await self._stop_requested.wait()
        self.alive = False
        self._draining = True
        budget = 0.0 if self._quick else self._drain_budget()
        self.log.info(
            "swordfish worker (pid %d) stopping: finishing running calls (up to %.1f s)",
            os.getpid(),
            budget,
        )
        await asyncio.gather(*(server.stop(budget) for server in servers))
        beat.cancel()
        self.log.info(
            "swordfish worker (pid %d) exiting after %d calls",
            os.getpid(),
            sum(server.calls_served for server in servers),
        )

    async def _heartbeat(
        self, servers: list[AsyncServer], counter: _AsyncCallCounter | None
    ) -> None:
        """A timer on the loop: if the loop is blocked, the heartbeat stops with it."""
        tick = self._tick()
        while True:
            self.notify()
            self.nr = counter.count if counter is not None else sum(s.calls_served for s in servers)
            if not self.alive or (not self._draining and self._parent_gone()):
                self.alive = False
                self._request_stop()
            await asyncio.sleep(tick)

    def _on_limit(self, count: int) -> None:
        if self.alive:
            self._max_requests_reached(count)
            self.alive = False
            self._request_stop()


# -- helpers ---------------------------------------------------------------------------------------


def server_ssl_context(cfg: Any) -> ssl.SSLContext:
    """The server TLS context that gunicorn's settings ``cfg`` describe.

    ``--certfile``/``--keyfile``/``--ca-certs`` go to ``swordfish.tls.server_context``;
    ``--cert-reqs`` sets the verify mode as it does for gunicorn's own workers (1 and 2 need
    ``--ca-certs``: there would be nothing to check a client certificate against);
    ``--ciphers`` is applied when set. gunicorn's ``ssl_context`` server hook gets the
    factory and has the last word.
    """
    reqs = ssl.VerifyMode(cfg.cert_reqs)
    if reqs != ssl.CERT_NONE and not cfg.ca_certs:
        raise ValueError(f"--cert-reqs {int(reqs)} ({reqs.name}) needs --ca-certs")
    if not cfg.certfile:
        raise ValueError("--keyfile needs --certfile (the server's certificate)")

    def factory() -> ssl.SSLContext:
        context = tls.server_context(
            cfg.certfile, cfg.keyfile, cfg.ca_certs, reqs == ssl.CERT_REQUIRED
        )
        context.verify_mode = reqs
        if cfg.ciphers:
            context.set_ciphers(cfg.ciphers)
        return context

    hook = getattr(cfg, "ssl_context", None)
    context = hook(cfg, factory) if callable(hook) else factory()
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"the ssl_context hook must return an ssl.SSLContext, not {context!r}")
    return context


def _own_copy(listener: Any) -> socket.socket:
    """A descriptor of gunicorn's listening socket that the Swordfish server may close.

    gunicorn's listener objects wrap the socket (``.sock``); the server closes the socket it
    is given when it stops, and gunicorn closes its own at exit, so each gets its own.
    """
    sock = getattr(listener, "sock", listener)
    if not isinstance(sock, socket.socket):
        raise TypeError(f"not a listening socket: {listener!r}")
    return sock.dup()


def _describe(listener: Any) -> str:
    """``host:port`` or ``unix:/path`` (gunicorn's own str() says http://)."""
    sock = getattr(listener, "sock", listener)
    try:
        address = sock.getsockname()
    except OSError:
        return str(listener)
    if isinstance(address, (str, bytes)):
        path = address.decode(errors="replace") if isinstance(address, bytes) else address
        return f"unix:{path}"
    return format_address(address)


def _new_loop(choice: object) -> tuple[str, asyncio.AbstractEventLoop]:
    """``(name, loop)`` for ``--asgi-loop``: auto (uvloop if importable), asyncio or uvloop."""
    if choice == "auto":
        try:
            return "uvloop", new_event_loop("uvloop")
        except RuntimeError:  # not installed
            return "asyncio", new_event_loop("asyncio")
    name = str(choice)
    return name, new_event_loop(name)  # raises, naming the choices, for anything else


def _close_loop(loop: asyncio.AbstractEventLoop, *, clean: bool) -> None:
    """Cancel what is left on ``loop`` and close it.

    clean: the worker drained normally, so what is left may take a moment to finish (1 s).
    Otherwise (SIGABRT, a failure) the cancellations get only a brief run, enough for tasks
    to end instead of being reported as "destroyed but pending" when the process exits.
    """
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=1.0 if clean else 0.2))
        if clean:
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    except Exception:
        # Exiting anyway: a loop that will not close cleanly must not replace the real
        # reason the worker is going away (the exception being handled, or exit status).
        logging.getLogger("swordfish.web").debug("closing the event loop failed", exc_info=True)


def _route_swordfish_logs(glog: Any) -> None:
    """Send the ``swordfish`` loggers' records to gunicorn's error log.

    Only when nobody configured logging (no handlers on ``swordfish`` or the root logger):
    with ``--log-config`` the user's configuration decides.
    """
    error_log = getattr(glog, "error_log", None)
    if not isinstance(error_log, logging.Logger):
        return
    ours = logging.getLogger("swordfish")
    if ours.handlers or logging.getLogger().handlers:
        return
    for handler in error_log.handlers:
        ours.addHandler(handler)
    ours.setLevel(error_log.level)
    ours.propagate = False
