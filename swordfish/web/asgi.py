"""``ThriftASGIApp``: Thrift over HTTP as an ASGI application (uvicorn, hypercorn, ...).

    app = ThriftASGIApp(calc.Calculator, CalcHandler())
    # uvicorn myservice:app --port 8080

The same requests and answers as ``ThriftWSGIApp`` (see ``swordfish.web.wsgi`` for every
HTTP status): one Thrift message per POST body, the path ignored, ``200`` with the reply,
oneway calls answered ``200`` with an empty body before the handler runs. What differs is
how handlers run:

- ``async def`` handler methods are awaited on the event loop;
- plain methods (and a sync ``Service`` handler) run in a bounded thread pool of ``threads``
  threads, so a blocking handler cannot stall the loop;
- an ``AsyncService`` handler is awaited as the terminal.

filters are ``AsyncFilter``s. The lifespan protocol is handled: the thread pool starts on
``startup`` (or on the first call, under a server that sends no lifespan events) and is shut
down on ``shutdown``.

A client that sends its body too slowly is answered ``408`` after ``body_timeout`` seconds;
a body over ``Limits.max_frame_size`` gets ``413`` as soon as its declared length (or the
bytes received) say so, and the connection is closed rather than drained. Other connections
are never held up by one slow client.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..limits import Limits
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..rpc.context import REQUEST_VAR
from ..rpc.dispatch import Dispatcher
from ..rpc.filter import AnyAsyncFilter, Stack
from ..rpc.options import check_positive_int, check_timeout
from ..rpc.request import Request, Response
from ..rpc.service import AsyncService, Service
from ._http import (
    Answer,
    HttpEndpoint,
    make_request,
    parse_body,
    precheck,
    reply_body,
    too_large,
)

__all__ = ["DEFAULT_THREADS", "ThriftASGIApp"]

log = logging.getLogger("swordfish.web.asgi")

#: Threads for plain handler methods when ``threads`` is not given.
DEFAULT_THREADS = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Target:
    """One service's handler, its methods classified once: awaited, or run in a thread."""

    __slots__ = ("async_methods", "dispatcher", "handler", "terminal")

    def __init__(self, spec: ServiceSpec, handler: object) -> None:
        self.handler = handler
        self.dispatcher = Dispatcher(spec, handler)
        #: What a thread runs for a plain method: the dispatcher, or a sync Service handler.
        self.terminal: Service[Request, Response] = (
            handler if isinstance(handler, Service) else self.dispatcher
        )
        self.async_methods: frozenset[str] = frozenset()
        if not isinstance(handler, Service):
            self.async_methods = frozenset(
                name for name in spec.methods if _is_async(getattr(handler, name, None))
            )


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an async callable object
    )


class _AsyncDispatch(AsyncService[Request, Response]):
    """The terminal of the app's chain: async methods awaited, plain ones in the thread pool.

    Results and exceptions map through the service's ``Dispatcher`` (the rules every server
    shares). It reads the request it is given, so a filter may change the arguments.
    """

    role = "dispatch"
    description = "runs the handler method: async on the loop, plain in the thread pool"

    def __init__(self, app: ThriftASGIApp, targets: dict[str | None, _Target]) -> None:
        self.app = app
        self.targets = targets

    async def __call__(self, request: Request) -> Response:
        target = self.targets.get(request.service)
        if target is None:  # a filter renamed the service: no handler serves that name
            raise TApplicationException(
                f"Service name not found: {request.service!r}",
                ApplicationExceptionType.UNKNOWN_METHOD,
            )
        method: MethodSpec = request.method
        if method.name in target.async_methods:
            dispatcher = target.dispatcher
            fn = dispatcher.lookup(method)
            token = REQUEST_VAR.set(request)
            try:
                value = fn(*dispatcher.arguments(request))
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                return dispatcher.failure(request, exc)
            finally:
                REQUEST_VAR.reset(token)
            return dispatcher.success(method, value)
        # In a copy of this context (as asyncio.to_thread does): what filters set in context
        # variables is visible to the plain handler too.
        run = contextvars.copy_context().run
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.app._pool(), run, target.terminal, request)

    def __repr__(self) -> str:
        return f"_AsyncDispatch({self.app.endpoint.name})"


