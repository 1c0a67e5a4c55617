"""asyncio Thrift clients: a pipelined ``AsyncClient`` and a connection pool.

``AsyncClient`` carries any number of concurrent calls on one connection. The sans-IO
``ClientConnection`` allocates seqids and checks every reply; this driver keeps one future per
seqid and resolves it when the reply arrives, in whatever order the server answers. The rules:

- Calls made in the same loop iteration leave in one write (``EngineProtocol`` coalesces).
- Each call has a deadline: ``timeout`` seconds from its start (``TransportTimeout``) or an
  absolute ``deadline`` in ``time.monotonic()`` time (``DeadlineExceeded``). On expiry, or when
  the awaiting task is cancelled, the engine *forgets* the seqid: the late reply is read and
  dropped, and the connection stays in sync and open for the other calls.
- A reply whose seqid matches no call, or whose method name is wrong, is a protocol error
  (``SeqIdMismatch``): nothing later on the stream can be trusted, so every pending call fails
  with it and the connection is closed. The server closing the connection fails every pending
  call with ``ConnectionClosedError``. Either way the next call opens a new connection.
- At most ``max_in_flight`` calls are on the wire at once; up to ``max_waiters`` more wait
  (within their own deadline) for a slot; beyond that a call fails at once with ``Rejected``.
  Nothing queues without bound.
- ``TApplicationException`` and declared exceptions are answers: the connection stays open.

``AsyncClientPool`` is for servers that answer in order (or that should see one call per
connection at a time): each call checks a connection out of the pool, runs alone on it, and
returns it. The pool keeps between ``min_size`` and ``max_size`` connections, bounds the calls
waiting for one (``max_waiters`` -> ``Rejected``), closes connections idle longer than
``idle_timeout`` or older than ``max_lifetime``, and checks a connection before lending it
(closed by the server? optional ``health_check`` call). A connection whose call failed at the
transport or protocol level, timed out or was cancelled is closed, never reused.

Both take ``filters=``: ``AsyncFilter``s (or a ``Stack`` of them), outermost first, around the
call. The stub then builds a ``Request`` (its ``context.deadline`` is the call's deadline in
``time.monotonic()`` time) and awaits the chain, whose terminal sends ``request.args`` and
returns the result struct. Without filters the stub calls the connection directly: no
``Request``, no extra coroutine.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self

from ..errors import (
    ConnectionClosedError,
    DeadlineExceeded,
    ProtocolError,
    Rejected,
    SwordfishError,
    TransportError,
    TransportTimeout,
)
from ..framing import wire_format
from ..limits import DEFAULT_LIMITS, Limits
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from ..protocol import NEED_DATA, ClientConnection, ConnectionClosed, ConnState, ExceptionReply
from ..rpc.context import SCOPE_VAR, outgoing_headers, record_reply_headers
from ..rpc.filter import AnyAsyncFilter, Stack
from ..rpc.options import (
    HTTP_TRANSPORT,
    PROTOCOLS,
    TRANSPORTS,
    check_choice,
    check_positive_int,
    check_timeout,
    resolve_service,
)
from ..rpc.request import Context, Request, Response
from ..rpc.service import AsyncService
from ..rpc.stub import IDLMethodAttributes, MethodTable, unwrap
from ..tls import check_context
from .stream import EngineProtocol, format_address, open_connection

__all__ = ["AsyncClient", "AsyncClientPool", "AsyncStub"]

_UNSET: Any = object()

Invoke = Callable[[MethodSpec, Struct], Awaitable[Any]]
_TimeoutKind = type[TransportTimeout] | type[DeadlineExceeded]
#: ``Context.attributes`` key: which error the terminal raises at the deadline (a deadline
#: derived from ``timeout`` is a ``TransportTimeout``, an absolute one ``DeadlineExceeded``).
TIMEOUT_ERROR_KEY = "swordfish.timeout_error"


class AsyncStub(MethodTable):
    """Attribute access yields remote methods whose calls are awaited: ``await stub.add(1, 2)``.

    The same ``StubMethod`` as the sync stub (argument checks, signature, docs); only the
    invoke function differs, and it returns a coroutine.
    """

    __slots__ = ()


#: The error for ``transport="http"``: this client speaks raw Thrift over TCP.
HTTP_CLIENT_HINT = (
    "unknown transport 'http' for AsyncClient, which speaks raw Thrift over TCP: for Thrift "
    "over HTTP use swordfish.aio.http.AsyncHttpClient, or "
    "swordfish.make_aio_client(..., transport='http')"
)

#: Added to "closed before replying" on a TLS connection that never got a reply: under TLS 1.3
#: a server checks the client certificate after the client's handshake is over, so a rejected
#: certificate first shows as the server hanging up.
TLS_CLOSE_HINT = (
    " (over TLS, before any reply: the server may have rejected this client's certificate)"
)


class _ClientProtocol(EngineProtocol):
    """One client connection: futures keyed by seqid, resolved as replies arrive."""

    def __init__(self, engine: ClientConnection) -> None:
        super().__init__()
        self.engine = engine
        self.waiters: dict[int, asyncio.Future[Any]] = {}
        self.error: SwordfishError | None = None
        self.created = time.monotonic()
        self.last_used = self.created
        self.replied = False  # any reply yet (see TLS_CLOSE_HINT)

    @property
    def usable(self) -> bool:
        """Open, in sync, and not closed by the peer: a new call may be sent on it."""
        return not self.closed and self.error is None and self.engine.state is ConnState.OPEN

    def data_received(self, data: bytes) -> None:
        self.engine.receive_data(data)
        self._dispatch()

    def eof_received(self) -> bool:
        self.engine.receive_data(b"")
        self._dispatch()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        why = f" ({exc})" if exc is not None else ""
        if not self.replied and self.transport is not None:
            why += TLS_CLOSE_HINT if self.transport.get_extra_info("ssl_object") else ""
        self._fail_all(ConnectionClosedError(f"{self.peer} closed the connection{why}"))

    def _dispatch(self) -> None:
        engine = self.engine
        waiters = self.waiters
        while True:
            try:
                event = engine.next_event()
            except ProtocolError as exc:
                # Bad bytes or a reply we never asked for: the stream is out of sync.
                self._fail_all(exc)
                self.abort()
                return
            if event is NEED_DATA:
                return
            if isinstance(event, ConnectionClosed):
                hint = ""
                transport = self.transport
                if not self.replied and transport is not None:
                    hint = TLS_CLOSE_HINT if transport.get_extra_info("ssl_object") else ""
                self._fail_all(
                    ConnectionClosedError(
                        f"{self.peer} closed the connection before replying{hint}"
                    )
                )
                return
            self.replied = True
            future = waiters.pop(event.seqid, None)  # type: ignore[union-attr]
            if future is not None and not future.done():
                future.set_result(event)

    def _fail_all(self, error: SwordfishError) -> None:
        if self.error is None:
            self.error = error
        waiters, self.waiters = self.waiters, {}
        for future in waiters.values():
            if not future.done():
                future.set_exception(error)

    async def call(
        self,
        method: MethodSpec,
        args: Struct,
        deadline: float | None,
        timeout_error: type[TransportTimeout] | type[DeadlineExceeded] = TransportTimeout,
        headers: Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> Response:
        """Send one call and wait for its reply (the result struct; ``None`` for oneway).

        headers: the call's headers (THeader); context: where the reply's headers go
        (``context.reply_headers``), when the caller wants them.
        """
        if self.error is not None:
            raise self.error
        engine = self.engine
        seqid, data = engine.send_call(method, args, headers)
        self.last_used = time.monotonic()
        self.write(data)
        if method.oneway:
            await self.drain()  # returns at once unless the peer is not reading
            return None
        loop = self.loop
        future: asyncio.Future[Any] = loop.create_future()
        self.waiters[seqid] = future
        timer = None
        if deadline is not None:
            timer = loop.call_later(
                deadline - time.monotonic(), self._expire, seqid, future, method, timeout_error
            )
        try:
            event = await future
        except asyncio.CancelledError:
            # The caller gave up: drop the late reply when it comes; the stream stays usable.
            if self.waiters.pop(seqid, None) is not None:
                engine.forget(seqid)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        self.last_used = time.monotonic()
        if context is not None and event.headers is not None:
            context.reply_headers = event.headers
        if type(event) is ExceptionReply:
            raise event.error
        return event.result  # type: ignore[no-any-return]

    def _expire(
        self,
        seqid: int,
        future: asyncio.Future[Any],
        method: MethodSpec,
        timeout_error: type[TransportTimeout] | type[DeadlineExceeded],
    ) -> None:
        if future.done() or self.waiters.pop(seqid, None) is None:
            return
        self.engine.forget(seqid)
        what = "deadline passed" if timeout_error is DeadlineExceeded else "timed out"
        future.set_exception(
            timeout_error(f"{method.name}: no reply from {self.peer} ({what}); still connected")
        )


class _Endpoint:
    """What a client needs to open connections: address, codec, framing, limits."""

    def __init__(
        self,
        service: object,
        host: str,
        port: int,
        protocol: str,
        transport: str,
        limits: Limits | None,
        connect_timeout: float | None,
        service_name: str | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.spec = resolve_service(service)
        self.ssl_context = check_context(ssl_context, server_hostname)
        self.server_hostname = server_hostname
        self.host = host
        self.port = port
        if transport == HTTP_TRANSPORT:
            raise ValueError(HTTP_CLIENT_HINT)
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.transport = check_choice("transport", transport, TRANSPORTS)
        self.limits = limits or DEFAULT_LIMITS
        self.connect_timeout = check_timeout("connect_timeout", connect_timeout)
        self.service_name = service_name
        self.wire = wire_format(
            self.protocol, self.transport, self.limits, header_transforms=header_transforms
        )
        self.codec = self.wire.codec

    def _factory(self) -> _ClientProtocol:
        framer = self.wire.new_framer()
        engine = ClientConnection(self.spec, self.codec, framer, service_name=self.service_name)
        return _ClientProtocol(engine)

    async def connect(self, deadline: float | None) -> _ClientProtocol:
        timeout = self.connect_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            timeout = remaining if timeout is None else min(timeout, remaining)
        return await open_connection(
            self._factory, self.host, self.port, timeout, self.ssl_context, self.server_hostname
        )

    @property
    def address(self) -> str:
        return format_address((self.host, self.port))


def _deadline(
    default_timeout: float | None, timeout: Any, deadline: float | None
) -> tuple[float | None, type[TransportTimeout] | type[DeadlineExceeded]]:
    """(absolute deadline, error to raise at it) from a call's timeout and deadline options."""
    if timeout is _UNSET:
        timeout = default_timeout
    by_timeout = None if timeout is None else time.monotonic() + timeout
    if deadline is not None and (by_timeout is None or deadline <= by_timeout):
        return deadline, DeadlineExceeded
    return by_timeout, TransportTimeout


