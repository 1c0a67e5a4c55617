"""The asyncio Thrift server: one event loop, many connections, many calls per connection.

Per connection, ``_ServerProtocol`` feeds received bytes into the sans-IO ``ServerConnection``
and turns each ``Call`` into a ``Request`` for the handler (through ``Dispatcher``'s mapping
rules, shared with the sync server). Calls on one connection run *concurrently*: a slow call
does not hold up the ones behind it, so replies may leave out of order, each carrying its
call's seqid (Thrift clients that pipeline match replies by seqid; a client that sends one
call at a time sees no difference).

How a handler method runs:

- ``async def`` methods are awaited on the loop. They are started *eagerly*: the coroutine is
  stepped once inside ``data_received``, and only if it actually suspends is it wrapped in a
  task (the idea of Python 3.12's eager tasks). A handler that answers without waiting costs
  no task, no extra loop iteration.
- plain methods run in a bounded ``ThreadPoolExecutor`` (``handler_threads``), so a blocking
  handler cannot stall the loop; ``sync_handlers="inline"`` runs them on the loop instead (for
  handlers known to be quick and non-blocking: it is much cheaper than a thread hop).

Backpressure: at most ``max_in_flight_per_connection`` calls run per connection and
``max_in_flight`` per server. When either is full the connection stops taking calls out of
its buffer and stops reading the socket (``pause_reading``): the kernel's buffers fill and
the client's writes slow down, instead of this process buffering without bound. A peer that
does not read our replies pauses reading the same way (``pause_writing``).

Timeouts: ``idle_timeout`` closes a connection with no call in flight that has not completed
a message for that long (a connection in active use is never cut; a peer that stops reading
our replies is cut after the same time). ``call_timeout`` bounds one handler call: the client
gets ``TApplicationException(INTERNAL_ERROR)`` and an async handler is cancelled (a thread
cannot be; its late result is dropped).

Filters (``filters=``: ``AsyncFilter``s or a ``Stack`` of them, outermost first): without
any, calls take the path above untouched. With some, each call becomes a ``Request`` that runs
through the chain, ending in ``_AsyncDispatch`` (the same method table and ``Dispatcher``
mapping: async methods awaited, plain ones in the thread pool or inline). The chain is stepped
eagerly too, inside a ``contextvars`` context of its own that the task finishing it (if any)
reuses, so ``current_request()`` and any context variable a filter sets hold throughout the
call. A filter that raises is answered with ``TApplicationException(INTERNAL_ERROR)`` (its
own ``TApplicationException`` as-is), and the connection keeps serving.

Shutdown (``stop``): stop accepting; idle connections close at once; calls already received
(including complete calls still in a connection's buffer) run and are answered, then their
connections close. Bytes that arrive once the drain has begun are not read, so calls in them
do not run (the client sees EOF where their replies would be). After ``timeout`` seconds
whatever is left is aborted. A connection that sends malformed or oversized bytes is closed
on its own; the others are not affected.

Closing a connection: when the server closes one with nothing wrong (the drain, an idle
timeout), the peer may have sent bytes we never read, and closing a socket with unread input
makes the kernel answer with a RST: the client sees ``ECONNRESET`` instead of EOF, and replies
still in flight are dropped, replies to calls that did run. So those closes *linger*
(``EngineProtocol.linger``): every reply is flushed, FIN follows it (``write_eof``), then
input is read and dropped until the peer closes, or has been quiet for ``LINGER_QUIET`` with
all we wrote acknowledged, or ``LINGER_TIME`` has passed since our last reply left; ``stop``
aborts whatever still lingers at its deadline. The client reads every reply, then EOF, and
each call it sent that was not run fails with ``ConnectionClosedError``, never silently.
Malformed input, a peer that stops reading our replies, and the stop deadline still abort.

Detection (``detect=``): each connection's protocol and transport are recognised from its
first bytes (``swordfish.framing.detect``) and answered in kind, so one port serves callers
of several formats; only the framer differs, everything above applies unchanged. First bytes
that match no accepted format are malformed input (the connection is aborted, logged at
WARNING); a peer that sends too little to decide is closed by ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import operator
import os
import socket
import ssl
import types
from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

from ..errors import ProtocolError, TransportError
from ..framing import Detection, wire_format
from ..limits import DEFAULT_LIMITS, Limits
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import ServiceSpec
from ..protocol import NEED_DATA, Call, CallRejected, ConnectionClosed, ServerConnection
from ..rpc.context import REQUEST_VAR
from ..rpc.dispatch import Dispatcher, Router, resolve_services
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
from ..rpc.service import AsyncService, Service
from ..tls import check_context
from .stream import PAUSE_LIMIT, PAUSE_STOPPING, EngineProtocol, format_address

__all__ = ["AsyncServer", "LINGER_QUIET", "LINGER_TIME", "SYNC_HANDLER_MODES"]

log = logging.getLogger("swordfish.aio.server")

#: The error for ``transport="http"``: this server speaks raw Thrift over TCP.
HTTP_SERVER_HINT = (
    "unknown transport 'http' for AsyncServer, which serves raw Thrift over TCP: serve "
    "Thrift over HTTP with swordfish.web.ThriftASGIApp (under uvicorn) or "
    "swordfish.web.ThriftWSGIApp, or `swordfish serve --transport http`"
)

#: Lingering close (see "Closing a connection" in the module docstring): the longest a closing
#: connection keeps reading and discarding input once our last reply has left...
LINGER_TIME = 2.0
#: ...and how long the peer may stay silent (sending nothing, not closing) before we close
#: anyway, once it has acknowledged everything we wrote.
LINGER_QUIET = 0.25

#: ``sync_handlers=`` values: run plain handler methods in threads, or on the loop.
SYNC_HANDLER_MODES = ("thread", "inline")
#: Seconds a TLS client has to complete its handshake (``ssl_handshake_timeout``).
DEFAULT_HANDSHAKE_TIMEOUT = 10.0

_ASYNC, _THREAD, _INLINE, _MISSING = 0, 1, 2, 3
_NO_ARGS: tuple[Any, ...] = ()
_NOT_STARTED: Any = object()  # _run_rest: the coroutine has not been stepped yet


def _no_args(args: object) -> tuple[Any, ...]:
    return _NO_ARGS


def _args_getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """A fast ``args -> (positional values...)`` in IDL declaration order."""
    if not names:
        return _no_args
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda args: (one(args),)
    many = operator.attrgetter(*names)
    return many


_Entry = tuple[int, Callable[..., Any], Callable[[object], tuple[Any, ...]]]
_MISSING_ENTRY: _Entry = (_MISSING, _no_args, _no_args)
_NO_ENTRIES: dict[str, _Entry] = {}


class _Dispatchers:
    """A multiplexed server's result mapping: ``Dispatcher.failure`` of the call's service."""

    __slots__ = ("dispatchers",)

    success = staticmethod(Dispatcher.success)

    def __init__(self, dispatchers: dict[str, Dispatcher]) -> None:
        self.dispatchers = dispatchers

    def failure(self, request: Request, exc: Exception) -> Response:
        dispatcher = self.dispatchers.get(request.service or "")
        if dispatcher is None:  # a filter renamed the service: no declared throws to match
            raise TApplicationException(
                f"{type(exc).__name__}: {exc}", ApplicationExceptionType.INTERNAL_ERROR
            ) from exc
        return dispatcher.failure(request, exc)


async def _as_coroutine(value: Any) -> Any:
    """An ``async def`` method's result that is not a coroutine: await it, or return it."""
    if inspect.isawaitable(value):
        return await value
    return value


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Continue a coroutine that was stepped once by hand and suspended on ``yielded``.

    The running task receives exactly what the coroutine yields and sends back exactly what
    the task sends (or throws, e.g. ``CancelledError``), so the coroutine cannot tell that its
    first step ran outside any task.
    """
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def _shutting_down(call: Call) -> TApplicationException:
    return TApplicationException(
        f"{call.method.name}: cancelled (server shutting down)",
        ApplicationExceptionType.INTERNAL_ERROR,
    )


class _CallState:
    """One call being handled: answered at most once (by its handler or by its timeout)."""

    __slots__ = ("call", "request", "done", "task", "timer")

    def __init__(self, call: Call, request: Request) -> None:
        self.call = call
        self.request = request
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None


class _ServerProtocol(EngineProtocol):
    """One accepted connection: bytes -> engine -> calls -> handler -> replies."""

    def __init__(self, server: AsyncServer) -> None:
        super().__init__()
        self.server = server
        framer = server.wire.new_framer(server=True)
        self.engine = ServerConnection(server.spec, server._codec, framer)
        self.in_flight = 0
        self.last_active = self.loop.time()
        self.write_stalled_since: float | None = None
        self._eof = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self.server
        server._connection_added(self)
        if server._stopping:
            # Accepted in the instant before the listener closed: nothing was read, so
            # closing it loses nothing (lingering, so a call it sent meets EOF, not a RST).
            self.linger(LINGER_QUIET, LINGER_TIME)
            return
        if server.idle_timeout is not None:
            self._idle_timer = self.loop.call_later(server.idle_timeout, self._check_idle)
        log.debug("accepted %s", self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        # Calls still running (a oneway, or one whose caller hung up: always so over TLS,
        # which cannot half-close) keep the connection counted until they finish, so stop()
        # waits for them and, at its deadline, cancels them instead of leaving tasks behind.
        if self.in_flight == 0:
            self.server._connection_gone(self)
        log.debug("closed %s (%s)", self.peer, exc or "clean")

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self.linger_received()  # calls we will not run: dropped
            return
        self.engine.receive_data(data)
        # Replies of calls answered right here leave in one write when pump returns.
        self.hold_writes()
        try:
            self.pump()
        finally:
            self.release_writes()

    def eof_received(self) -> bool:
        if self.lingering:
            return False  # the peer read our FIN and closed: the lingering close is over
        self._eof = True
        self.engine.receive_data(b"")
        self.pump()
        # Keep our half open: replies to calls still running must still be written. TLS
        # cannot half-close (asyncio closes the transport whatever we return), so say so.
        transport = self.transport
        return transport is None or transport.get_extra_info("ssl_object") is None

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_stalled_since = None

    # -- taking calls --------------------------------------------------------------------------

    def pump(self) -> None:
        """Take calls out of the engine until it needs data or a limit is reached."""
        server = self.server
        engine = self.engine
        while not self.closed and not self.lingering:
            if self.in_flight >= server.max_in_flight_per_connection:
                self.pause(PAUSE_LIMIT)
                return
            if server._in_flight >= server.max_in_flight:
                self.pause(PAUSE_LIMIT)
                server._blocked[self] = None
                return
            try:
                event = engine.next_event()
            except ProtocolError as exc:
                # Nothing after malformed bytes can be trusted; only this connection pays.
                log.warning("closing %s: %s", self.peer, exc)
                self.abort()
                return
            if event is NEED_DATA:
                if self._pause_reasons:
                    self.resume(PAUSE_LIMIT)
                if server._stopping and self.in_flight == 0:
                    # Draining: everything received has been answered. The peer may have
                    # sent more that we will not read (reading is paused): linger, or the
                    # close would draw a RST that can drop our last replies.
                    self.linger(LINGER_QUIET, LINGER_TIME)
                return
            if type(event) is Call:
                self._start(event)
            elif isinstance(event, CallRejected):
                log.info("%s: rejected %r: %s", self.peer, event.name, event.error)
                if event.data:
                    self.write(event.data)
            elif isinstance(event, ConnectionClosed):
                if self.in_flight == 0:
                    self.close()
                return

    def _start(self, call: Call) -> None:
        server = self.server
        self.in_flight += 1
        server._in_flight += 1
        method = call.method
        service = call.service
        request = Request(
            method, call.args, call.headers or {}, Context(None, self.peer, call.seqid), service
        )
        entries = server._entries if service is None else server._mux_entries[service]
        kind, fn, getter = entries.get(method.name, _MISSING_ENTRY)
        if kind == _ASYNC and server.call_timeout is None:
            # Fast path: run the coroutine's first step right here. Most handlers answer
            # without waiting, and then no task, timer or call state is ever created. The
            # step runs in a context of the call's own, which the task finishing it (if it
            # suspends) reuses: a context variable the handler sets before an await is still
            # set, and resettable, after it, and never leaks into the connection's callbacks.
            context = contextvars.copy_context()
            context.run(REQUEST_VAR.set, request)
            try:
                coro = fn(*getter(call.args))
                if type(coro) is not types.CoroutineType:
                    coro = _as_coroutine(coro)
                yielded = context.run(coro.send, None)
            except StopIteration as stop:
                self._answer(
                    call,
                    server._dispatcher.success(method, stop.value),
                    None,
                    request.context.reply_headers,
                )
                return
            except Exception as exc:
                self._answer_failure(call, request, exc)
                return
            state = _CallState(call, request)
            task = self.loop.create_task(self._run_rest(state, coro, yielded), context=context)
            self._track(state, task)
            return
        state = _CallState(call, request)
        if server.call_timeout is not None:
            state.timer = self.loop.call_later(server.call_timeout, self._expire, state)
        if kind == _ASYNC:
            token = REQUEST_VAR.set(request)
            try:
                coro = fn(*getter(call.args))
                if type(coro) is not types.CoroutineType:
                    coro = _as_coroutine(coro)
                task = self.loop.create_task(self._run_rest(state, coro, _NOT_STARTED))
            except Exception as exc:
                self._finish_failure(state, exc)
                return
            finally:
                REQUEST_VAR.reset(token)
            self._track(state, task)
        elif kind == _THREAD:
            future = self.loop.run_in_executor(server._executor, server._service, request)
            future.add_done_callback(lambda f: self._thread_done(state, f))
        else:
            # Inline plain handler, or a missing method (Dispatcher answers UNKNOWN_METHOD).
            try:
                response = server._service(request)
            except Exception as exc:
                self._finish(state, None, exc)
            else:
                self._finish(state, response, None)

    def _track(self, state: _CallState, task: asyncio.Task[None]) -> None:
        state.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_rest(
        self, state: _CallState, coro: Coroutine[Any, Any, Any], yielded: Any
    ) -> None:
        """Drive ``coro`` to its end (``yielded``: what its eager first step yielded, if any)."""
        dispatcher = self.server._dispatcher
        try:
            value = await (coro if yielded is _NOT_STARTED else _resume(coro, yielded))
        except asyncio.CancelledError:
            if not state.done:  # not our timeout: the server is being torn down
                self._finish(state, None, _shutting_down(state.call))
            return
        except Exception as exc:
            self._finish_failure(state, exc)
            return
        self._finish(state, dispatcher.success(state.request.method, value), None)

    def _finish_failure(self, state: _CallState, exc: Exception) -> None:
        try:
            response = self.server._dispatcher.failure(state.request, exc)
        except Exception as mapped:
            self._finish(state, None, mapped)
        else:
            self._finish(state, response, None)

    def _answer_failure(self, call: Call, request: Request, exc: Exception) -> None:
        headers = request.context.reply_headers
        try:
            response = self.server._dispatcher.failure(request, exc)
        except Exception as mapped:
            self._answer(call, None, mapped, headers)
        else:
            self._answer(call, response, None, headers)

    def _thread_done(self, state: _CallState, future: asyncio.Future[Response]) -> None:
        if future.cancelled():
            self._finish(state, None, asyncio.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self._finish(state, None, exc)
        else:
            self._finish(state, future.result(), None)

    def _expire(self, state: _CallState) -> None:
        if state.done:
            return
        timeout = self.server.call_timeout
        self._finish(
            state,
            None,
            TApplicationException(
                f"{state.call.method.name}: the handler did not answer within {timeout} s",
                ApplicationExceptionType.INTERNAL_ERROR,
            ),
        )
        if state.task is not None:
            state.task.cancel()

    # -- answering -----------------------------------------------------------------------------

    def _finish(self, state: _CallState, response: Response, error: BaseException | None) -> None:
        if state.done:
            return  # already answered (its timeout fired first)
        state.done = True
        if state.timer is not None:
            state.timer.cancel()
        self._answer(state.call, response, error, state.request.context.reply_headers)

    def _answer(
        self,
        call: Call,
        response: Response,
        error: BaseException | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write the reply to ``call`` (none for oneway) and release its in-flight slot.

        headers: reply headers (THeader carries them; other framings drop them).
        """
        if not call.oneway and not self.closed:
            self.write(self._reply_bytes(call, response, error, headers))
        self.last_active = self.loop.time()
        self.in_flight -= 1
        server = self.server
        server._in_flight -= 1
        server.calls_served += 1
        if server._blocked:
            server._unblock()
        if self.closed:
            if self.in_flight == 0:
                server._connection_gone(self)  # the last call of a lost connection
            return
        if self._pause_reasons & PAUSE_LIMIT or self._eof or server._stopping:
            self.pump()

    def _reply_bytes(
        self,
        call: Call,
        response: Response,
        error: BaseException | None,
        headers: dict[str, str] | None,
    ) -> bytes:
        engine = self.engine
        if error is None and response is not None:
            try:
                return engine.send_reply(call, response, headers)
            except Exception as exc:
                # The handler returned something the IDL type cannot carry (wrong type, out of
                # range, required field unset): tell the client rather than hang up on it.
                name = call.method.name
                log.exception("%s.%s: cannot encode the result", self.server.name, name)
                error = TApplicationException(
                    f"cannot encode the result of {name}: {exc}",
                    ApplicationExceptionType.INTERNAL_ERROR,
                )
        name = call.method.name
        if error is None:
            error = TApplicationException(
                f"{name}: the handler returned no result", ApplicationExceptionType.INTERNAL_ERROR
            )
        if not isinstance(error, TApplicationException):
            # Dispatcher maps handler errors; this is a failure outside it (the thread pool
            # was shut down, a Service handler raised something odd).
            log.error("%s.%s failed", self.server.name, name, exc_info=error)
            error = TApplicationException(
                f"{type(error).__name__}: {error}", ApplicationExceptionType.INTERNAL_ERROR
            )
        return engine.send_exception(call, error, headers)

    # -- timeouts and shutdown ---------------------------------------------------------------

    def _check_idle(self) -> None:
        self._idle_timer = None
        idle = self.server.idle_timeout
        if self.closed or self.lingering or idle is None:
            return
        now = self.loop.time()
        stalled = self.write_stalled_since
        if stalled is not None and now - stalled >= idle:
            log.info("closing %s: it has not read our replies for %.1f s", self.peer, idle)
            self.abort()
            return
        if self.in_flight == 0 and now - self.last_active >= idle:
            log.debug("closing idle connection %s", self.peer)
            self.linger(LINGER_QUIET, LINGER_TIME)  # a call sent just now meets EOF
            return
        # Busy, or active recently: look again when it could next be idle.
        due = self.last_active + idle if self.in_flight == 0 else now + idle
        if stalled is not None:
            due = min(due, stalled + idle)
        self._idle_timer = self.loop.call_at(max(due, now + 0.001), self._check_idle)

    def begin_drain(self) -> None:
        """Server stop: take no more bytes; answer what was received, then close."""
        self.pause(PAUSE_STOPPING)
        self.pump()

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class _FilteredServerProtocol(_ServerProtocol):
    """A connection of a server with filters: each call runs through the async chain."""

    def __init__(self, server: AsyncServer, chain: AsyncService[Request, Response]) -> None:
        super().__init__(server)
        self.chain = chain

    def _start(self, call: Call) -> None:
        server = self.server
        self.in_flight += 1
        server._in_flight += 1
        request = Request(
            call.method,
            call.args,
            call.headers or {},
            Context(peer=self.peer, seqid=call.seqid),
            call.service,
        )
        state = _CallState(call, request)
        if server.call_timeout is not None:
            state.timer = self.loop.call_later(server.call_timeout, self._expire, state)
        # One context for the whole call: the eager first step runs in it and the task that
        # finishes the call (if it suspends) is given it, so a context variable set by a filter
        # before its first await is still set (and resettable) after it. Stepping in the
        # caller's context instead would leak such values into the connection's callbacks.
        context = contextvars.copy_context()
        context.run(REQUEST_VAR.set, request)
        try:
            coro = context.run(self.chain, request)
            if type(coro) is not types.CoroutineType:
                coro = _as_coroutine(coro)
            yielded = context.run(coro.send, None)
        except StopIteration as stop:
            self._finish(state, stop.value, None)
            return
        except Exception as exc:
            self._failed(state, exc)
            return
        task = self.loop.create_task(self._run_chain(state, coro, yielded), context=context)
        self._track(state, task)

    async def _run_chain(
        self, state: _CallState, coro: Coroutine[Any, Any, Response], yielded: Any
    ) -> None:
        try:
            response = await _resume(coro, yielded)
        except asyncio.CancelledError:
            if not state.done:  # not our timeout: the server is being torn down
                self._finish(state, None, _shutting_down(state.call))
            return
        except Exception as exc:
            self._failed(state, exc)
            return
        self._finish(state, response, None)

    def _failed(self, state: _CallState, exc: Exception) -> None:
        """The chain raised: ``_reply_bytes`` maps (and logs) it; a oneway call has no reply."""
        call = state.call
        if call.oneway:
            log.error("oneway %s.%s failed", self.server.name, call.method.name, exc_info=exc)
        self._finish(state, None, exc)