class ThriftASGIApp:
    """An ASGI app serving one Thrift service (or several, multiplexed) over HTTP.

    service, handler, services, protocol, limits, header_transforms: as for
        ``ThriftWSGIApp`` (THeader included: ``current_headers()`` / ``set_reply_header()``
        work in async and plain methods alike); handler methods
        may be ``async def`` or plain, and the handler may be an ``AsyncService`` (single
        service only) or a sync ``Service``.
    filters: ``AsyncFilter``s (or a ``Stack`` of them), outermost first, around the handler.
    threads: size of the thread pool for plain handler methods (default ``DEFAULT_THREADS``).
    body_timeout: seconds a client has to send its whole body (``408`` after that);
        ``None`` = no limit.
    """

    def __init__(
        self,
        service: object = None,
        handler: object = None,
        *,
        services: Mapping[str, tuple[object, object]] | None = None,
        protocol: str = "binary",
        limits: Limits | None = None,
        header_transforms: Iterable[str] = (),
        filters: Iterable[AnyAsyncFilter] | Stack = (),
        threads: int = DEFAULT_THREADS,
        body_timeout: float | None = 30.0,
    ) -> None:
        self.endpoint = HttpEndpoint(
            service, handler, services, protocol, limits, header_transforms
        )
        self.protocol = self.endpoint.protocol
        self.limits = self.endpoint.limits
        self.threads = check_positive_int("threads", threads)
        self.body_timeout = check_timeout("body_timeout", body_timeout)
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        terminal: AsyncService[Request, Response]
        if isinstance(handler, AsyncService):
            terminal = handler
        else:
            for name, (_, h) in self.endpoint.handlers.items():
                if isinstance(h, AsyncService):
                    raise ValueError(
                        f"services[{name!r}]: an AsyncService handler cannot be multiplexed"
                    )
            targets = {name: _Target(spec, h) for name, (spec, h) in self.endpoint.handlers.items()}
            terminal = _AsyncDispatch(self, targets)
        self.service: AsyncService[Request, Response] = self.stack.build_async(terminal)
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="swordfish-asgi"
            )
        return self._executor

    def close(self) -> None:
        """Shut the thread pool down (the lifespan ``shutdown`` event does this)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._pool()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoint
        headers = _headers(scope)
        answer, length = precheck(
            endpoint,
            scope.get("method", ""),
            headers.get("content-type"),
            headers.get("content-length"),
        )
        if answer is not None:
            if answer.status == 413:
                answer.headers.append(("Connection", "close"))  # do not drain a huge body
            await _send(send, answer)
            return
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else None
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._read_body(receive, length)
        except TimeoutError:
            log.info("%s: request body not received within %s s", peer, self.body_timeout)
            body = Answer(
                408, b"request body not received in time\n", headers=[("Connection", "close")]
            )
        if isinstance(body, Answer):
            await _send(send, body)
            return
        parsed = parse_body(endpoint, body, peer)
        if isinstance(parsed, Answer):
            await _send(send, parsed)
            return
        request = make_request(parsed, peer, headers)
        if parsed.call.oneway:
            await _send(send, Answer(200, b"", endpoint.content_type))
            try:
                await self.service(request)
            except Exception:
                method = request.method
                log.exception("oneway %s.%s failed", method.service, method.name)
            return
        result: Response = None
        error: BaseException | None = None
        try:
            result = await self.service(request)
        except Exception as exc:
            error = exc
        data = reply_body(endpoint, parsed, result, error, request.context.reply_headers)
        await _send(send, Answer(200, data, endpoint.content_type))

    async def _read_body(self, receive: Receive, length: int | None) -> bytes | Answer:
        limit = self.endpoint.max_body()
        chunks: list[bytes] = []
        got = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Answer(400, b"client disconnected\n")
            chunk = message.get("body", b"")
            if chunk:
                got += len(chunk)
                if got > limit:
                    answer = too_large(self.endpoint)
                    answer.headers.append(("Connection", "close"))
                    return answer
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if length is not None and got != length:
            return Answer(400, f"request body of {got} bytes, declared {length}\n".encode())
        return b"".join(chunks)

    def __repr__(self) -> str:
        return f"<ThriftASGIApp {self.endpoint.name} protocol={self.protocol}>"


async def _send(send: Send, answer: Answer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in answer.header_list()
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers: lower-cased names; a repeated header's values joined by ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        value = bytes(raw_value).decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers
