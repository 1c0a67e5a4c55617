"""Blocking Thrift client: one TCP connection, one call at a time, driven by the sans-IO engine.

The driver only moves bytes: ``ClientConnection`` encodes calls, allocates seqids and checks
replies; ``SyncStream`` reads and writes with timeouts. The rules that keep it correct:

- The connection is opened lazily, on the first call (``connect_timeout`` bounds that). An
  idle connection the server has since closed (idle timeout, restart) is noticed before the
  next call is written, and replaced: that call is not lost.
- Each call has a deadline (``timeout`` seconds from the start of the call, ``None`` = wait
  forever) covering connect, write and the whole reply.
- On a timeout, transport error or protocol error the connection is *closed* before the error
  reaches the caller. A reply that arrives late can therefore never be mistaken for the answer
  to the next call; the next call simply reconnects.
- A ``TApplicationException`` or declared exception is an answer, not a failure of the
  connection, which stays open.
- Oneway calls return ``None`` once their bytes are written; nothing is read for them.

Thread safety: a ``Client`` may be shared between threads, but its calls are serialized by a
lock (one connection carries one call at a time). A call waiting for the lock counts that wait
against its own timeout. For parallel calls use one client per thread.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Self

from ..errors import (
    ConnectionClosedError,
    LocalProtocolError,
    ProtocolError,
    Rejected,
    TransportTimeout,
)
from ..framing import wire_format
from ..limits import DEFAULT_LIMITS, Limits
from ..model.service import MethodSpec
from ..protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    ConnState,
    ExceptionReply,
    Reply,
)
from ..rpc.filter import AnyFilter, Stack
from ..rpc.options import HTTP_TRANSPORT
from ..rpc.request import Context, Request, Response
from ..rpc.service import Service, ServiceStatus
from ..rpc.stub import IDLMethodAttributes, Stub
from ..tls import check_context
from ._common import PROTOCOLS, TRANSPORTS, check_choice, resolve_service
from .stream import READ_SIZE, SyncStream, connect_tcp, format_address

__all__ = ["Client", "ConnectionService"]


#: The error for ``transport="http"``: this client speaks raw Thrift over TCP.
HTTP_CLIENT_HINT = (
    "unknown transport 'http' for Client, which speaks raw Thrift over TCP: for Thrift over "
    "HTTP use swordfish.sync.http.HttpClient, or swordfish.make_client(..., transport='http')"
)

#: Added to "closed before replying" on a TLS connection that never got a reply: under TLS 1.3
#: a server checks the client certificate after the client's handshake is over, so a rejected
#: certificate first shows as the server hanging up.
TLS_CLOSE_HINT = (
    " (over TLS, before any reply: the server may have rejected this client's certificate)"
)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


class ConnectionService(Service[Request, Response]):
    """The client's terminal service: sends a request on its connection and reads the reply.

    It returns the result struct (``None`` for oneway) and raises ``TApplicationException``
    for an exception reply; ``Stub`` turns that into a Python value. ``request.headers`` go
    out with the call and the reply's headers land on ``request.context.reply_headers``
    (THeader protocols; others carry none).
    """

    role = "connection"
    description = "writes the call and reads its reply on one TCP connection"

    def __init__(
        self,
        service: object,
        host: str,
        port: int,
        *,
        protocol: str = "binary",
        transport: str = "buffered",
        connect_timeout: float | None = 5.0,
        limits: Limits | None = None,
        service_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.spec = resolve_service(service)
        #: Multiplexed: calls go out as ``"<service_name>:<method>"``; ``None``: plain names.
        self.service_name = service_name
        self.host = host
        self.port = port
        if transport == HTTP_TRANSPORT:
            raise ValueError(HTTP_CLIENT_HINT)
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.transport = check_choice("transport", transport, TRANSPORTS)
        self.connect_timeout = connect_timeout
        self.ssl_context = check_context(ssl_context, server_hostname)
        self.server_hostname = server_hostname
        self.limits = limits or DEFAULT_LIMITS
        self.wire = wire_format(
            self.protocol, self.transport, self.limits, header_transforms=header_transforms
        )
        self._codec = self.wire.codec
        self._lock = threading.Lock()
        self._stream: SyncStream | None = None
        self._conn: ClientConnection | None = None
        self._replied = False  # any reply on this connection yet (see TLS_CLOSE_HINT)
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._stream is not None

    @property
    def status(self) -> ServiceStatus:
        return ServiceStatus.CLOSED if self._closed else ServiceStatus.OPEN

    def __call__(self, request: Request) -> Response:
        deadline = request.context.deadline
        timeout = _remaining(deadline)
        acquired = self._lock.acquire() if timeout is None else self._lock.acquire(True, timeout)
        if not acquired:
            raise TransportTimeout(
                f"{request.name}: timed out waiting for the connection (in use by another thread)"
            )
        try:
            return self._call(request, deadline)
        finally:
            self._lock.release()

    def _connect(self, deadline: float | None) -> tuple[SyncStream, ClientConnection]:
        if self._stream is not None and self._conn is not None:
            if not self._stream.is_readable():
                return self._stream, self._conn
            # Readable while no call is in flight: the server closed it (idle timeout,
            # restart) or sent junk. Reconnect now rather than fail the call on a dead socket.
            self._drop()
        timeout = self.connect_timeout
        remaining = _remaining(deadline)
        if remaining is not None and (timeout is None or remaining < timeout):
            timeout = remaining
        self._replied = False
        stream = connect_tcp(self.host, self.port, timeout, self.ssl_context, self.server_hostname)
        framer = self.wire.new_framer()
        self._stream, self._conn = (
            stream,
            ClientConnection(self.spec, self._codec, framer, service_name=self.service_name),
        )
        return stream, self._conn

    def _call(self, request: Request, deadline: float | None) -> Response:
        if self._closed:
            raise Rejected(f"{request.name}: the client is closed")
        stream, conn = self._connect(deadline)
        try:
            seqid, data = conn.send_call(request.method, request.args, request.headers)
        except LocalProtocolError:
            # Encoding failed before anything was written: the stream is still in sync, so
            # keep it unless the engine itself gave up on it.
            if conn.state is not ConnState.OPEN:
                self._drop()
            raise
        request.context.seqid = seqid
        try:
            stream.write(data, _remaining(deadline))
            if request.method.oneway:
                return None
            event = self._read_reply(stream, conn, request.method, seqid, deadline)
            if event.headers is not None:
                request.context.reply_headers = event.headers
        except ConnectionClosedError as exc:
            self._drop()
            if stream.tls and not self._replied and TLS_CLOSE_HINT not in str(exc):
                raise ConnectionClosedError(f"{exc}{TLS_CLOSE_HINT}") from exc
            raise
        except BaseException:
            # Whatever went wrong (timeout, reset, bad bytes, KeyboardInterrupt), the reply to
            # this call may still be on its way: the connection can no longer be trusted.
            self._drop()
            raise
        if isinstance(event, ExceptionReply):
            raise event.error
        return event.result

    def _read_reply(
        self,
        stream: SyncStream,
        conn: ClientConnection,
        method: MethodSpec,
        seqid: int,
        deadline: float | None,
    ) -> Reply | ExceptionReply:
        eof = False
        while True:
            try:
                event = conn.next_event()
            except ProtocolError as exc:
                if eof:
                    # Truncated reply: to the caller this is the peer hanging up mid-answer.
                    raise ConnectionClosedError(
                        f"{method.name}: {stream.peer} closed the connection mid-reply ({exc})"
                    ) from exc
                raise
            if event is NEED_DATA:
                try:
                    data = stream.read(READ_SIZE, _remaining(deadline))
                except TransportTimeout as exc:
                    raise TransportTimeout(
                        f"{method.name}: no reply from {stream.peer} in time; "
                        "the connection was closed"
                    ) from exc
                eof = not data
                conn.receive_data(data)
            elif isinstance(event, (Reply, ExceptionReply)):
                self._replied = True
                if event.seqid == seqid:
                    return event
                # Only one call is in flight per connection, so the engine cannot hand us
                # another call's reply; if it ever does, do not guess.
                raise ProtocolError(f"{method.name}: got the reply to seqid {event.seqid}")
            elif isinstance(event, ConnectionClosed):
                hint = TLS_CLOSE_HINT if stream.tls and not self._replied else ""
                raise ConnectionClosedError(
                    f"{method.name}: {stream.peer} closed the connection before replying{hint}"
                )

    def _drop(self) -> None:
        stream, self._stream, self._conn = self._stream, None, None
        if stream is not None:
            stream.close()

    def close(self) -> None:
        """Close the connection; a call blocked on it in another thread fails promptly."""
        self._closed = True
        stream = self._stream
        if stream is not None:
            stream.shutdown()  # wakes a reader blocked in another thread
        with self._lock:
            self._drop()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "idle")
        return f"<ConnectionService {format_address((self.host, self.port))} {state}>"


class Client(IDLMethodAttributes):
    """A blocking client for one service: ``client.add(1, 2)``.

    IDL methods are reached as attributes (``client.add``) unless the name is one of the
    client's own attributes (``close``, ``timeout``, ``stub``, ...): ``client.stub.<name>``
    always reaches the IDL method, whatever its name.

    timeout: default per-call deadline in seconds (``None`` = wait forever); may be changed
        at any time by assigning ``client.timeout``.
    connect_timeout: bound on opening the TCP connection.
    filters: client-side filters (or a ``Stack``), outermost first, around the connection.
    service_name: call a multiplexed server's service of that name (calls are sent as
        ``"<service_name>:<method>"``, Apache's ``TMultiplexedProtocol``).
    ssl_context: connect over TLS (``swordfish.tls.client_context`` builds one; give it a
        client certificate for mutual TLS). The handshake is part of connecting, bounded by
        ``connect_timeout``; a rejected certificate is a ``TransportError``.
    server_hostname: the name the server's certificate must carry (default ``host``).
    headers: string headers sent with every call (``client.headers``, a dict you may change);
        ``swordfish.call_headers`` adds per-call ones and reads the reply's. Only the THeader
        protocols ("header", "header-compact") put headers on the wire.
    header_transforms: THeader payload transforms for the calls sent (``("zlib",)``); the
        server answers compressed calls compressed.

    Use as a context manager, or call ``close()``; a closed client refuses calls with
    ``Rejected``. See the module docstring for connection and threading rules.
    """

    def __init__(
        self,
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
        service_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        headers: Mapping[str, str] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.connection = ConnectionService(
            service,
            host,
            port,
            protocol=protocol,
            transport=transport,
            connect_timeout=connect_timeout,
            limits=limits,
            service_name=service_name,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            header_transforms=header_transforms,
        )
        self.service = self.connection.spec
        #: Headers sent with every call (mutable).
        self.headers: dict[str, str] = dict(headers or {})
        self.timeout = timeout
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        self.stub = Stub(
            self.service,
            self.stack.build(self.connection),
            make_context=self._make_context,
            headers=self.headers,
        )

    def _make_context(self, method: MethodSpec) -> Context:
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        return Context(deadline=deadline)

    @property
    def host(self) -> str:
        return self.connection.host

    @property
    def port(self) -> int:
        return self.connection.port

    @property
    def connected(self) -> bool:
        """Whether a TCP connection is open right now (it opens on the first call)."""
        return self.connection.connected

    def close(self) -> None:
        """Close the connection and refuse later calls. Idempotent."""
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.service.name} {self.connection!r}>"
