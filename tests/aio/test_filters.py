"""Async filters on the asyncio client, pool and server, over real loopback sockets.

Every test runs on the stdlib loop and on uvloop (the ``arun`` fixture). Client and server
share one loop, so a single log records the whole path of a call, in order.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from swordfish.aio import make_aio_client, make_aio_pool, make_aio_server
from swordfish.aio.client import AsyncClient
from swordfish.aio.server import AsyncServer
from swordfish.errors import DeadlineExceeded, TransportTimeout
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.rpc import (
    AsyncFilter,
    AsyncService,
    Filter,
    Request,
    Response,
    Service,
    Stack,
    current_request,
)
from tests.aio.conftest import AsyncStoreHandler
from tests.drivers.conftest import StoreHandler

Run = Callable[[Any], Any]
Next = AsyncService[Request, Response]


class Tag(AsyncFilter[Request, Response, Request, Response]):
    """Logs ``<role>:in:<method>`` before and ``<role>:out`` after the rest of the chain."""

    def __init__(self, role: str, log: list[str], description: str = "") -> None:
        self.role = role
        self.description = description
        self.log = log

    async def __call__(self, request: Request, service: Next) -> Response:
        self.log.append(f"{self.role}:in:{request.name}")
        response = await service(request)
        self.log.append(f"{self.role}:out")
        return response


def on(
    method: str, fn: Callable[[Request, Next], Any], role: str
) -> AsyncFilter[Any, Any, Any, Any]:
    """A filter that runs ``await fn(request, next)`` for ``method`` and passes others on."""

    async def filt(request: Request, service: Next) -> Response:
        if request.name == method:
            return await fn(request, service)  # type: ignore[no-any-return]
        return await service(request)

    return AsyncFilter.from_function(filt, role=role)


def make_handler(kind: str, store: ModuleType) -> tuple[StoreHandler, str]:
    """(handler, sync_handlers mode) for an async / thread-pool / inline handler."""
    if kind == "async":
        return AsyncStoreHandler(store), "thread"
    return StoreHandler(store), ("inline" if kind == "inline" else "thread")


HANDLER_KINDS = ["async", "thread", "inline"]


@pytest.mark.parametrize("handler_kind", HANDLER_KINDS)
def test_filters_run_in_order_on_client_and_server(
    arun: Run, store: ModuleType, handler_kind: str
) -> None:
    log: list[str] = []
    handler, mode = make_handler(handler_kind, store)

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, sync_handlers=mode,
            filters=[Tag("s1", log), Tag("s2", log)],
        )  # fmt: skip
        c = await make_aio_client(
            store.Store, port=server.port, timeout=5, filters=[Tag("c1", log), Tag("c2", log)]
        )
        try:
            assert await c.add(2, 3) == 5
            assert log == [
                "c1:in:add", "c2:in:add", "s1:in:add", "s2:in:add",
                "s2:out", "s1:out", "c2:out", "c1:out",
            ]  # fmt: skip
            # A declared exception is an answer: every filter sees it pass as a result struct.
            log.clear()
            with pytest.raises(store.NotFound):
                await c.get("missing")
            assert log == [
                "c1:in:get", "c2:in:get", "s1:in:get", "s2:in:get",
                "s2:out", "s1:out", "c2:out", "c1:out",
            ]  # fmt: skip
            # Oneway calls go through both chains too; the client's returns at once.
            log.clear()
            assert await c.fire("t") is None
            assert log == ["c1:in:fire", "c2:in:fire", "c2:out", "c1:out"]
            async with asyncio.timeout(3):
                while "s1:out" not in log:
                    await asyncio.sleep(0.01)
            assert log[4:] == ["s1:in:fire", "s2:in:fire", "s2:out", "s1:out"]
            assert handler.fired_tags == ["t"]
            # Many concurrent calls on the one pipelined connection all pass the chains.
            log.clear()
            assert await asyncio.gather(*(c.add(i, i) for i in range(20))) == [
                2 * i for i in range(20)
            ]
            assert log.count("s1:in:add") == 20 and log.count("c2:out") == 20
        finally:
            await c.close()
            await server.stop()

    arun(main())


@pytest.mark.parametrize("handler_kind", HANDLER_KINDS)
def test_filters_short_circuit(arun: Run, store: ModuleType, handler_kind: str) -> None:
    log: list[str] = []
    handler, mode = make_handler(handler_kind, store)

    async def cached(request: Request, service: Next) -> Response:
        if request.args.a == 0:  # answered here: nothing goes on the wire
            return request.method.result(success=-1)  # type: ignore[no-any-return]
        return await service(request)

    async def canned(request: Request, service: Next) -> Response:
        return request.method.result(success="from the filter")  # type: ignore[no-any-return]

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, sync_handlers=mode,
            filters=[Tag("s", log), on("echo", canned, "canned")],
        )  # fmt: skip
        c = await make_aio_client(
            store.Store, port=server.port, timeout=5, filters=[on("add", cached, "cache")]
        )
        try:
            assert await c.add(0, 5) == -1
            assert log == []  # the server never heard of it
            assert await c.add(1, 5) == 6
            assert log == ["s:in:add", "s:out"]
            log.clear()
            assert await c.echo("hello") == "from the filter"  # the handler never ran
            assert log == ["s:in:echo", "s:out"]
        finally:
            await c.close()
            await server.stop()

    arun(main())


@pytest.mark.parametrize("handler_kind", HANDLER_KINDS)
def test_filters_change_the_request(arun: Run, store: ModuleType, handler_kind: str) -> None:
    handler, mode = make_handler(handler_kind, store)

    async def times_ten(request: Request, service: Next) -> Response:
        request.args = request.method.args(a=request.args.a * 10, b=request.args.b)
        return await service(request)

    async def shout(request: Request, service: Next) -> Response:
        # A new Request (not an edit): the terminal must use what it is handed.
        changed = Request(
            request.method, request.method.args(text=request.args.text + "!"), {}, request.context
        )
        response = await service(changed)
        assert response is not None
        response.success = response.success.upper()
        return response

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, sync_handlers=mode, filters=[on("echo", shout, "shout")]
        )
        c = await make_aio_client(
            store.Store, port=server.port, timeout=5, filters=[on("add", times_ten, "x10")]
        )
        try:
            assert await c.add(2, 3) == 23
            assert await c.echo("hi") == "HI!"
        finally:
            await c.close()
            await server.stop()

    arun(main())


@pytest.mark.parametrize("handler_kind", HANDLER_KINDS)
def test_raising_filters(
    arun: Run, store: ModuleType, handler_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    handler, mode = make_handler(handler_kind, store)

    async def client_boom(request: Request, service: Next) -> Response:
        raise ValueError("refused locally")

    async def server_boom(request: Request, service: Next) -> Response:
        if request.args.text == "app":
            raise TApplicationException("go away", ApplicationExceptionType.PROTOCOL_ERROR)
        if request.args.text == "after":
            await service(request)  # the handler ran; the filter fails on the way out
        raise RuntimeError(f"filter broke on {request.args.text}")

    async def oneway_boom(request: Request, service: Next) -> Response:
        raise RuntimeError("oneway filter broke")

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, sync_handlers=mode,
            filters=[Tag("s", log), on("echo", server_boom, "boom"),
                     on("fire", oneway_boom, "oneway-boom")],
        )  # fmt: skip
        c = await make_aio_client(
            store.Store, port=server.port, timeout=5, filters=[on("ping", client_boom, "cb")]
        )
        try:
            with pytest.raises(ValueError, match="refused locally"):
                await c.ping()
            assert log == []  # raised before anything was sent
            for text in ("before", "after"):
                with pytest.raises(TApplicationException) as info:
                    await c.echo(text)
                assert info.value.type == ApplicationExceptionType.INTERNAL_ERROR
                assert f"RuntimeError: filter broke on {text}" in str(info.value)
            with pytest.raises(TApplicationException, match="go away") as info:
                await c.echo("app")
            assert info.value.type == ApplicationExceptionType.PROTOCOL_ERROR  # passed as-is
            assert await c.fire("x") is None
            # The server keeps serving, on the same connection.
            assert await c.add(1, 2) == 3
            assert c.connected
            assert server.connections == 1
            assert server.in_flight == 0
        finally:
            await c.close()
            await server.stop()

    with caplog.at_level(logging.ERROR, logger="swordfish.aio.server"):
        arun(main())
    assert "filter broke on before" in caplog.text
    assert "oneway filter broke" in caplog.text


def test_stack_roles_and_descriptions_print(arun: Run, store: ModuleType) -> None:
    stack = Stack(
        [Tag("auth", [], "checks the caller's token"), Tag("metrics", [], "counts calls")]
    )
    expected = (
        "Stack (async, outermost first):\n"
        "  1. auth     checks the caller's token\n"
        "  2. metrics  counts calls"
    )

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0, filters=stack)
        c = await make_aio_client(
            store.Store, port=server.port, filters=stack.remove("auth").prepend(Tag("x", []))
        )
        try:
            assert server.stack is stack
            assert str(server.stack) == expected
            assert c.stack.roles == ("x", "metrics")
            assert str(c.stack).splitlines()[2] == "  2. metrics  counts calls"
            assert await c.add(1, 1) == 2
        finally:
            await c.close()
            await server.stop()

    arun(main())
    assert str(AsyncClient(store.Store).stack) == "Stack (empty)"


def test_sync_filters_are_refused_by_the_aio_drivers(store: ModuleType) -> None:
    class SyncFilter(Filter[Request, Response, Request, Response]):
        role = "sync"

        def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
            return service(request)

    with pytest.raises(TypeError, match="holds sync filters: use build"):
        AsyncClient(store.Store, filters=[SyncFilter()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="holds sync filters: use build"):
        AsyncServer(store.Store, StoreHandler(store), filters=[SyncFilter()])  # type: ignore[list-item]


_FILTER_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("filter_var", default="unset")


@pytest.mark.parametrize("handler_kind", HANDLER_KINDS)
def test_server_filter_sees_current_request(
    arun: Run, store: ModuleType, handler_kind: str
) -> None:
    seen: list[tuple[str, Any, Any]] = []
    base, mode = make_handler(handler_kind, store)

    def note() -> None:
        # The handler sees the request as the filters left it, and the filter's variable.
        req = current_request()
        seen.append(("handler", req.args.text if req else None, _FILTER_VAR.get()))

    class SyncHandler(StoreHandler):
        def echo(self, text: str) -> str:
            note()
            return text

    class AsyncHandler(AsyncStoreHandler):
        async def echo(self, text: str) -> str:  # type: ignore[override]
            await asyncio.sleep(0)
            note()
            return text

    handler = (AsyncHandler if isinstance(base, AsyncStoreHandler) else SyncHandler)(store)

    class Observe(AsyncFilter[Request, Response, Request, Response]):
        role = "observe"
        description = "records current_request() across an await"

        async def __call__(self, request: Request, service: Next) -> Response:
            seen.append(("before", current_request() is request, request.context.seqid))
            token = _FILTER_VAR.set(f"set by filter for {request.args.text}")
            await asyncio.sleep(0)  # a real suspension: the rest runs in a task
            seen.append(("after-sleep", current_request() is request, _FILTER_VAR.get()))
            changed = Request(
                request.method, request.method.args(text=request.args.text + "?"), {},
                request.context,
            )  # fmt: skip
            response = await service(changed)
            seen.append(("after-call", current_request() is request, None))
            _FILTER_VAR.reset(token)  # same context throughout, so this must not raise
            return response

    async def main() -> None:
        server = await make_aio_server(
            store.Store, handler, port=0, sync_handlers=mode, filters=[Observe()]
        )
        c = await make_aio_client(store.Store, port=server.port, timeout=5)
        try:
            assert await c.echo("a") == "a?"
            assert await c.echo("b") == "b?"
        finally:
            await c.close()
            await server.stop()
        assert current_request() is None and _FILTER_VAR.get() == "unset"  # nothing leaked

    arun(main())
    first, second = seen[:4], seen[4:]
    for s, text in ((first, "a"), (second, "b")):
        assert s[0][:2] == ("before", True) and isinstance(s[0][2], int)
        assert s[1] == ("after-sleep", True, f"set by filter for {text}")
        assert s[2] == ("handler", f"{text}?", f"set by filter for {text}")
        assert s[3] == ("after-call", True, None)
    assert first[0][2] != second[0][2]  # each call's own seqid


def test_pool_with_filters(arun: Run, store: ModuleType) -> None:
    log: list[str] = []

    async def times_ten(request: Request, service: Next) -> Response:
        request.args = request.method.args(a=request.args.a * 10, b=request.args.b)
        return await service(request)

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        pool = await make_aio_pool(
            store.Store, port=server.port, max_size=2, timeout=5,
            filters=[Tag("p", log), on("add", times_ten, "x10")],
        )  # fmt: skip
        try:
            assert await pool.add(1, 2) == 12
            assert await pool.with_options(timeout=2).add(3, 0) == 30
            assert log == ["p:in:add", "p:out", "p:in:add", "p:out"]
            assert await asyncio.gather(*(pool.add(i, 0) for i in range(6))) == [
                10 * i for i in range(6)
            ]
            assert pool.size <= 2
        finally:
            await pool.close()
            await server.stop()

    arun(main())


def test_client_filters_see_deadlines_and_timeouts_keep_their_type(
    arun: Run, store: ModuleType
) -> None:
    deadlines: list[float | None] = []

    async def record(request: Request, service: Next) -> Response:
        deadlines.append(request.context.deadline)
        return await service(request)

    async def main() -> None:
        handler = AsyncStoreHandler(store)
        server = await make_aio_server(store.Store, handler, port=0)
        c = await make_aio_client(
            store.Store, port=server.port, timeout=5, filters=[on("slow", record, "rec")]
        )
        try:
            start = time.monotonic()
            assert await c.slow(0, 1) == 1
            assert deadlines[-1] is not None and start + 4 < deadlines[-1] <= start + 5.5
            with pytest.raises(TransportTimeout):
                await c.with_options(timeout=0.1).slow(2, 2)
            at = time.monotonic() + 0.1
            with pytest.raises(DeadlineExceeded):
                await c.with_options(deadline=at).slow(2, 3)
            assert deadlines[-1] == at
            assert await c.with_options(timeout=None).slow(0, 4) == 4
            assert deadlines[-1] is None
            # The raw call() goes through the filters as well.
            method = c.service.methods["slow"]
            result = await c.call("slow", method.args(seconds=0, value=5))
            assert result.success == 5 and len(deadlines) == 5
            assert c.connected  # timeouts never cost the connection
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_server_call_timeout_with_filters(arun: Run, store: ModuleType) -> None:
    log: list[str] = []

    async def main() -> None:
        server = await make_aio_server(
            store.Store, AsyncStoreHandler(store), port=0, call_timeout=0.2, filters=[Tag("s", log)]
        )
        c = await make_aio_client(store.Store, port=server.port, timeout=5)
        try:
            with pytest.raises(TApplicationException, match="did not answer within 0.2 s"):
                await c.slow(5, 1)
            assert log == ["s:in:slow"]  # cancelled inside the chain: never came back out
            assert await c.add(2, 2) == 4
            assert server.in_flight == 0
        finally:
            await c.close()
            await server.stop()

    arun(main())


def test_async_service_as_the_handler(arun: Run, store: ModuleType) -> None:
    """An ``AsyncService`` handler is the terminal itself, with or without filters."""

    async def terminal(request: Request) -> Response:
        await asyncio.sleep(0)
        if request.name == "add":
            return request.method.result(success=request.args.a * request.args.b)  # type: ignore[no-any-return]
        raise TApplicationException("only add here", ApplicationExceptionType.UNKNOWN_METHOD)

    async def main() -> None:
        for filters in ([], [Tag("s", [])]):
            server = await make_aio_server(
                store.Store, AsyncService.from_function(terminal), port=0, filters=filters
            )
            c = await make_aio_client(store.Store, port=server.port, timeout=5)
            try:
                assert await c.add(6, 7) == 42
                with pytest.raises(TApplicationException, match="only add here"):
                    await c.ping()
            finally:
                await c.close()
                await server.stop()

    arun(main())