class _CallFn(Protocol):
    """A client's ``_call``: one call on a connection, with optional headers."""

    def __call__(
        self,
        method: MethodSpec,
        args: Struct,
        deadline: float | None,
        error: _TimeoutKind,
        headers: Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> Awaitable[Response]: ...


class _Terminal(AsyncService[Request, Response]):
    """The innermost service of a client's filter chain: send the call, await its reply.

    It sends what the chain hands it: ``request.method``, ``request.args``,
    ``request.headers`` and ``request.context.deadline`` (a filter may have changed any of
    them); the reply's headers land on ``request.context.reply_headers``.
    """

    role = "connection"
    description = "sends the call on a connection and awaits its result struct"

    def __init__(self, call: _CallFn) -> None:
        self._call = call

    def __call__(self, request: Request) -> Awaitable[Response]:
        context = request.context
        error = context.attributes.get(TIMEOUT_ERROR_KEY, DeadlineExceeded)
        return self._call(
            request.method, request.args, context.deadline, error, request.headers, context
        )

    def __repr__(self) -> str:
        return "<aio client connection>"


class _Filters:
    """``filters=`` for the client and the pool: the stack and the chain built around ``_call``."""

    stack: Stack
    timeout: float | None
    _chain: AsyncService[Request, Response] | None

    headers: dict[str, str]
    #: What the client and the pool set themselves (see ``IDLMethodAttributes``).
    _sf_own: tuple[str, ...] = ("stub", "service", "endpoint", "headers")

    def _set_filters(self, filters: Iterable[AnyAsyncFilter] | Stack, call: _CallFn) -> None:
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        # None when empty: the stub then skips Request building altogether (the hot path).
        self._chain = self.stack.build_async(_Terminal(call)) if self.stack else None

    async def _invoke_filtered(
        self,
        method: MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Any:
        assert self._chain is not None
        at, error = _deadline(self.timeout, timeout, deadline)
        context = Context(deadline=at, attributes={TIMEOUT_ERROR_KEY: error})
        headers = outgoing_headers(self.headers)
        if headers is None:
            return unwrap(method, await self._chain(Request(method, args, {}, context)))
        try:
            return unwrap(method, await self._chain(Request(method, args, headers, context)))
        finally:
            record_reply_headers(context.reply_headers)

    async def _invoke_plain(
        self,
        method: MethodSpec,
        args: Struct,
        at: float | None,
        error: _TimeoutKind,
    ) -> Any:
        """A call without filters that carries headers (the header-less one skips this)."""
        call: _CallFn = self._call  # type: ignore[attr-defined]
        headers = outgoing_headers(self.headers)
        context = Context()
        try:
            return unwrap(method, await call(method, args, at, error, headers, context))
        finally:
            record_reply_headers(context.reply_headers)


class AsyncClient(_Filters, IDLMethodAttributes):
    """A pipelined asyncio client for one service: ``await client.add(1, 2)``.

    IDL methods are reached as attributes unless the name is one of the client's own
    (``close``, ``call``, ``stub``, ...); ``client.stub.<name>`` always reaches the IDL method.
    ``client.with_options(timeout=..., deadline=...)`` gives a stub whose calls use those.

    timeout: default per-call timeout in seconds (``None`` = wait forever); assignable. On
        expiry the call raises ``TransportTimeout`` and the connection stays open (the late
        reply is dropped).
    connect_timeout: bound on opening the connection.
    max_in_flight: calls on the wire at once; max_waiters: calls allowed to wait for a slot;
        beyond both, ``Rejected``.
    service_name: send calls as ``"<service_name>:<method>"`` (a multiplexed server).
    filters: ``AsyncFilter``s (or a ``Stack`` of them), outermost first, around every call.
    ssl_context: connect over TLS (``swordfish.tls.client_context``; with a client
        certificate for mutual TLS); the handshake counts against ``connect_timeout``.
    server_hostname: the name the server certificate must carry (default ``host``).
    headers: string headers sent with every call (``client.headers``, a dict you may change);
        ``swordfish.call_headers`` adds per-call ones and reads the reply's; filters see
        ``request.headers`` and, after the call, ``request.context.reply_headers``. Only the
        THeader protocols ("header", "header-compact") put headers on the wire.
    header_transforms: THeader payload transforms for the calls sent (``("zlib",)``).

    The connection opens on ``connect()`` (``make_aio_client`` calls it) or on the first call,
    and is reopened by the next call after it failed or the server closed it.
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
        max_in_flight: int = 1024,
        max_waiters: int = 1024,
        service_name: str | None = None,
        filters: Iterable[AnyAsyncFilter] | Stack = (),
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        headers: Mapping[str, str] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.endpoint = _Endpoint(
            service,
            host,
            port,
            protocol,
            transport,
            limits,
            connect_timeout,
            service_name,
            ssl_context,
            server_hostname,
            header_transforms,
        )
        #: Headers sent with every call (mutable).
        self.headers: dict[str, str] = dict(headers or {})
        self.service = self.endpoint.spec
        self.timeout = check_timeout("timeout", timeout)
        self._set_filters(filters, self._call)
        self.max_in_flight = check_positive_int("max_in_flight", max_in_flight)
        if type(max_waiters) is not int or max_waiters < 0:
            raise ValueError(f"max_waiters must be an int >= 0, got {max_waiters!r}")
        self.max_waiters = max_waiters
        self._proto: _ClientProtocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._active = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        self.stub = AsyncStub(
            self.service, self._invoke if self._chain is None else self._invoke_filtered
        )

    # -- public surface ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a usable connection is open right now."""
        return self._proto is not None and self._proto.usable

    @property
    def in_flight(self) -> int:
        """Calls sent (or being sent) whose replies have not arrived."""
        return self._active

    @property
    def closed(self) -> bool:
        return self._closed

    async def connect(self) -> Self:
        """Open the connection now (otherwise the first call does)."""
        await self._connection(None)
        return self

    def with_options(
        self, *, timeout: float | None = _UNSET, deadline: float | None = None
    ) -> AsyncStub:
        """A stub whose calls use this ``timeout`` (seconds) and/or absolute ``deadline``."""
        run = self._invoke if self._chain is None else self._invoke_filtered

        async def invoke(method: MethodSpec, args: Struct) -> Any:
            return await run(method, args, timeout=timeout, deadline=deadline)

        return AsyncStub(self.service, invoke)

    async def call(
        self,
        method: str | MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Response:
        """Send ``args`` (the method's args struct) and return the reply's result struct.

        Goes through the client's filters, like stub calls.
        """
        spec = method if isinstance(method, MethodSpec) else self._method(method)
        at, error = _deadline(self.timeout, timeout, deadline)
        headers = outgoing_headers(self.headers)
        context = Context(deadline=at, attributes={TIMEOUT_ERROR_KEY: error})
        try:
            if self._chain is not None:
                return await self._chain(Request(spec, args, headers or {}, context))
            return await self._call(spec, args, at, error, headers, context)
        finally:
            if headers is not None:
                record_reply_headers(context.reply_headers)

    async def close(self) -> None:
        """Close the connection; pending calls fail with ``ConnectionClosedError``."""
        self._closed = True
        for waiter in self._slot_waiters:
            if not waiter.done():
                waiter.set_exception(Rejected("the client was closed"))
        self._slot_waiters.clear()
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.close()
            await proto.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "idle")
        return f"<AsyncClient {self.service.name} {self.endpoint.address} {state}>"

    # -- internals -----------------------------------------------------------------------------

    def _method(self, name: str) -> MethodSpec:
        spec = self.service.methods.get(name)
        if spec is None:
            raise AttributeError(f"service {self.service.name} has no method {name!r}")
        return spec

    async def _invoke(
        self,
        method: MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Any:
        at, error = _deadline(self.timeout, timeout, deadline)
        if self.headers or SCOPE_VAR.get() is not None:
            return await self._invoke_plain(method, args, at, error)
        return unwrap(method, await self._call(method, args, at, error))

    async def _call(
        self,
        method: MethodSpec,
        args: Struct,
        deadline: float | None,
        error: type[TransportTimeout] | type[DeadlineExceeded],
        headers: Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> Response:
        if self._closed:
            raise Rejected(f"{method.name}: the client is closed")
        if self._active < self.max_in_flight and not self._slot_waiters:
            self._active += 1
        else:
            await self._wait_for_slot(method, deadline, error)
        try:
            proto = self._proto
            if proto is None or not proto.usable:
                proto = await self._connection(deadline)
            return await proto.call(method, args, deadline, error, headers, context)
        finally:
            self._release_slot()

    async def _wait_for_slot(
        self,
        method: MethodSpec,
        deadline: float | None,
        error: type[TransportTimeout] | type[DeadlineExceeded],
    ) -> None:
        if len(self._slot_waiters) >= self.max_waiters:
            raise Rejected(
                f"{method.name}: {self._active} calls in flight and {len(self._slot_waiters)} "
                f"waiting on {self.endpoint.address} (max_in_flight={self.max_in_flight}, "
                f"max_waiters={self.max_waiters})"
            )
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release_slot()  # we were handed a slot just as we gave up: pass it on
            else:
                try:
                    self._slot_waiters.remove(waiter)
                except ValueError:
                    pass  # already woken
            if isinstance(exc, TimeoutError):
                raise error(
                    f"{method.name}: timed out waiting for one of {self.max_in_flight} "
                    f"call slots on {self.endpoint.address}"
                ) from None
            raise

    def _release_slot(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next caller
                return
        self._active -= 1

    async def _connection(self, deadline: float | None) -> _ClientProtocol:
        if self._closed:
            raise Rejected("the client is closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            proto = self._proto
            if proto is not None and proto.usable:
                return proto
            if proto is not None:
                proto.abort()
            self._proto = None
            proto = await self.endpoint.connect(deadline)
            if self._closed:
                proto.abort()
                raise Rejected("the client was closed while connecting")
            self._proto = proto
            return proto


class AsyncClientPool(_Filters, IDLMethodAttributes):
    """A pool of connections, one call per connection at a time: ``await pool.add(1, 2)``.

    min_size / max_size: connections kept open at least / opened at most.
    max_waiters: calls allowed to wait for a connection when all are busy (then ``Rejected``).
    idle_timeout: close a connection unused this long (down to ``min_size``); ``None`` = never.
    max_lifetime: close a connection this old when it is next returned; ``None`` = never.
    health_check: ``async fn(stub)`` run on a connection before lending it when it sat idle
        at least ``health_check_interval`` seconds; raising (or timing out) discards it.
    timeout: default per-call timeout (including the wait for a connection).
    filters: ``AsyncFilter``s (or a ``Stack`` of them), outermost first, around every call
        (outside the wait for a connection: a retry filter gets a fresh one each try).
    ssl_context / server_hostname: TLS, as for ``AsyncClient``.
    headers / header_transforms: THeader headers and transforms, as for ``AsyncClient``.
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
        min_size: int = 0,
        max_size: int = 10,
        max_waiters: int = 1024,
        idle_timeout: float | None = 60.0,
        max_lifetime: float | None = None,
        health_check: Callable[[AsyncStub], Awaitable[object]] | None = None,
        health_check_interval: float = 0.0,
        service_name: str | None = None,
        filters: Iterable[AnyAsyncFilter] | Stack = (),
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        headers: Mapping[str, str] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.endpoint = _Endpoint(
            service,
            host,
            port,
            protocol,
            transport,
            limits,
            connect_timeout,
            service_name,
            ssl_context,
            server_hostname,
            header_transforms,
        )
        #: Headers sent with every call (mutable).
        self.headers: dict[str, str] = dict(headers or {})
        self.service = self.endpoint.spec
        self.timeout = check_timeout("timeout", timeout)
        self._set_filters(filters, self._call)
        self.max_size = check_positive_int("max_size", max_size)
        if type(min_size) is not int or not 0 <= min_size <= max_size:
            raise ValueError(f"min_size must be an int in [0, max_size], got {min_size!r}")
        self.min_size = min_size
        if type(max_waiters) is not int or max_waiters < 0:
            raise ValueError(f"max_waiters must be an int >= 0, got {max_waiters!r}")
        self.max_waiters = max_waiters
        self.idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self.max_lifetime = check_timeout("max_lifetime", max_lifetime)
        self.health_check = health_check
        self.health_check_interval = health_check_interval
        self._idle: collections.deque[_ClientProtocol] = collections.deque()
        self._size = 0  # idle + lent + being opened
        self._waiters: collections.deque[asyncio.Future[_ClientProtocol | None]] = (
            collections.deque()
        )
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None
        self.stub = AsyncStub(
            self.service, self._invoke if self._chain is None else self._invoke_filtered
        )

    # -- public surface ----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Connections open (or opening) now."""
        return self._size

    @property
    def idle(self) -> int:
        """Connections open and not lent out."""
        return len(self._idle)

    async def start(self) -> Self:
        """Open ``min_size`` connections and start closing idle/old ones in the background."""
        opened = []
        for _ in range(self.min_size - self._size):
            self._size += 1
            try:
                opened.append(await self.endpoint.connect(None))
            except BaseException:
                self._size -= 1
                for proto in opened:
                    self._discard(proto)
                raise
        self._idle.extend(opened)
        if self._reaper is None and (self.idle_timeout or self.max_lifetime):
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        return self

    def with_options(
        self, *, timeout: float | None = _UNSET, deadline: float | None = None
    ) -> AsyncStub:
        """A stub whose calls use this ``timeout`` (seconds) and/or absolute ``deadline``."""
        run = self._invoke if self._chain is None else self._invoke_filtered

        async def invoke(method: MethodSpec, args: Struct) -> Any:
            return await run(method, args, timeout=timeout, deadline=deadline)

        return AsyncStub(self.service, invoke)

    async def close(self) -> None:
        """Close every idle connection and refuse new calls; lent ones close when returned."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(Rejected("the pool was closed"))
        self._waiters.clear()
        idle, self._idle = list(self._idle), collections.deque()
        for proto in idle:
            self._discard(proto)
        for proto in idle:
            await proto.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"<AsyncClientPool {self.service.name} {self.endpoint.address} "
            f"size={self._size} idle={len(self._idle)}>"
        )

    # -- lending -------------------------------------------------------------------------------

    async def _invoke(
        self,
        method: MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Any:
        at, error = _deadline(self.timeout, timeout, deadline)
        if self.headers or SCOPE_VAR.get() is not None:
            return await self._invoke_plain(method, args, at, error)
        return unwrap(method, await self._call(method, args, at, error))

    async def _call(
        self,
        method: MethodSpec,
        args: Struct,
        deadline: float | None,
        error: _TimeoutKind,
        headers: Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> Response:
        """One call on a connection lent for its duration (the terminal of the filter chain)."""
        proto = await self._acquire(method, deadline, error)
        try:
            response = await proto.call(method, args, deadline, error, headers, context)
        except BaseException as exc:
            # An answer (application or declared exception) leaves the connection in sync;
            # anything else (timeout, cancel, transport, protocol) may not: close it.
            reusable = not isinstance(
                exc, (TransportError, ProtocolError, TimeoutError, asyncio.CancelledError)
            )
            self._release(proto, reusable)
            raise
        self._release(proto, True)
        return response

    def _expired(self, proto: _ClientProtocol, now: float) -> bool:
        if not proto.usable:
            return True
        if self.max_lifetime is not None and now - proto.created >= self.max_lifetime:
            return True
        return self.idle_timeout is not None and now - proto.last_used >= self.idle_timeout

    async def _acquire(
        self,
        method: MethodSpec,
        deadline: float | None,
        error: type[TransportTimeout] | type[DeadlineExceeded],
    ) -> _ClientProtocol:
        while True:
            if self._closed:
                raise Rejected(f"{method.name}: the pool is closed")
            while self._idle:
                proto = self._idle.pop()  # most recently used: warmest, least likely expired
                if self._expired(proto, time.monotonic()):
                    self._discard(proto)
                    continue
                if await self._healthy(proto, deadline):
                    return proto
                self._discard(proto)
            if self._size < self.max_size:
                self._size += 1
                try:
                    return await self.endpoint.connect(deadline)
                except BaseException:
                    self._size -= 1
                    self._wake_one(None)
                    raise
            proto_or_none = await self._wait(method, deadline, error)
            if proto_or_none is not None:
                return proto_or_none
            # Woken with a free slot (a connection was discarded): loop to open one.

    async def _wait(
        self,
        method: MethodSpec,
        deadline: float | None,
        error: type[TransportTimeout] | type[DeadlineExceeded],
    ) -> _ClientProtocol | None:
        if len(self._waiters) >= self.max_waiters:
            raise Rejected(
                f"{method.name}: all {self.max_size} connections to {self.endpoint.address} "
                f"are busy and {len(self._waiters)} calls are waiting (max_waiters)"
            )
        waiter: asyncio.Future[_ClientProtocol | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if deadline is None:
                return await waiter
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # given to us just as we gave up: pass it on
                if handed is not None:
                    self._release(handed, True)
                else:
                    self._wake_one(None)
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            if isinstance(exc, TimeoutError):
                raise error(
                    f"{method.name}: no connection to {self.endpoint.address} became free in time"
                ) from None
            raise

    async def _healthy(self, proto: _ClientProtocol, deadline: float | None) -> bool:
        check = self.health_check
        if check is None or time.monotonic() - proto.last_used < self.health_check_interval:
            return True
        single = _SingleConnection(proto, self.service, deadline)
        try:
            await check(single.stub)
        except Exception:
            return False
        return proto.usable

    def _release(self, proto: _ClientProtocol, reusable: bool) -> None:
        now = time.monotonic()
        if self._closed or not reusable or self._expired(proto, now) or proto.waiters:
            self._discard(proto)
            self._wake_one(None)  # a slot freed: a waiter may open a new connection
            return
        proto.last_used = now
        if self._wake_one(proto):
            return
        self._idle.append(proto)

    def _wake_one(self, proto: _ClientProtocol | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(proto)
                return True
        return False

    def _discard(self, proto: _ClientProtocol) -> None:
        self._size -= 1
        if proto.error is not None:
            proto.abort()
        else:
            proto.close()

    async def _reap_forever(self) -> None:
        periods = [t for t in (self.idle_timeout, self.max_lifetime) if t is not None]
        period = max(0.05, min(periods) / 4)
        while not self._closed:
            await asyncio.sleep(period)
            now = time.monotonic()
            keep: collections.deque[_ClientProtocol] = collections.deque()
            for proto in self._idle:
                if self._expired(proto, now) and (not proto.usable or self._size > self.min_size):
                    self._discard(proto)
                else:
                    keep.append(proto)
            self._idle = keep
            if self._size < self.min_size and not self._closed:
                try:
                    await self.start()
                except SwordfishError:
                    pass  # the server is down; the next call reports it


class _SingleConnection:
    """A stub bound to one pool connection (for the pool's health check)."""

    def __init__(
        self, proto: _ClientProtocol, service: ServiceSpec, deadline: float | None
    ) -> None:
        self.proto = proto
        self.deadline = deadline
        self.stub = AsyncStub(service, self._invoke)

    async def _invoke(self, method: MethodSpec, args: Struct) -> Any:
        return unwrap(method, await self.proto.call(method, args, self.deadline))
