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
then their connections close. Calls a connection sent after the one it is running are not
run (the client sees EOF where their replies would be). After ``timeout`` seconds whatever
is still open is closed hard. A connection that sends malformed or oversized bytes is closed
on its own; the server keeps serving the others. Handler exceptions never escape into the
loops (see ``Dispatcher``).

Closing a connection
--------------------
A connection the server closes on its own initiative with nothing wrong (draining on stop,
idle timeout, a forked child's parent gone) gets a *lingering close*, because closing a
socket with unread input makes the kernel answer with a RST: the client then sees
``ECONNRESET`` instead of EOF, and replies we wrote that were still in flight are dropped:
replies to calls that did run, lost. So instead: every reply is written, then
``shutdown(SHUT_WR)`` sends FIN after the last one, then the server keeps reading and
discarding input (calls it will not run) until the peer closes (EOF), or the peer has been
quiet for ``LINGER_QUIET`` with everything we wrote acknowledged, or ``LINGER_TIME`` has
passed, or the stop deadline; only then does it close the socket. The client reads every
reply, then EOF, and each call it sent that was not run fails with ``ConnectionClosedError``
(never silently). Hard closes stay hard: malformed input, a peer that reset or stopped
reading, and whatever is still open at the stop deadline. ``simple``, ``threaded`` and
``forking`` linger in the connection's own thread or process; ``threadpool`` keeps lingering
sockets in its selector, so one slow peer never holds up the others.

TLS
---
With ``ssl_context`` every accepted socket is wrapped server-side and the handshake runs
before the first call, bounded by ``handshake_timeout``: a client that connects and never
completes it is closed then (and logged), and a failed handshake (no or untrusted client
certificate under mutual TLS, plain Thrift on a TLS port) closes only that connection,
logged at WARNING with the peer. ``threadpool`` advances handshakes without blocking, from
its workers, so silent or slow clients never pin a worker or the selector; ``threaded`` and
``forking`` handshake in the connection's own thread or process; ``simple`` in its only
thread (so one silent client delays the others by up to ``handshake_timeout``). A lingering
close sends ``close_notify`` and then FIN (``SyncStream.shutdown_write``): replies written
before it are delivered first, as without TLS.

The forking model
-----------------
Its loop, and what it means for handlers (per-process state, how children report, are
signalled and reaped, fork hazards), live in ``swordfish.sync.forking``: ``serve_forever``
hands the server to a ``ForkingLoop``, which accepts, forks and reaps, while each child serves
its one connection with this module's ``_serve_blocking``.

Detection
---------
``detect=`` lets one port serve callers that speak different formats: each connection's
protocol and transport are recognised from its first bytes (``swordfish.framing.detect``)
and every reply goes out in the caller's format. Only the framer differs: TLS, unix sockets,
every model and the rules above apply unchanged. A connection whose first bytes match no
accepted format is closed (malformed input, logged at WARNING); one that sends too little to
decide is closed by the idle timeout like any silent connection.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Self

from ..errors import ProtocolError, TransportError
from ..framing import Detection, wire_format
from ..limits import DEFAULT_LIMITS, Limits
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import ServiceSpec
from ..protocol import NEED_DATA, Call, CallRejected, ConnectionClosed, ServerConnection
from ..rpc.dispatch import Dispatcher, Router, resolve_services
from ..rpc.filter import AnyFilter, Stack
from ..rpc.options import HTTP_TRANSPORT
from ..rpc.request import Context, Request, Response
from ..rpc.service import Service
from ..tls import check_context
from ._common import MODELS, PROTOCOLS, TRANSPORTS, check_choice, resolve_service
from .forking import _KILL_WAIT, DEFAULT_MAX_CHILDREN, ForkingLoop
from .stream import READ_SIZE, SyncStream, format_address, map_socket_errors

__all__ = [
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_MAX_CHILDREN",
    "DEFAULT_WORKERS",
    "HTTP_SERVER_HINT",
    "LINGER_QUIET",
    "LINGER_TIME",
    "Server",
]

log = logging.getLogger("swordfish.server")

#: The error for ``transport="http"``: this server speaks raw Thrift over TCP.
HTTP_SERVER_HINT = (
    "unknown transport 'http' for Server, which serves raw Thrift over TCP: serve Thrift "
    "over HTTP with swordfish.web.ThriftWSGIApp (under gunicorn) or swordfish.web.ThriftASGIApp "
    "(under uvicorn), or `swordfish serve --transport http`"
)

#: Worker threads of the ``threadpool`` model when ``workers`` is not given.
DEFAULT_WORKERS = 8
#: Seconds a TLS client has to complete its handshake after connecting.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0


#: Lingering close (see "Closing a connection" in the module docstring): the longest a closing
#: connection keeps reading and discarding input after our FIN...
LINGER_TIME = 2.0
#: ...and how long the peer may stay silent (sending nothing, not closing) before we close
#: anyway, once it has acknowledged everything we wrote.
LINGER_QUIET = 0.25
# How often a quiet linger looks again whether the peer has acknowledged our last bytes.
_LINGER_POLL = 0.05

# TLS reads one wake-up makes at most (one TLS record, at most 16 KiB, per read): enough for
# a large message in one go, without letting one busy peer keep a worker forever.
_TLS_READS = 16

# What the owner of a connection does after serving it (``_Connection.on_readable``).
_KEEP = 0  # wait for more bytes
_LINGER = 1  # close gracefully: FIN after our last reply, discard input until EOF, close
_CLOSE = 2  # close now: the peer is gone, I/O failed, or its bytes were malformed


class _Connection:
    """One accepted connection: its stream, its protocol engine, and the call loop."""

    __slots__ = (
        "engine",
        "handshake_until",
        "handshaken",
        "last_active",
        "linger_until",
        "lingering",
        "quiet_until",
        "server",
        "stream",
    )

    def __init__(self, server: Server, sock: socket.socket, address: object) -> None:
        self.server = server
        self.stream = SyncStream(sock, format_address(address))
        framer = server.wire.new_framer(server=True)
        self.engine = ServerConnection(server.spec, server._codec, framer)
        self.last_active = time.monotonic()
        # TLS: no call is read before the handshake is complete, which must be by then.
        self.handshaken = not self.stream.tls
        self.handshake_until = self.last_active + server.handshake_timeout
        self.lingering = False  # closing: our FIN is out, input is read and dropped
        self.linger_until = 0.0
        self.quiet_until = 0.0

    def fileno(self) -> int:
        return self.stream.fileno()

    def idle_due(self) -> float | None:
        """When (``time.monotonic()``) this connection expires if nothing happens."""
        if not self.handshaken:
            return self.handshake_until
        idle = self.server.idle_timeout
        return None if idle is None else self.last_active + idle

    def idle_expired(self, now: float) -> bool:
        due = self.idle_due()
        if due is None or now < due:
            return False
        if not self.handshaken:
            log.warning(
                "closing %s: no TLS handshake within %.1f s",
                self.stream.peer,
                self.server.handshake_timeout,
            )
        return True

    def handshake(self, step: bool) -> bool | None:
        """Advance the TLS handshake: ``True`` done, ``False`` needs more bytes, ``None``
        failed (logged; close the connection). ``step=False`` blocks until it is done."""
        remaining = self.handshake_until - time.monotonic()
        try:
            done = self.stream.handshake(remaining, step=step)
        except TransportError as exc:
            log.warning("closing %s: %s", self.stream.peer, exc)
            return None
        if done:
            self.handshaken = True
            self.last_active = time.monotonic()
        return done

    def on_readable(self) -> int:
        """Read once and run every complete call; say what to do next (``_KEEP``, ...)."""
        if not self.handshaken:
            done = self.handshake(step=True)
            if done is None:
                return _CLOSE
            if not done:
                return _KEEP
        try:
            if self.stream.tls:
                chunks = self._read_tls()
                if not chunks:
                    return _KEEP
            else:
                chunks = [self.stream.read(READ_SIZE, self.server.idle_timeout)]
        except TransportError as exc:
            log.debug("closing %s: %s", self.stream.peer, exc)
            return _CLOSE
        self.last_active = time.monotonic()
        for data in chunks:
            self.engine.receive_data(data)  # b"" (EOF) comes last
        return self._run_calls()

    def _read_tls(self) -> list[bytes]:
        """What TLS records have fully arrived (at most ``_TLS_READS`` reads; ``b""`` last at
        EOF). Readable may mean part of a record (or a handshake message): never block on
        the rest; the caller waits for readability again instead."""
        chunks: list[bytes] = []
        for _ in range(_TLS_READS):
            data = self.stream.read_nowait(READ_SIZE)
            if data is None:
                break
            chunks.append(data)
            if not data:
                break
        return chunks

    def _run_calls(self) -> int:
        while True:
            try:
                event = self.engine.next_event()
            except ProtocolError as exc:
                # Nothing after malformed bytes can be trusted; only this connection pays.
                log.warning("closing %s: %s", self.stream.peer, exc)
                return _CLOSE
            if event is NEED_DATA:
                return _LINGER if self.server.stopping else _KEEP
            if isinstance(event, Call):
                if not self._run_call(event):
                    return _CLOSE
                if self.server.stopping:
                    return _LINGER  # draining: this call was answered; take no new ones
            elif isinstance(event, CallRejected):
                log.info("%s: rejected %r: %s", self.stream.peer, event.name, event.error)
                if event.data and not self._write(event.data):
                    return _CLOSE
            elif isinstance(event, ConnectionClosed):
                # The peer closed its side: nothing more can arrive, so a plain close is
                # already graceful (FIN, no reset).
                return _CLOSE

    def _run_call(self, call: Call) -> bool:
        server = self.server
        request = Request(
            call.method,
            call.args,
            call.headers or {},
            Context(peer=self.stream.peer, seqid=call.seqid),
            call.service,
        )
        error: TApplicationException | None = None
        result: Response = None
        try:
            result = server.service(request)
        except TApplicationException as exc:
            error = exc
        except Exception as exc:
            # Dispatcher already maps handler errors; this catches a misbehaving filter.
            log.exception("%s.%s: the filter stack raised", server.name, call.method.name)
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
                return self._write(
                    self.engine.send_reply(call, result, request.context.reply_headers)
                )
            except Exception as exc:
                # The handler returned something the IDL type cannot carry (wrong type, out of
                # range, required field unset): tell the client rather than hang up on it.
                log.exception("%s.%s: cannot encode the result", server.name, call.method.name)
                error = TApplicationException(
                    f"cannot encode the result of {call.method.name}: {exc}",
                    ApplicationExceptionType.INTERNAL_ERROR,
                )
        assert error is not None
        return self._write(self.engine.send_exception(call, error, request.context.reply_headers))

    def _write(self, data: bytes) -> bool:
        try:
            self.stream.write(data, self.server.idle_timeout)
        except TransportError as exc:
            log.debug("closing %s: %s", self.stream.peer, exc)
            return False
        return True

    # -- lingering close ---------------------------------------------------------------------

    def begin_linger(self) -> bool:
        """Start a lingering close: FIN after our replies, then read and drop input.

        ``False``: the connection is already gone; just close it. The caller then watches
        the stream for input (``on_linger_readable``) until ``linger_expired``.
        """
        if not self.handshaken:
            return False  # no TLS session yet, so no call to answer: a plain close
        now = time.monotonic()
        self.lingering = True
        self.linger_until = now + LINGER_TIME
        self.quiet_until = now + LINGER_QUIET
        return self.stream.shutdown_write()

    def linger_due(self) -> float:
        """When (``time.monotonic()``) to look again at ``linger_expired``."""
        due = min(self.linger_until, self.quiet_until)
        if self.server.stopping:
            due = min(due, self.server._drain_deadline)
        return due

    def linger_expired(self, now: float) -> bool:
        """Whether the lingering close is over: time to close the socket."""
        if self.stream.closed or now >= self.linger_until:
            return True
        if self.server.stopping and now >= self.server._drain_deadline:
            return True
        if now < self.quiet_until:
            return False
        # The peer is quiet. Close only once it has acknowledged what we wrote (beyond our
        # FIN, which counts one): a reply stuck behind its full receive window would be cut
        # off by the RST that its next bytes would draw from a closed socket.
        if self.stream.unsent() > 1:
            self.quiet_until = now + _LINGER_POLL
            return False
        return True

    def on_linger_readable(self) -> bool:
        """Drop what arrived (calls we will not run). ``False``: EOF or error, close now."""
        if not self.stream.discard_input():
            return False
        self.quiet_until = time.monotonic() + LINGER_QUIET
        return True

    def linger(self) -> None:
        """The whole lingering close, blocking this thread (at most ``LINGER_TIME``).

        For the models with a thread (or process) per connection; ``threadpool`` runs the
        same steps from its selector loop instead.
        """
        if self.begin_linger():
            with selectors.DefaultSelector() as sel:
                sel.register(self, selectors.EVENT_READ)
                while not self.linger_expired(time.monotonic()):
                    wait = max(0.0, self.linger_due() - time.monotonic())
                    if sel.select(wait) and not self.on_linger_readable():
                        break
        self.close()

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
    ssl_context: serve TLS (``swordfish.tls.server_context`` builds one; a context with
        ``verify_mode=CERT_REQUIRED`` makes it mutual TLS). handshake_timeout: seconds a
        client has to complete the TLS handshake (see "TLS" in the module docstring).
    header_transforms: with the THeader protocols ("header", "header-compact"), payload
        transforms for every reply (``("zlib",)``); without it replies are compressed only to
        peers that compress their calls. A THeader server also answers plain framed or
        unframed binary/compact clients, in their own format. Handlers read a call's
        headers with ``swordfish.current_headers()`` and add reply headers with
        ``swordfish.set_reply_header(key, value)``. With ``detect``: transforms for the
        replies on THeader connections.
    detect: recognise each connection's protocol and transport from its first bytes and
        answer in kind (see "Detection" in the module docstring), instead of speaking only
        ``protocol`` over ``transport`` (which are then not consulted). ``True`` accepts
        every detectable format: binary (strict and old-style), compact, json and THeader
        ("header": binary or compact inside) over buffered, framed and zlib. Names restrict
        it: protocol names limit the protocols, transport names the transports, and a kind
        without names keeps all of its own, so ``detect=("binary", "compact", "framed")``
        accepts binary and compact over framed only, and ``detect=("framed",)`` every
        protocol over framed. ``.detect`` holds what is accepted (a
        ``swordfish.framing.Detection``; ``None`` when off).
    sock: an already listening socket to serve on instead of binding ``host``/``port`` (a
        pre-fork supervisor binds once and hands each worker the socket). The server closes
        its own descriptor of it on stop; other processes sharing it keep accepting. A unix
        (``AF_UNIX``) stream socket works too: ``host`` is then its path and ``port`` 0
        (the socket file is left in place: whoever bound it removes it).

    ``calls_served`` counts the calls this server has answered (oneway calls: run), for
    supervisors that recycle a worker after so many requests. With ``forking`` it counts only
    the calls of children that have exited (see ``swordfish.sync.forking``).

    handler is an object with one method per IDL method (see ``Dispatcher`` for how results
    and exceptions map), or a ``Service[Request, Response]`` used as the terminal directly.

    services: several services on one port (Apache's multiplexed protocol), instead of
        ``service`` and ``handler``: ``{"Calc": (calc.Calculator, CalcHandler()), ...}``.
        Clients then name calls ``"Calc:add"`` (``make_client(..., service_name="Calc")``);
        each service gets its own dispatcher, and the filters, shared by all of them, read the
        name from ``Request.service``.
    """

    def __init__(
        self,
        service: object = None,
        handler: object = None,
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
        services: Mapping[str, tuple[object, object]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        header_transforms: Iterable[str] = (),
        detect: bool | str | Iterable[str] | None = False,
    ) -> None:
        #: What the protocol engine serves: one spec, or multiplexed name -> spec.
        self.spec: ServiceSpec | dict[str, ServiceSpec]
        self.handler: object
        terminal: Service[Request, Response]
        if services is not None:
            if service is not None or handler is not None:
                raise ValueError("give either service and handler, or services, not both")
            resolved = resolve_services(services)
            self.spec = {name: spec for name, (spec, _) in resolved.items()}
            self.handler = {name: h for name, (_, h) in resolved.items()}
            self.name = "+".join(resolved)
            terminal = Router(
                {
                    name: h if isinstance(h, Service) else Dispatcher(spec, h)
                    for name, (spec, h) in resolved.items()
                }
            )
        else:
            if service is None or handler is None:
                raise ValueError("a server needs a service and a handler (or services)")
            self.spec = spec = resolve_service(service)
            self.handler = handler
            #: For logs: the service's name, or the multiplexed names joined by "+".
            self.name = spec.name
            # A Service handler (a proxy, a prebuilt stack) is used as the terminal as it is.
            terminal = handler if isinstance(handler, Service) else Dispatcher(spec, handler)
        if transport == HTTP_TRANSPORT:
            raise ValueError(HTTP_SERVER_HINT)
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
        self.ssl_context = check_context(ssl_context)
        if not (isinstance(handshake_timeout, (int, float)) and handshake_timeout > 0):
            raise ValueError(f"handshake_timeout must be positive, got {handshake_timeout!r}")
        self.handshake_timeout = float(handshake_timeout)
        self.limits = limits or DEFAULT_LIMITS
        #: The resolved protocol and transport: codec and per-connection framers.
        self.wire = wire_format(
            self.protocol,
            self.transport,
            self.limits,
            header_transforms=header_transforms,
            detect=detect,
        )
        #: What ``detect`` accepts (``None``: detection is off).
        self.detect: Detection | None = self.wire.detect
        self._codec = self.wire.codec
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
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
        # The parent's stop deadline is not known here: a lingering close in the child is
        # bounded by LINGER_TIME, and the parent SIGKILLs children left at its deadline.
        self._drain_deadline = math.inf
        self._conns = {conn}
        self._threads = set()
        self.calls_served = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)  # written from a signal handler: must never block

    # -- public surface ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound host address; on a unix socket, its path (``getsockname()``)."""
        return _host_of(self._address)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``).

        0 when serving on a unix socket (``sock=`` an ``AF_UNIX`` listener): it has no port.
        """
        return _port_of(self._address)

    @property
    def address(self) -> str:
        """Where it listens, for people: ``host:port``, ``[::1]:port`` or ``unix:/path``."""
        return format_address(self._address)

    @property
    def wire_description(self) -> str:
        """What it speaks, for logs: "protocol=binary, transport=framed", or with
        ``detect`` "detect=binary, compact over buffered, framed"."""
        if self.detect is not None:
            return f"detect={self.detect}"
        return f"protocol={self.protocol}, transport={self.transport}"

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
            "serving %s on %s (model=%s, %s)",
            self.name,
            format_address(self._address),
            self.model,
            self.wire_description,
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
                target=self.serve_forever, name=f"swordfish-server {self.address}", daemon=True
            )
        self._thread.start()
        self._started.wait()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, finish running calls (up to ``timeout`` s), close everything.

        Connections close with a lingering close (module docstring), which a peer can make
        last ``LINGER_QUIET`` (silent) to ``LINGER_TIME`` (still sending): never past
        ``timeout``. Idempotent and safe from any thread other than the one inside a handler
        call.
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
            log.info("stopping %s on %s", self.name, format_address(self._address))
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
            log.warning(
                "stop: calls still running (or peers still sending) after %.1f s; "
                "closing connections",
                timeout,
            )
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
            f"<Server {self.name} {format_address(self._address)} model={self.model} "
            f"{_wire_repr(self.protocol, self.transport, self.detect)}>"
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
        if self.ssl_context is not None:
            try:
                # No I/O yet: the handshake runs where the connection is served.
                sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError) as exc:
                log.warning("closing %s: TLS setup failed: %s", format_address(address), exc)
                sock.close()
                return None
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
            action = _KEEP
            if not conn.handshaken and not conn.handshake(step=False):
                return True  # failed or timed out (logged): only this connection is closed
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
                    action = conn.on_readable()
                    if action != _KEEP:
                        break
            if action != _CLOSE:
                conn.linger()  # stopping, idle, parent gone, or drained: all graceful
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
        back: queue.SimpleQueue[tuple[_Connection, int]] = queue.SimpleQueue()
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
        # Every connection not with a worker is in the selector, with itself as key data:
        # either idle (waiting for bytes) or lingering (closing; see _Connection.linger).
        idle: set[_Connection] = set()
        lingering: set[_Connection] = set()
        busy = 0  # connections handed to workers and not handed back yet
        draining = False

        def linger(conn: _Connection, registered: bool) -> None:
            if conn.begin_linger():
                if not registered:
                    sel.register(conn, selectors.EVENT_READ, conn)
                lingering.add(conn)
            else:
                if registered:
                    sel.unregister(conn)
                conn.close()

        try:
            sel.register(self._listener, selectors.EVENT_READ, "accept")
            sel.register(self._wake_r, selectors.EVENT_READ, "stop")
            sel.register(kick_r, selectors.EVENT_READ, "kick")
            while True:
                if not draining and self._stopping.is_set():
                    # Stop: accept no more; idle connections start their lingering close now
                    # (the peer sees EOF at once); busy ones when their worker hands them back.
                    draining = True
                    sel.unregister(self._listener)
                    sel.unregister(self._wake_r)  # readable from now on: it would spin
                    self._close_listener()
                    for conn in idle:
                        linger(conn, registered=True)
                    idle.clear()
                now = time.monotonic()
                for conn in [c for c in lingering if c.linger_expired(now)]:
                    lingering.discard(conn)
                    sel.unregister(conn)
                    conn.close()
                for conn in [c for c in idle if c.idle_expired(now)]:
                    log.debug("closing idle connection %s", conn.stream.peer)
                    idle.discard(conn)
                    linger(conn, registered=True)
                if draining and ((busy == 0 and not lingering) or now >= self._drain_deadline):
                    break
                ready = sel.select(self._pool_wait(idle, lingering, draining))
                for key, _ in ready:
                    if key.data == "kick":
                        _drain(kick_r)
                        while True:
                            try:
                                conn, action = back.get_nowait()
                            except queue.Empty:
                                break
                            busy -= 1
                            if action == _KEEP and not draining:
                                sel.register(conn, selectors.EVENT_READ, conn)
                                idle.add(conn)
                            elif action != _CLOSE:  # the worker closed those itself
                                linger(conn, registered=False)
                    elif key.data == "accept":
                        accepted = self._accept()
                        if accepted is not None:
                            sel.register(accepted, selectors.EVENT_READ, accepted)
                            idle.add(accepted)
                    elif isinstance(key.data, _Connection):
                        conn = key.data
                        if conn.lingering:
                            if not conn.on_linger_readable():  # EOF: the peer is done
                                lingering.discard(conn)
                                sel.unregister(conn)
                                conn.close()
                        elif conn in idle:
                            # One worker at a time per connection: it leaves the selector
                            # until the worker hands it back, so its calls run (and reply)
                            # in order.
                            sel.unregister(conn)
                            idle.discard(conn)
                            busy += 1
                            work.put(conn)
                    # "stop": handled at the top of the loop
        finally:
            # Normally empty by now; at the drain deadline (or if this loop failed) whatever
            # is left closes hard, and so do connections workers still hold (_finish).
            for conn in idle | lingering:
                conn.close()
            sel.close()
            self._close_listener()
            for _ in workers:
                work.put(None)
            kick_r.close()

    def _pool_wait(
        self, idle: set[_Connection], lingering: set[_Connection], draining: bool
    ) -> float | None:
        """How long the threadpool's selector may sleep: until the next timer is due."""
        due: list[float] = [d for c in idle if (d := c.idle_due()) is not None]
        if lingering:
            due.append(min(c.linger_due() for c in lingering))
        if draining:
            due.append(self._drain_deadline)
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def _pool_worker(
        self,
        work: queue.SimpleQueue[_Connection | None],
        back: queue.SimpleQueue[tuple[_Connection, int]],
        kick_w: socket.socket,
    ) -> None:
        try:
            while True:
                conn = work.get()
                if conn is None:
                    return
                action = _CLOSE
                try:
                    action = conn.on_readable()
                except Exception:
                    log.exception("connection %s failed", conn.stream.peer)
                if action == _CLOSE:
                    conn.close()
                # Always handed back, closed or not: the selector loop counts busy
                # connections, and waits for them when it drains.
                back.put((conn, action))
                try:
                    kick_w.send(b"k")
                except OSError:
                    conn.close()  # the selector loop is gone: past the drain deadline
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


def _wire_repr(protocol: str, transport: str, detect: Detection | None) -> str:
    if detect is not None:
        return f"detect=[{detect}]"
    return f"protocol={protocol} transport={transport}"


def _host_of(address: object) -> str:
    """``Server.host`` of a ``getsockname()`` result: the IP address, or a unix socket's path."""
    if isinstance(address, tuple):
        return str(address[0])
    if isinstance(address, bytes):  # Linux's abstract namespace: b"\0name"
        return os.fsdecode(address)
    return str(address)


def _port_of(address: object) -> int:
    """``Server.port`` of a ``getsockname()`` result: 0 for a unix socket, which has none."""
    if isinstance(address, tuple):
        return int(address[1])
    return 0


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
