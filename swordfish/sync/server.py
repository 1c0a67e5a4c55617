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
Each child is a copy of the parent process, so handler state is *per process*: what one
connection's calls change in the handler (counters, caches) is invisible to other connections
and to the parent. Share state through something outside the process (a database, a file).
Resources a handler opens before the fork (client connections, thread pools, locks held by
other threads) are shared or broken in every child: open them lazily, in the child.

Children and the parent talk through two pipes, never through process-global signal handlers
in the parent: each child holds the write end of a *status pipe* and writes its
``calls_served`` count there just before it exits, so the parent wakes when a child is done,
reaps it at once with ``waitpid(pid, WNOHANG)`` (never ``waitpid(-1)``: other children of the
process are not ours), and adds the count to its own ``calls_served``. The parent's
``calls_served`` therefore counts the calls of children that have *exited*; calls of running
children, and of a child killed by a signal, are not in it. Every child also watches a
*lifeline* socket whose only writer is the parent: if the parent process dies without
stopping (SIGKILL, OOM), the lifeline reads EOF and each child exits after its current call
instead of lingering as an orphan. ``connections`` counts live (unreaped) children.

In the child, after the fork: the listener, the parent's wake-up sockets and selector, other
children's status pipes and the lifeline's write end are closed; the server's locks and events
are replaced (another parent thread may have held them at fork time); SIGTERM and SIGINT get
the child's own handler (installed while both signals are blocked, so a stop racing with the
fork is not lost): it lets the running call finish and write its reply, then the child closes
the connection and leaves with ``os._exit``; it never returns into the parent's code.
Exit status: 0 after a clean close, 1 if serving the connection raised, or the code of a
``SystemExit`` from the handler; the parent logs every non-zero status and signal death.

``stop()`` closes the listener at once, sends SIGTERM to every child, waits for them until
``timeout``, then SIGKILLs the stragglers and reaps them all: no zombies, no orphans.