class _AsyncDispatch(AsyncService[Request, Response]):
    """The terminal of a server's filter chain: the handler method, run as without filters.

    Async methods are awaited on the loop, plain ones run in the thread pool (or inline with
    ``sync_handlers="inline"``); results and exceptions map through the server's
    ``Dispatcher``. It reads the request it is given, so a filter may change the arguments.
    """

    role = "dispatch"
    description = "runs the handler method: async on the loop, plain in the thread pool"

    def __init__(self, server: AsyncServer) -> None:
        self.server = server

    async def __call__(self, request: Request) -> Response:
        server = self.server
        entries = (
            server._entries
            if request.service is None
            else server._mux_entries.get(request.service, _NO_ENTRIES)
        )
        kind, fn, getter = entries.get(request.method.name, _MISSING_ENTRY)
        if kind == _ASYNC:
            dispatcher = server._dispatcher
            token = REQUEST_VAR.set(request)  # the request as the filters left it
            try:
                value = fn(*getter(request.args))
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                return dispatcher.failure(request, exc)
            finally:
                REQUEST_VAR.reset(token)
            return dispatcher.success(request.method, value)
        if kind == _THREAD:
            # In a copy of this context (as asyncio.to_thread does): what the filters set in
            # context variables (a trace span, say) is visible to the plain handler too.
            run = contextvars.copy_context().run
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(server._executor, run, server._service, request)
        return server._service(request)  # inline, or a missing method (UNKNOWN_METHOD)

    def __repr__(self) -> str:
        return f"_AsyncDispatch({self.server.name})"


