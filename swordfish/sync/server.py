"""Blocking Thrift servers: ``simple``, ``threaded``, ``threadpool`` and ``forking`` loops.

Every model runs the same per-connection code (``_Connection``): read what arrived, feed the
sans-IO ``ServerConnection``, run each complete call through the filter stack and the handler,
write the reply. The models differ only in who waits for bytes:

simple      one thread accepts a connection and serves it until it closes; other clients wait
            in the listen backlog (Apache TSimpleServer). For tests and debugging.
threaded    one thread per connection (Apache TThreadedServer).
threadpool  one selector thread watches the listener and every idle connection; when a
            connection has bytes it is handed to one of ``workers`` threads, which runs every
            complete call on it (in order, so replies stay in order) and hands the connection
            back. Idle connections therefore do not pin workers (unlike Apache's
            TThreadPoolServer, where an open connection holds a worker until it closes):
            at most ``workers`` calls run at once, over any number of connections.
forking     one process per connection (Apache TForkingServer; POSIX only): the parent
            accepts and ``os.fork()``s a child that serves that one connection with the
            ``simple``/``threaded`` loop, then exits. At most ``max_children`` children live at
            once; beyond that the parent stops accepting and new clients wait in the listen
            backlog until a child exits. See "The forking model" below.

Shutdown (``stop``): the listener closes at once, idle connections are closed promptly (every
wait also watches a wake-up socket), calls already running finish and write their replies,
then their connections close. After ``timeout`` seconds whatever is still open is closed
hard. A connection that sends malformed or oversized bytes is closed on its own; the server
keeps serving the others. Handler exceptions never escape into the loops (see ``Dispatcher``).

The forking model
-----------------
Its loop, and what it means for handlers (per-process state, how children report, are
signalled and reaped, fork hazards), live in ``swordfish.sync.forking``: ``serve_forever``
hands the server to a ``ForkingLoop``, which accepts, forks and reaps, while each child serves
its one connection with this module's ``_serve_blocking``.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from ..codec import get_codec
from ..errors import ProtocolError, TransportError
from ..framing import make_framer
from ..limits import DEFAULT_LIMITS, Limits
from ..model.application import ApplicationExceptionType, TApplicationException
from ..protocol import NEED_DATA, Call, CallRejected, ConnectionClosed, ServerConnection
from ..rpc.dispatch import Dispatcher
from ..rpc.filter import AnyFilter, Stack
from ..rpc.request import Context, Request, Response
from ..rpc.service import Service
from ._common import MODELS, PROTOCOLS, TRANSPORTS, check_choice, resolve_service
from .forking import _KILL_WAIT, DEFAULT_MAX_CHILDREN, ForkingLoop
from .stream import READ_SIZE, SyncStream, format_address, map_socket_errors

__all__ = ["DEFAULT_MAX_CHILDREN", "DEFAULT_WORKERS", "Server"]

log = logging.getLogger("swordfish.server")

#: Worker threads of the ``threadpool`` model when ``workers`` is not given.
DEFAULT_WORKERS = 8


class _Connection:
    """One accepted connection: its stream, its protocol engine, and the call loop."""

    __slots__ = ("engine", "last_active", "server", "stream")

    def __init__(self, server: Server, sock: socket.socket, address: object) -> None:
        self.server = server
        self.stream = SyncStream(sock, format_address(address))
        framer = make_framer(server.transport, server._codec, server.limits)
        self.engine = ServerConnection(server.spec, server._codec, framer)
        self.last_active = time.monotonic()

    def fileno(self) -> int:
        return self.stream.fileno()

    def idle_expired(self, now: float) -> bool:
        idle = self.server.idle_timeout
        return idle is not None and now - self.last_active >= idle

    def on_readable(self) -> bool:
        """Read once and run every complete call. ``False``: close this connection now."""
        try:
            data = self.stream.read(READ_SIZE, self.server.idle_timeout)
        except TransportError as exc:
            log.debug("closing %s: %s", self.stream.peer, exc)
            return False
        self.last_active = time.monotonic()
        self.engine.receive_data(data)
        return self._run_calls()

    def _run_calls(self) -> bool:
        while True:
            try:
                event = self.engine.next_event()
            except ProtocolError as exc:
                # Nothing after malformed bytes can be trusted; only this connection pays.
                log.warning("closing %s: %s", self.stream.peer, exc)
                return False
            if event is NEED_DATA:
                return not self.server.stopping
            if isinstance(event, Call):
                if not self._run_call(event):
                    return False
                if self.server.stopping:
                    return False  # draining: this call was answered; take no new ones
            elif isinstance(event, CallRejected):
                log.info("%s: rejected %r: %s", self.stream.peer, event.name, event.error)
                if event.data and not self._write(event.data):
                    return False
            elif isinstance(event, ConnectionClosed):
                return False

    def _run_call(self, call: Call) -> bool:
        server = self.server
        request = Request(
            call.method, call.args, {}, Context(peer=self.stream.peer, seqid=call.seqid)
        )
        error: TApplicationException | None = None
        result: Response = None
        try:
            result = server.service(request)
        except TApplicationException as exc:
            error = exc
        except Exception as exc:
            # Dispatcher already maps handler errors; this catches a misbehaving filter.
            log.exception("%s.%s: the filter stack raised", server.spec.name, call.method.name)
            error = TApplicationException(
                f"{type(exc).__name__}: {exc}", ApplicationExceptionType.INTERNAL_ERROR
            )
        server.calls_served += 1  # a lost increment under threads only skews a recycle point
        if call.oneway:
            return True
        if error is None and result is None:
            error = TApplicationException(
                f"{call.method.name}: the filter stack returned no result",
                ApplicationExceptionType.INTERNAL_ERROR,
            )
        if error is None and result is not None:
            try:
                return self._write(self.engine.send_reply(call, result))
            except Exception as exc:
                # The handler returned something the IDL type cannot carry (wrong type, out of
                # range, required field unset): tell the client rather than hang up on it.
                log.exception("%s.%s: cannot encode the result", server.spec.name, call.method.name)
                error = TApplicationException(
                    f"cannot encode the result of {call.method.name}: {exc}",
                    ApplicationExceptionType.INTERNAL_ERROR,
                )
        assert error is not None
        return self._write(self.engine.send_exception(call, error))

    def _write(self, data: bytes) -> bool:
        try:
            self.stream.write(data, self.server.idle_timeout)
        except TransportError as exc:
            log.debug("closing %s: %s", self.stream.peer, exc)
            return False
        return True

    def close(self) -> None:
        self.stream.close()
        self.server._forget(self)


class Server:
    """A blocking Thrift server for one service and handler (see the module docstring).

    The socket is bound and listening when the constructor returns (``port=0`` picks a free
    port; read it from ``.port``); calls are served once ``serve_forever()`` runs, or
    ``start()`` runs it in a background thread. ``stop()`` drains and returns.

    idle_timeout: seconds a connection may sit without sending a byte before it is closed
        (also bounds writing one reply); ``None`` = never.
    workers: threads of the ``threadpool`` model (default ``DEFAULT_WORKERS``); only valid
        with that model.
    max_children: live child processes of the ``forking`` model (default
        ``DEFAULT_MAX_CHILDREN``); at the limit new clients wait in the listen backlog. Only
        valid with that model.
    filters: server-side filters (or a ``Stack``), outermost first, around the dispatcher.
    sock: an already listening socket to serve on instead of binding ``host``/``port`` (a
        pre-fork supervisor binds once and hands each worker the socket). The server closes
        its own descriptor of it on stop; other processes sharing it keep accepting.

    ``calls_served`` counts the calls this server has answered (oneway calls: run), for
    supervisors that recycle a worker after so many requests. With ``forking`` it counts only
    the calls of children that have exited (see ``swordfish.sync.forking``).

    handler is an object with one method per IDL method (see ``Dispatcher`` for how results
    and exceptions map), or a ``Service[Request, Response]`` used as the terminal directly.
    """

    def __init__(
        self,
        service: object,
        handler: object,
        host: str = "127.0.0.1",
        port: int = 9090,
        *,
        protocol: str = "binary",
        transport: str = "buffered",
        model: str = "threadpool",
        workers: int | None = None,
        max_children: int | None = None,
        limits: Limits | None = None,
        idle_timeout: float | None = 60.0,
        filters: Iterable[AnyFilter] | Stack = (),
        backlog: int = 128,
        sock: socket.socket | None = None,
    ) -> None:
        self.spec = resolve_service(service)
        self.handler = handler
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.transport = check_choice("transport", transport, TRANSPORTS)
        self.model = check_choice("model", model, MODELS)
        if workers is not None:
            if model != "threadpool":
                raise ValueError(f"workers applies to model='threadpool' only, not {model!r}")
            if not _positive_int(workers):
                raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.workers = workers if workers is not None else DEFAULT_WORKERS
        if max_children is not None:
            if model != "forking":
                raise ValueError(f"max_children applies to model='forking' only, not {model!r}")
            if not _positive_int(max_children):
                raise ValueError(f"max_children must be a positive int, got {max_children!r}")
        if model == "forking" and not hasattr(os, "fork"):
            raise ValueError("model='forking' needs os.fork(), which this platform lacks")
        self.max_children = max_children if max_children is not None else DEFAULT_MAX_CHILDREN
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive or None, got {idle_timeout!r}")
        self.idle_timeout = idle_timeout
        self.limits = limits or DEFAULT_LIMITS
        self._codec = get_codec(self.protocol, self.limits)
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        # A Service handler (a proxy, a prebuilt stack) is used as the terminal as it is.
        terminal = handler if isinstance(handler, Service) else Dispatcher(self.spec, handler)
        self.service: Service[Request, Response] = self.stack.build(terminal)

        self._lock = threading.Lock()
        self._conns: set[_Connection] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._done = threading.Event()
        self._serving = False
        self._drain_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._kick_w: socket.socket | None = None
        self._forking: ForkingLoop | None = None  # set by serve_forever (model="forking")
        self.calls_served = 0  # calls answered (oneway: run); read by supervisors
        self._listener = _listen(host, port, backlog) if sock is None else _adopt(sock)
        # Written once by stop() and never drained: every wait in every thread watches it.
        self._wake_r, self._wake_w = socket.socketpair()
        self._address = self._listener.getsockname()

    def _after_fork_in_child(self, conn: _Connection) -> None:
        """In a ``forking`` child: keep only ``conn``; fresh locks, events and wake-up socket.

        Another parent thread may have held the locks at the fork; that thread is not here.
        Kept next to ``__init__`` so that new shared state gets its reset here too.
        """
        self._close_listener()
        self._close_wake()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns = {conn}
        self._threads = set()
        self.calls_served = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)  # written from a signal handler: must never block

    # -- public surface ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        return int(self._address[1])

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def connections(self) -> int:
        """Connections open right now (``forking``: live child processes, one per connection)."""
        with self._lock:
            children = 0 if self._forking is None else len(self._forking.children)
            return len(self._conns) + children

    def serve_forever(self) -> None:
        """Serve until ``stop()`` is called (from another thread or a signal handler's helper)."""
        with self._lock:
            if self._serving:
                raise RuntimeError("this server is already serving")
            if self._stopping.is_set():
                self._started.set()  # a start() racing with stop() must not wait forever
                return
            self._serving = True
        log.info(
            "serving %s on %s (model=%s, protocol=%s, transport=%s)",
            self.spec.name,
            format_address(self._address),
            self.model,
            self.protocol,
            self.transport,
        )
        try:
            self._started.set()
            if self.model == "threadpool":
                self._run_pool()
            elif self.model == "forking":
                self._forking = ForkingLoop(self)
                self._forking.run()
            else:
                self._run_accept_loop()
        finally:
            self._finish()

    def start(self) -> Server:
        """Run ``serve_forever`` in a daemon thread; returns once it is serving."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this server was already started")
            self._thread = threading.Thread(
                target=self.serve_forever, name=f"swordfish-server-{self.port}", daemon=True
            )
        self._thread.start()
        self._started.wait()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, finish running calls (up to ``timeout`` s), close everything.

        Idempotent and safe from any thread other than the one inside a handler call.
        ``forking``: children get SIGTERM, and SIGKILL after ``timeout``; this returns once
        every child has been reaped.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            first = not self._stopping.is_set()
            if first:
                self._drain_deadline = deadline
                self._stopping.set()
            serving = self._serving
        if first:
            log.info("stopping %s on %s", self.spec.name, format_address(self._address))
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass  # already closed by a previous stop: nothing is waiting
        if not serving:
            self._close_listener()
            self._close_wake()
            self._done.set()
            return
        # forking: the serving thread itself kills stragglers at the deadline, then reaps them.
        grace = _KILL_WAIT if self.model == "forking" else 0.0
        if not self._done.wait(max(0.0, deadline - time.monotonic()) + grace):
            # A call outlived the timeout (or serve_forever is stuck in one): close hard, so
            # the stuck call's eventual reply goes nowhere and waiting clients are released.
            log.warning("stop: calls still running after %.1f s; closing connections", timeout)
            self._force_close()

    def close(self) -> None:
        """Same as ``stop()``."""
        self.stop()

    def __enter__(self) -> Self:
        if self._thread is None and not self._serving:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<Server {self.spec.name} {format_address(self._address)} model={self.model} "
            f"protocol={self.protocol} transport={self.transport}>"
        )

    # -- accepting ---------------------------------------------------------------------------

    def _accept(self) -> _Connection | None:
        try:
            sock, address = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None  # the client gave up between readiness and accept
        except OSError as exc:
            # Out of descriptors and the like: back off briefly instead of spinning.
            log.error("accept failed: %s", exc)
            self._stopping.wait(0.1)
            return None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # only latency is affected
        conn = _Connection(self, sock, address)
        with self._lock:
            self._conns.add(conn)
        log.debug("accepted %s", conn.stream.peer)
        return conn

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _run_accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                sel.select()
                if self._stopping.is_set():
                    break
                conn = self._accept()
                if conn is None:
                    continue
                if self.model == "simple":
                    self._serve_blocking(conn)
                else:
                    thread = threading.Thread(
                        target=self._serve_blocking,
                        args=(conn,),
                        name=f"swordfish-conn-{conn.stream.peer}",
                        daemon=True,
                    )
                    with self._lock:
                        self._threads.add(thread)
                    thread.start()
        self._close_listener()

    def _serve_blocking(self, conn: _Connection, lifeline: socket.socket | None = None) -> bool:
        """simple/threaded/forking: wait for bytes (or stop, or idleness), serve, repeat.

        ``lifeline``: a forked child's end of the socket that reads EOF when the parent dies.
        Returns ``False`` if serving raised (a forked child exits non-zero then).
        """
        ok = True
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(conn, selectors.EVENT_READ)
                sel.register(self._wake_r, selectors.EVENT_READ)
                if lifeline is not None:
                    sel.register(lifeline, selectors.EVENT_READ)
                idle = self.idle_timeout
                while True:
                    wait = None
                    if idle is not None:
                        wait = max(0.0, conn.last_active + idle - time.monotonic())
                    ready = sel.select(wait)
                    if self._stopping.is_set():
                        break
                    if not ready:
                        log.debug("closing idle connection %s", conn.stream.peer)
                        break
                    if any(key.fileobj is not conn for key, _ in ready):
                        # Woken without `stopping`: only a forked child's lifeline does that,
                        # at EOF, when the parent process died without stopping us.
                        log.warning("parent process gone; closing %s", conn.stream.peer)
                        break
                    if not conn.on_readable():
                        break
        except Exception:
            log.exception("connection %s failed", conn.stream.peer)
            ok = False
        finally:
            conn.close()
            with self._lock:
                self._threads.discard(threading.current_thread())
        return ok

    # -- threadpool --------------------------------------------------------------------------

    def _run_pool(self) -> None:
        work: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        back: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        kick_r, kick_w = socket.socketpair()
        kick_r.setblocking(False)
        self._kick_w = kick_w  # closed by _finish once every worker is gone
        workers = [
            threading.Thread(
                target=self._pool_worker,
                args=(work, back, kick_w),
                name=f"swordfish-worker-{i}",
                daemon=True,
            )
            for i in range(self.workers)
        ]
        with self._lock:
            self._threads.update(workers)
        for w in workers:
            w.start()
        sel = selectors.DefaultSelector()
        idle: set[_Connection] = set()
        try:
            sel.register(self._listener, selectors.EVENT_READ, "accept")
            sel.register(self._wake_r, selectors.EVENT_READ, "stop")
            sel.register(kick_r, selectors.EVENT_READ, "kick")
            while not self._stopping.is_set():
                ready = sel.select(self._next_expiry(idle))
                if self._stopping.is_set():
                    break
                for key, _ in ready:
                    if key.data == "accept":
                        conn = self._accept()
                        if conn is not None:
                            sel.register(conn, selectors.EVENT_READ, conn)
                            idle.add(conn)
                    elif key.data == "kick":
                        _drain(kick_r)
                        while True:
                            try:
                                conn = back.get_nowait()
                            except queue.Empty:
                                break
                            sel.register(conn, selectors.EVENT_READ, conn)
                            idle.add(conn)
                    elif isinstance(key.data, _Connection):
                        # One worker at a time per connection: it leaves the selector until
                        # the worker hands it back, so its calls run (and reply) in order.
                        sel.unregister(key.data)
                        idle.discard(key.data)
                        work.put(key.data)
                now = time.monotonic()
                for conn in [c for c in idle if c.idle_expired(now)]:
                    log.debug("closing idle connection %s", conn.stream.peer)
                    sel.unregister(conn)
                    idle.discard(conn)
                    conn.close()
        finally:
            # Idle connections close now; busy ones close when their worker sees `stopping`.
            for conn in idle:
                conn.close()
            sel.close()
            self._close_listener()
            for _ in workers:
                work.put(None)
            kick_r.close()

    def _next_expiry(self, idle: set[_Connection]) -> float | None:
        if self.idle_timeout is None or not idle:
            return None
        first = min(c.last_active for c in idle) + self.idle_timeout
        return max(0.0, first - time.monotonic())

    def _pool_worker(
        self,
        work: queue.SimpleQueue[_Connection | None],
        back: queue.SimpleQueue[_Connection],
        kick_w: socket.socket,
    ) -> None:
        try:
            while True:
                conn = work.get()
                if conn is None:
                    return
                keep = False
                try:
                    keep = conn.on_readable()
                except Exception:
                    log.exception("connection %s failed", conn.stream.peer)
                if keep and not self._stopping.is_set():
                    back.put(conn)
                    try:
                        kick_w.send(b"k")
                    except OSError:
                        conn.close()  # the selector loop is gone: we are stopping
                else:
                    conn.close()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    # -- shutdown ----------------------------------------------------------------------------

    def _finish(self) -> None:
        """End of serve_forever: wait for running calls until the drain deadline, then close."""
        while True:
            with self._lock:
                threads = [t for t in self._threads if t is not threading.current_thread()]
            remaining = self._drain_deadline - time.monotonic()
            if not threads or remaining <= 0:
                break
            threads[0].join(remaining)
        self._force_close()
        with self._lock:
            stragglers = bool(self._threads)
        if not stragglers:
            # Only now: a thread still inside a call may yet select on these sockets.
            self._close_wake()
            if self._kick_w is not None:
                self._kick_w.close()
        self._done.set()

    def _force_close(self) -> None:
        self._close_listener()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.stream.shutdown()  # a thread blocked on it wakes up and exits
            conn.close()

    def _close_listener(self) -> None:
        try:
            self._listener.close()
        except OSError:
            pass  # closing twice is harmless

    def _close_wake(self) -> None:
        for s in (self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass  # closing twice is harmless


def _positive_int(value: object) -> bool:
    # Takes `object`: callers pass user input whose annotation promises more than it checks.
    return type(value) is int and value > 0


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _adopt(sock: socket.socket) -> socket.socket:
    """Check that ``sock`` is a listening stream socket and make it non-blocking."""
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        raise ValueError(f"sock must be a listening stream socket, got {sock!r}")
    sock.setblocking(False)
    return sock


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening socket with SO_REUSEADDR (restart without TIME_WAIT pain)."""
    address = format_address((host, port))
    with map_socket_errors(f"listen on {address}"):
        infos = socket.getaddrinfo(host or None, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
    return sock
