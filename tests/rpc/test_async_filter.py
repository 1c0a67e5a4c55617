"""AsyncService / AsyncFilter / Stack.build_async, without an event loop.

Nothing here waits on real I/O, so each awaitable is driven by hand (``drive``): the rpc layer
must work with plain ``async def`` and no asyncio. The real-socket tests are in
tests/aio/test_filters.py.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from swordfish.rpc import (
    AsyncFilter,
    AsyncFilteredService,
    AsyncService,
    Filter,
    Service,
    ServiceStatus,
    SimpleAsyncFilter,
    Stack,
)

T = TypeVar("T")


def drive(awaitable: Awaitable[T]) -> T:
    """Run an awaitable that never suspends (no loop needed) and return its value."""
    gen = awaitable.__await__()
    try:
        gen.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the awaitable suspended; these tests expect none to")


class ARecord(AsyncFilter[str, str, str, str]):
    """Appends its tag on the way in and on the way out."""

    def __init__(self, tag: str, log: list[str], description: str = "") -> None:
        self.role = tag
        self.description = description
        self.log = log

    async def __call__(self, request: str, service: AsyncService[str, str]) -> str:
        self.log.append(f"in:{self.role}")
        response = await service(f"{request}>{self.role}")
        self.log.append(f"out:{self.role}")
        return f"{response}<{self.role}"


class AEcho(AsyncService[str, str]):
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.closed = False

    async def __call__(self, request: str) -> str:
        self.log.append(f"svc:{request}")
        return "ok"

    async def close(self) -> None:
        self.closed = True


class SRecord(Filter[str, str, str, str]):
    role = "sync"

    def __call__(self, request: str, service: Service[str, str]) -> str:
        return service(request)


def test_and_then_service_runs_outer_first() -> None:
    log: list[str] = []
    svc = ARecord("a", log).and_then(ARecord("b", log)).and_then(AEcho(log))
    assert isinstance(svc, AsyncService)
    assert drive(svc("req")) == "ok<b<a"
    assert log == ["in:a", "in:b", "svc:req>a>b", "out:b", "out:a"]


def test_and_then_is_associative_and_roles_combine() -> None:
    log1: list[str] = []
    log2: list[str] = []
    left = ARecord("a", log1).and_then(ARecord("b", log1)).and_then(AEcho(log1))
    right = ARecord("a", log2).and_then(ARecord("b", log2).and_then(AEcho(log2)))
    assert drive(left("x")) == drive(right("x"))
    assert log1 == log2
    pair = ARecord("a", []).and_then(ARecord("b", []))
    assert isinstance(pair, AsyncFilter)
    assert (pair.role, pair.description) == ("a+b", "a then b")


def test_sync_and_async_do_not_compose() -> None:
    with pytest.raises(TypeError, match="async filter cannot wrap SRecord"):
        ARecord("a", []).and_then(SRecord())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="sync filter cannot wrap AEcho"):
        SRecord().and_then(AEcho([]))  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="AsyncService.from_function"):
        ARecord("a", []).and_then(lambda r: r)  # type: ignore[call-overload]


def test_short_circuit_and_request_change() -> None:
    calls: list[str] = []

    async def deny(request: str, service: AsyncService[str, str]) -> str:
        if request == "bad":
            return "denied"
        return await service(request.upper())

    svc = AsyncFilter.from_function(deny, role="deny").and_then(AEcho(calls))
    assert drive(svc("bad")) == "denied"
    assert calls == []
    assert drive(svc("good")) == "ok"
    assert calls == ["svc:GOOD"]


def test_raising_filter_propagates() -> None:
    async def boom(request: str, service: AsyncService[str, str]) -> str:
        raise LookupError(f"no {request}")

    log: list[str] = []
    svc = ARecord("outer", log).and_then(AsyncFilter.from_function(boom, role="boom"))
    with pytest.raises(LookupError, match="no x>outer"):
        drive(svc.and_then(AEcho(log))("x"))
    assert log == ["in:outer"]  # the outer filter saw the error pass (no "out:")


def test_function_service_and_filter_basics() -> None:
    async def upper(request: str) -> str:
        return request.upper()

    svc = AsyncService.from_function(upper)
    assert drive(svc("hi")) == "HI"
    assert "upper" in repr(svc)
    f: SimpleAsyncFilter[str, str] = AsyncFilter.from_function(
        lambda r, s: s(r), role="noop", description="does nothing"
    )
    assert (f.role, f.description) == ("noop", "does nothing")
    assert repr(f) == "<AsyncFunctionFilter role='noop'>"
    # fn may be a plain function handing back the next service's awaitable.
    assert drive(f.and_then(svc)("ok")) == "OK"


def test_filtered_service_delegates_close_and_status() -> None:
    echo = AEcho([])
    svc = ARecord("a", []).and_then(echo)
    assert isinstance(svc, AsyncFilteredService)
    assert svc.status is ServiceStatus.OPEN
    drive(svc.close())
    assert echo.closed
    drive(AsyncService.from_function(AEcho([])).close())  # the default close is a no-op


# -- Stack ---------------------------------------------------------------------------------------


def make_stack(log: list[str]) -> Stack:
    return Stack([ARecord("deadline", log, "sets each call's deadline"), ARecord("metrics", log)])


def test_stack_build_async_outermost_first() -> None:
    log: list[str] = []
    stack = make_stack(log)
    assert stack.is_async
    svc = stack.build_async(AEcho(log))
    assert drive(svc("r")) == "ok<metrics<deadline"
    assert log == [
        "in:deadline",
        "in:metrics",
        "svc:r>deadline>metrics",
        "out:metrics",
        "out:deadline",
    ]


def test_async_stack_prints_and_edits_like_a_sync_one() -> None:
    stack = make_stack([])
    assert str(stack) == (
        "Stack (async, outermost first):\n  1. deadline  sets each call's deadline\n  2. metrics"
    )
    edited = stack.insert_after("deadline", ARecord("retry", [], "retries"))
    assert edited.roles == ("deadline", "retry", "metrics")
    assert edited["retry"].description == "retries"
    assert stack.roles == ("deadline", "metrics")


def test_stack_refuses_mixed_kinds_and_wrong_build() -> None:
    with pytest.raises(TypeError, match=r"cannot mix sync and async filters: a \(async\), sync"):
        Stack([ARecord("a", []), SRecord()])
    with pytest.raises(TypeError, match="cannot mix"):
        make_stack([]).append(SRecord())
    with pytest.raises(TypeError, match="use build_async"):
        make_stack([]).build(Service.from_function(lambda r: r))
    with pytest.raises(TypeError, match="use build\\(\\)"):
        Stack([SRecord()]).build_async(AEcho([]))
    empty = Stack()
    assert not empty.is_async
    echo: Any = AEcho([])
    assert empty.build_async(echo) is echo