class AsyncServer:
    """An asyncio Thrift server for one service and handler (see the module docstring).

    Create it, then ``await server.start()`` (binds and listens; ``port=0`` picks a free port,
    read it from ``.port``) or ``await server.serve_forever()``; ``await server.stop()`` drains.
    ``make_aio_server`` does the first two steps.

    handler: an object with one method per IDL method (``async def`` or plain; see
        ``Dispatcher`` for how results and exceptions map), or a sync
        ``Service[Request, Response]`` used as the terminal (run like a plain method), or an
        ``AsyncService[Request, Response]`` awaited as the terminal.
    max_in_flight: calls running at once in this server; max_in_flight_per_connection: on
        one connection. Beyond either, the connection stops reading until a call finishes.
    handler_threads: size of the thread pool for plain handler methods.
    sync_handlers: "thread" (default) or "inline" (run plain methods on the loop).
    idle_timeout: seconds before a connection with nothing in flight is closed (``None`` =
        never). call_timeout: seconds one handler call may take (``None`` = no limit).
    filters: ``AsyncFilter``s (or a ``Stack`` of them), outermost first, around the handler.
    sock: an already listening socket to serve on instead of binding ``host``/``port`` (what a
        pre-fork supervisor hands its workers); ``host``, ``port`` and ``reuse_port`` are then
        ignored. A unix (``AF_UNIX``) stream socket works too: ``.host`` is then its path and
        ``.port`` 0 (the socket file is left in place: whoever bound it removes it).
        ``calls_served`` counts answered calls (oneway: run).
    services: several services on one port (Apache's multiplexed protocol), instead of
        ``service`` and ``handler``: ``{"Calc": (calc.Calculator, CalcHandler()), ...}``.
        Clients name calls ``"Calc:add"``; each service gets its own dispatcher; the filters,
        shared by all, read the name from ``Request.service``. Handlers are objects or sync
        ``Service``s here (an ``AsyncService`` terminal per service is not supported).
    ssl_context: serve TLS (``swordfish.tls.server_context``; ``verify_mode=CERT_REQUIRED``
        for mutual TLS). handshake_timeout: seconds a client has to finish the handshake
        (asyncio's ``ssl_handshake_timeout``); a client that fails or stalls it is dropped
        without reaching the protocol, and the server serves the others meanwhile. A lingering
        close on TLS is a plain close with ``close_notify`` (TLS cannot half-close).
    header_transforms: with the THeader protocols ("header", "header-compact"), payload
        transforms for every reply (``("zlib",)``); without it replies are compressed only to
        peers that compress their calls. A THeader server also answers plain framed or
        unframed binary/compact clients in their own format. Handlers (and filters, through
        ``request.headers`` / ``request.context.reply_headers``) read call headers with
        ``swordfish.current_headers()`` and add reply headers with
        ``swordfish.set_reply_header(key, value)``. With ``detect``: transforms for the
        replies on THeader connections.
    detect: recognise each connection's protocol and transport from its first bytes and
        answer in kind (see the module docstring), instead of speaking only ``protocol``
        over ``transport`` (which are then not consulted). ``True`` accepts every detectable
        format: binary (strict and old-style), compact, json and THeader ("header": binary
        or compact inside) over buffered, framed and zlib. Names restrict it: protocol names
        limit the protocols, transport names the transports, and a kind without names keeps
        all of its own, so ``detect=("binary", "compact", "framed")`` accepts binary and
        compact over framed only, and ``detect=("framed",)`` every protocol over framed.
        ``.detect`` holds what is accepted (a ``swordfish.framing.Detection``; ``None`` when
        off).
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
        limits: Limits | None = None,
        max_in_flight: int = 10_000,
        max_in_flight_per_connection: int = 128,
        handler_threads: int = 16,
        sync_handlers: str = "thread",
        idle_timeout: float | None = 60.0,
        call_timeout: float | None = None,
        backlog: int = 1024,
        reuse_port: bool = False,
        filters: Iterable[AnyAsyncFilter] | Stack = (),
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
        resolved: dict[str, tuple[ServiceSpec, object]] | None = None
        if services is not None:
            if service is not None or handler is not None:
                raise ValueError("give either service and handler, or services, not both")
            resolved = resolve_services(services)
            for name, (_, h) in resolved.items():
                if isinstance(h, AsyncService):
                    raise ValueError(
                        f"services[{name!r}]: an AsyncService handler cannot be multiplexed"
                    )
            self.spec = {name: spec for name, (spec, _) in resolved.items()}
            self.handler = {name: h for name, (_, h) in resolved.items()}
            #: For logs: the service's name, or the multiplexed names joined by "+".
            self.name = "+".join(resolved)
        else:
            if service is None or handler is None:
                raise ValueError("a server needs a service and a handler (or services)")
            spec = resolve_service(service)
            self.spec, self.handler, self.name = spec, handler, spec.name
        self.host_arg = host
        self.port_arg = port
        if transport == HTTP_TRANSPORT:
            raise ValueError(HTTP_SERVER_HINT)
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.transport = check_choice("transport", transport, TRANSPORTS)
        self.sync_handlers = check_choice("sync_handlers", sync_handlers, SYNC_HANDLER_MODES)
        self.max_in_flight = check_positive_int("max_in_flight", max_in_flight)
        self.max_in_flight_per_connection = check_positive_int(
            "max_in_flight_per_connection", max_in_flight_per_connection
        )
        self.handler_threads = check_positive_int("handler_threads", handler_threads)
        self.idle_timeout = check_timeout("idle_timeout", idle_timeout)
        self.call_timeout = check_timeout("call_timeout", call_timeout)
        self.backlog = check_positive_int("backlog", backlog)
        self.reuse_port = reuse_port
        self.ssl_context = check_context(ssl_context)
        self.handshake_timeout = check_timeout("handshake_timeout", handshake_timeout)
        if self.handshake_timeout is None:
            raise ValueError("handshake_timeout must be positive, not None")
        if sock is not None and (
            sock.type != socket.SOCK_STREAM
            or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        ):
            raise ValueError(f"sock must be a listening stream socket, got {sock!r}")
        self.sock = sock
        self.calls_served = 0  # calls answered (oneway: run); read by supervisors
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

        # The terminal: a sync Service handler as it is, else the shared Dispatcher. Each
        # method is classified once (async / thread / inline) instead of on every call.
        # Multiplexed: the same per service, behind a Router; ``_mux_entries`` holds each
        # service's table (single-service calls never look at it).
        self._dispatcher: Dispatcher | _Dispatchers
        self._service: Service[Request, Response]
        self._entries: dict[str, _Entry] = {}
        self._mux_entries: dict[str, dict[str, _Entry]] = {}
        if resolved is None:
            assert isinstance(self.spec, ServiceSpec)
            self._dispatcher, self._service = self._bind(self.spec, handler, self._entries)
        else:
            dispatchers: dict[str, Dispatcher] = {}
            routes: dict[str, Service[Request, Response]] = {}
            for name, (spec, h) in resolved.items():
                entries = self._mux_entries[name] = {}
                dispatchers[name], routes[name] = self._bind(spec, h, entries)
            self._dispatcher = _Dispatchers(dispatchers)
            self._service = Router(routes)

        # Filters: a chain ending in _AsyncDispatch (or in an AsyncService handler). None when
        # there are none, and then connections take the unfiltered fast path.
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        self._chain: AsyncService[Request, Response] | None = None
        if isinstance(handler, AsyncService):
            self._chain = self.stack.build_async(handler)
        elif self.stack:
            self._chain = self.stack.build_async(_AsyncDispatch(self))

        self._executor: ThreadPoolExecutor | None = None
        self._aserver: asyncio.Server | None = None
        self._conns: set[_ServerProtocol] = set()
        self._blocked: dict[_ServerProtocol, None] = {}  # insertion-ordered: fair wake-up
        self._in_flight = 0
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._no_conns: asyncio.Event | None = None
        # getsockname() once started: (host, port, ...), or a unix socket's path (str/bytes)
        self._address: tuple[Any, ...] | str | bytes = (host, port)
        if sock is not None:
            self._address = sock.getsockname()

    def _bind(
        self, spec: ServiceSpec, handler: object, entries: dict[str, _Entry]
    ) -> tuple[Dispatcher, Service[Request, Response]]:
        """Fill ``entries`` for ``handler``; its (dispatcher, terminal for plain calls)."""
        dispatcher = Dispatcher(spec, handler)
        plain = _INLINE if self.sync_handlers == "inline" else _THREAD
        if isinstance(handler, Service):
            for name in spec.methods:
                entries[name] = (plain, _no_args, _no_args)
            return dispatcher, handler
        for name, method in spec.methods.items():
            fn = getattr(handler, method.name, None)
            if not callable(fn):
                continue  # _MISSING: the Dispatcher answers UNKNOWN_METHOD
            is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
                getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
            )
            getter = _args_getter(tuple(method.arg_names))
            entries[name] = (_ASYNC, fn, getter) if is_async else (plain, fn, getter)
        return dispatcher, dispatcher

    # -- public surface ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound host address once started; on a unix socket, its path."""
        address = self._address
        if isinstance(address, tuple):
            return str(address[0])
        return os.fsdecode(address) if isinstance(address, bytes) else str(address)

    @property
    def port(self) -> int:
        """The bound port (the real one once started with ``port=0``).

        0 when serving on a unix socket (``sock=`` an ``AF_UNIX`` listener): it has no port.
        """
        address = self._address
        return int(address[1]) if isinstance(address, tuple) else 0

    @property
    def address(self) -> str:
        """Where it listens, for people: ``host:port``, ``[::1]:port`` or ``unix:/path``."""
        return format_address(self._address)

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return len(self._conns)

    @property
    def in_flight(self) -> int:
        """Calls being handled right now, over all connections."""
        return self._in_flight

    @property
    def serving(self) -> bool:
        return self._aserver is not None and not self._stopping

    async def start(self) -> Self:
        """Bind and listen; calls are served from now on (the loop serves them)."""
        if self._aserver is not None:
            raise RuntimeError("this server was already started")
        if self._stopping:
            raise RuntimeError("this server was stopped")
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._no_conns = asyncio.Event()
        self._no_conns.set()
        if self.sync_handlers == "thread":
            self._executor = ThreadPoolExecutor(
                self.handler_threads, thread_name_prefix="swordfish-aio-handler"
            )
        address = format_address(self._address)  # (host, port), or the given socket's name
        tls: dict[str, Any] = {}
        if self.ssl_context is not None:
            tls = {"ssl": self.ssl_context, "ssl_handshake_timeout": self.handshake_timeout}
        try:
            if self.sock is not None:
                self._aserver = await loop.create_server(
                    self._protocol_factory(), sock=self.sock, backlog=self.backlog, **tls
                )
            else:
                self._aserver = await loop.create_server(
                    self._protocol_factory(),
                    self.host_arg,
                    self.port_arg,
                    backlog=self.backlog,
                    reuse_address=True,
                    reuse_port=self.reuse_port or None,
                    **tls,
                )
        except OSError as exc:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            raise TransportError(f"listen on {address} failed: {exc}") from exc
        sockets = self._aserver.sockets
        if sockets:
            self._address = sockets[0].getsockname()
        log.info(
            "serving %s on %s (asyncio, %s)",
            self.name,
            format_address(self._address),
            self.wire_description,
        )
        return self

    @property
    def wire_description(self) -> str:
        """What it speaks, for logs: "protocol=binary, transport=framed", or with
        ``detect`` "detect=binary, compact over buffered, framed"."""
        if self.detect is not None:
            return f"detect={self.detect}"
        return f"protocol={self.protocol}, transport={self.transport}"

    async def serve_forever(self) -> None:
        """Start if needed, then serve until ``stop()`` has finished."""
        if self._aserver is None:
            await self.start()
        assert self._stopped is not None
        await self._stopped.wait()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, answer calls already received (up to ``timeout`` s), close all.

        Connections close with a lingering close (module docstring), which a peer can make
        last ``LINGER_QUIET`` (silent) to ``LINGER_TIME`` (still sending): never past
        ``timeout``. Idempotent; a second caller waits for the first one's stop to finish.
        """
        if self._stopping:
            if self._stopped is not None:
                await self._stopped.wait()
            return
        self._stopping = True
        if self._aserver is None:
            return
        log.info("stopping %s on %s", self.name, format_address(self._address))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._aserver.close()
        for conn in list(self._conns):
            conn.begin_drain()
        assert self._no_conns is not None
        try:
            async with asyncio.timeout_at(deadline):
                await self._no_conns.wait()
        except TimeoutError:
            log.warning(
                "stop: calls still running (or peers still sending) after %.1f s; "
                "closing connections",
                timeout,
            )
        for conn in list(self._conns):
            conn.abort()
            conn.cancel_tasks()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.sleep(0)  # let aborted transports report connection_lost
        assert self._stopped is not None
        self._stopped.set()

    async def __aenter__(self) -> Self:
        if self._aserver is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<AsyncServer {self.name} {format_address(self._address)} " + (
            f"detect=[{self.detect}]>"
            if self.detect is not None
            else f"protocol={self.protocol} transport={self.transport}>"
        )

    # -- bookkeeping -----------------------------------------------------------------------

    def _protocol_factory(self) -> Callable[[], _ServerProtocol]:
        chain = self._chain
        if chain is None:
            return lambda: _ServerProtocol(self)
        return lambda: _FilteredServerProtocol(self, chain)

    def _connection_added(self, conn: _ServerProtocol) -> None:
        self._conns.add(conn)
        if self._no_conns is not None:
            self._no_conns.clear()

    def _connection_gone(self, conn: _ServerProtocol) -> None:
        self._conns.discard(conn)
        self._blocked.pop(conn, None)
        if not self._conns and self._no_conns is not None:
            self._no_conns.set()

    def _unblock(self) -> None:
        """A call finished: let connections paused on the server-wide limit take calls."""
        while self._blocked and self._in_flight < self.max_in_flight:
            conn = next(iter(self._blocked))
            del self._blocked[conn]
            conn.pump()