Fork hazards: ``start()`` runs the parent's loop in a thread, so the process forks while
other threads run. Only the forking thread exists in the child; a lock another thread held at
that instant (in your code or a library's) stays locked there forever. The server resets its
own state and Python resets ``logging``'s locks, but a handler that shares locks with parent
threads can deadlock in a child. Children also inherit every descriptor the process has open:
a client socket the same process holds (say in a test) stays open in children forked after it
was created, so closing it there does not end the connection until those children exit.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import NoReturn, Self

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
from .stream import READ_SIZE, SyncStream, format_address, map_socket_errors

__all__ = ["DEFAULT_MAX_CHILDREN", "DEFAULT_WORKERS", "Server"]

log = logging.getLogger("swordfish.server")

#: Worker threads of the ``threadpool`` model when ``workers`` is not given.
DEFAULT_WORKERS = 8
#: Live child processes of the ``forking`` model when ``max_children`` is not given.
DEFAULT_MAX_CHILDREN = 64

# forking: how often the parent reaps children even when no status pipe woke it (a handler
# may close or pass on descriptors it did not open), and how long it polls after a child's
# pipe hit EOF (the kernel closes a dying process's files before it can be waited for).
_REAP_INTERVAL = 1.0
_REAP_SOON = 0.01
# forking: how long the parent waits for SIGKILLed children to become reapable.
_KILL_WAIT = 2.0
# forking: when serve_forever ends without stop() (an exception), children still get this
# long to finish their calls.
_DEFAULT_DRAIN = 5.0
# forking: what a child writes on its status pipe as it exits: its calls_served.
_REPORT = struct.Struct("!Q")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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


class _Child:
    """A forked child of the ``forking`` model, as its parent tracks it."""

    __slots__ = ("eof", "peer", "pid", "report", "status_fd")

    def __init__(self, pid: int, peer: str, status_fd: int) -> None:
        self.pid = pid
        self.peer = peer
        self.status_fd = status_fd  # read end of the child's status pipe (non-blocking)
        self.report = b""  # what the child wrote there: its calls_served, as it exits
        self.eof = False  # the pipe hit EOF: the child is exiting, reap it soon

    def fileno(self) -> int:
        return self.status_fd


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
    the calls of children that have exited (see the module docstring).

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
        # forking: live children by pid (parent), and in a child the parent's lifeline.
        self._children: dict[int, _Child] = {}
        self._lifeline: socket.socket | None = None
        # Written once by stop() and never drained: every wait in every thread watches it.
        self.calls_served = 0  # calls answered (oneway: run); read by supervisors
        self._listener = _listen(host, port, backlog) if sock is None else _adopt(sock)
        self._wake_r, self._wake_w = socket.socketpair()
        self._address = self._listener.getsockname()

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
            return len(self._conns) + len(self._children)

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
                self._run_forking()
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

    def _serve_blocking(self, conn: _Connection) -> bool:
        """simple/threaded/forking: wait for bytes (or stop, or idleness), serve, repeat.

        Returns ``False`` if serving raised (a forked child exits non-zero then).
        """
        ok = True
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(conn, selectors.EVENT_READ)
                sel.register(self._wake_r, selectors.EVENT_READ)
                if self._lifeline is not None:
                    sel.register(self._lifeline, selectors.EVENT_READ)
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

    # -- forking -----------------------------------------------------------------------------

    def _run_forking(self) -> None:
        # The lifeline: every child watches life_r; only this process keeps life_w (children
        # close their copy), so the children read EOF when, and only when, the parent dies.
        life_r, life_w = socket.socketpair()
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._wake_r, selectors.EVENT_READ, "stop")
            accepting = False
            while not self._stopping.is_set():
                room = len(self._children) < self.max_children
                if room != accepting:
                    if room:
                        sel.register(self._listener, selectors.EVENT_READ, "accept")
                    else:
                        # New clients wait in the listen backlog until a child exits.
                        sel.unregister(self._listener)
                        log.info("max_children (%d) running; not accepting", self.max_children)
                    accepting = room
                ready = sel.select(self._reap_wait())
                if self._stopping.is_set():
                    break
                for key, _ in ready:
                    if isinstance(key.data, _Child):
                        self._read_status(sel, key.data)
                    elif key.data == "accept":
                        self._fork_child(sel, life_r, life_w)
                self._reap(sel)
        finally:
            try:
                self._stop_children(sel)
            finally:
                sel.close()
                life_r.close()
                life_w.close()

    def _reap_wait(self) -> float | None:
        if not self._children:
            return None
        if any(child.eof for child in self._children.values()):
            return _REAP_SOON
        return _REAP_INTERVAL

    def _fork_child(
        self, sel: selectors.BaseSelector, life_r: socket.socket, life_w: socket.socket
    ) -> None:
        conn = self._accept()
        if conn is None:
            return
        status_r, status_w = os.pipe()
        # SIGTERM/SIGINT stay blocked across the fork until the child has installed its own
        # handler: a stop() racing with this fork then reaches that handler instead of the
        # one inherited from this process (which might kill the child mid-call, or ignore it).
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            os.close(status_r)
            os.close(status_w)
            log.error("fork failed (%s); closing %s", exc, conn.stream.peer)
            conn.close()
            self._stopping.wait(0.1)  # out of processes or memory: back off instead of spinning
            return
        if pid == 0:
            self._child_main(conn, sel, status_r, status_w, life_r, life_w, old_mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(status_w)
        os.set_blocking(status_r, False)
        conn.close()  # the child's descriptor keeps the socket open; ours would keep it alive
        child = _Child(pid, conn.stream.peer, status_r)
        with self._lock:
            self._children[pid] = child
        sel.register(child, selectors.EVENT_READ, child)
        log.debug("forked child %d for %s", pid, child.peer)

    def _child_main(
        self,
        conn: _Connection,
        sel: selectors.BaseSelector,
        status_r: int,
        status_w: int,
        life_r: socket.socket,
        life_w: socket.socket,
        old_mask: set[int | signal.Signals],
    ) -> NoReturn:
        """The forked child: serve ``conn``, report, exit. Never returns into the parent's code."""
        code = 1
        try:
            try:
                # Closing our copy of the parent's epoll descriptor leaves its interest set
                # alone; unregistering anything here would change the parent's.
                sel.close()
                self._become_child(conn, status_r, life_r, life_w)
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                code = 0 if self._serve_blocking(conn) else 1
            except SystemExit as exc:  # the handler called sys.exit(): honour its status
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                log.exception("child %d serving %s failed", os.getpid(), conn.stream.peer)
            conn.close()  # already closed unless setting up the child failed
            os.write(status_w, _REPORT.pack(self.calls_served))
        except BaseException:
            pass  # nothing may keep this process from the exit below
        finally:
            os._exit(code)

    def _become_child(
        self, conn: _Connection, status_r: int, life_r: socket.socket, life_w: socket.socket
    ) -> None:
        """Drop what belongs to the parent; give the child its own locks, wake-up and signals."""
        _close_fds([status_r, *(child.status_fd for child in self._children.values())])
        life_w.close()  # otherwise the lifeline could never read EOF
        self._close_listener()
        self._close_wake()
        # Another parent thread may have held these at the fork; that thread is not here.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns = {conn}
        self._threads = set()
        self._children = {}
        self.calls_served = 0
        self._lifeline = life_r
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)  # written from a signal handler: must never block
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        """Child only (SIGTERM/SIGINT): let the running call reply, then close and exit."""
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass  # the serving loop has already left its last wait

    def _read_status(self, sel: selectors.BaseSelector, child: _Child) -> None:
        try:
            data = os.read(child.status_fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            child.report += data
            return
        # EOF stays readable forever: stop watching and reap the child (it may take a moment
        # more to become waitable; _reap_wait polls soon).
        sel.unregister(child)
        child.eof = True

    def _reap(self, sel: selectors.BaseSelector) -> None:
        for pid, child in list(self._children.items()):
            status: int | None
            try:
                done, status = os.waitpid(pid, os.WNOHANG)  # this pid only: not others' children
            except ChildProcessError:
                done, status = pid, None  # already reaped elsewhere (SIGCHLD set to SIG_IGN)
            if done:
                self._child_gone(sel, child, status)

    def _child_gone(self, sel: selectors.BaseSelector, child: _Child, status: int | None) -> None:
        if not child.eof:
            sel.unregister(child)
        while True:  # the report may still be in the pipe
            try:
                data = os.read(child.status_fd, 64)
            except OSError:
                break
            if not data:
                break
            child.report += data
        _close_fds([child.status_fd])
        with self._lock:
            del self._children[child.pid]
        if len(child.report) == _REPORT.size:
            self.calls_served += _REPORT.unpack(child.report)[0]
        code = None if status is None else os.waitstatus_to_exitcode(status)
        if code is not None and code < 0:
            log.warning(
                "child %d serving %s was killed by %s", child.pid, child.peer, _signame(-code)
            )
        elif code:
            log.warning("child %d serving %s exited with status %d", child.pid, child.peer, code)
        else:
            log.debug("child %d serving %s exited", child.pid, child.peer)

    def _stop_children(self, sel: selectors.BaseSelector) -> None:
        """After the accept loop: SIGTERM every child, wait for them, SIGKILL stragglers."""
        for fileobj in (self._listener, self._wake_r):
            try:
                sel.unregister(fileobj)
            except (KeyError, ValueError):
                pass  # not registered (at max_children), or already closed
        self._close_listener()
        # Without stop() (serve_forever raised), children still get time to finish calls.
        stopped = self._stopping.is_set()
        deadline = self._drain_deadline if stopped else time.monotonic() + _DEFAULT_DRAIN
        self._signal_children(signal.SIGTERM)
        self._wait_children(sel, deadline)
        if self._children:
            log.warning("stop: %d children still running; killing them", len(self._children))
            self._signal_children(signal.SIGKILL)
            self._wait_children(sel, time.monotonic() + _KILL_WAIT)
        if self._children:
            log.error("stop: could not reap children %s", sorted(self._children))
            _close_fds([child.status_fd for child in self._children.values()])
            with self._lock:
                self._children.clear()

    def _wait_children(self, sel: selectors.BaseSelector, deadline: float) -> None:
        while self._children:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for key, _ in sel.select(min(remaining, 0.02)):
                if isinstance(key.data, _Child):
                    self._read_status(sel, key.data)
            self._reap(sel)

    def _signal_children(self, signum: int) -> None:
        # Only unreaped pids: a zombie keeps its pid, so this cannot hit a recycled one.
        for pid in list(self._children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass  # exiting on its own; reaped by the caller

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


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass  # closing twice is harmless


def _signame(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


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
