from __future__ import annotations

import logging
from typing import Any

import pytest

from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.rpc import (
    Context,
    Dispatcher,
    Request,
    current_deadline,
    current_headers,
    current_request,
)

from .specs import CALC, Handler, InvalidOp, Overflow


def dispatch(handler: object, req: Request) -> Any:
    return Dispatcher(CALC, handler)(req)


def request(name: str, *args: Any, **kwargs: Any) -> Request:
    method = CALC.methods[name]
    return Request(method, method.args(*args, **kwargs))


def test_return_value_becomes_success() -> None:
    result = dispatch(Handler(), request("add", 2, 3))
    assert result.success == 5
    assert type(result) is CALC.methods["add"].result


def test_arguments_are_passed_in_declaration_order() -> None:
    result = dispatch(Handler(), request("subtract", b=1, a=10))
    assert result.success == 9


def test_void_method_gives_empty_result() -> None:
    result = dispatch(Handler(), request("ping"))
    assert result is not None
    assert type(result).__name__ == "ping_result"
    assert result._sf_names == ()


@pytest.mark.parametrize(
    ("b", "field", "expected"),
    [(0, "ouch", InvalidOp(what=7, why="divide by zero")), (1, "big", Overflow(limit=1000))],
)
def test_declared_exception_goes_into_its_field(b: int, field: str, expected: Any) -> None:
    a = 7 if b == 0 else 5000
    result = dispatch(Handler(), request("divide", a, b))
    assert getattr(result, field) == expected
    assert result.success is None
    other = {"ouch", "big"} - {field}
    assert all(getattr(result, f) is None for f in other)


def test_undeclared_exception_becomes_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "swordfish.dispatch"):
        with pytest.raises(TApplicationException) as info:
            dispatch(Handler(), request("divide", 1, -1))
    assert info.value.type == ApplicationExceptionType.INTERNAL_ERROR
    assert info.value.message == "ValueError: negative divisor"
    assert isinstance(info.value.__cause__, ValueError)
    assert "Calc.divide raised an undeclared ValueError" in caplog.text
    assert caplog.records[0].exc_info is not None  # traceback logged


def test_handler_tapplicationexception_passes_through() -> None:
    class H(Handler):
        def add(self, a: int, b: int) -> int:
            raise TApplicationException("go away", ApplicationExceptionType.PROTOCOL_ERROR)

    with pytest.raises(TApplicationException) as info:
        dispatch(H(), request("add", 1, 2))
    assert (info.value.type, info.value.message) == (
        ApplicationExceptionType.PROTOCOL_ERROR,
        "go away",
    )


def test_missing_handler_method_is_unknown_method() -> None:
    class Partial:
        def add(self, a: int, b: int) -> int:
            return a + b

    with pytest.raises(TApplicationException) as info:
        dispatch(Partial(), request("subtract", 1, 2))
    assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert "Calc.subtract" in info.value.message


def test_oneway_runs_and_returns_nothing_even_on_error(caplog: pytest.LogCaptureFixture) -> None:
    handler = Handler()
    dispatch = Dispatcher(CALC, handler)
    assert dispatch(request("zip", 3)) is None
    with caplog.at_level(logging.ERROR, "swordfish.dispatch"):
        assert dispatch(request("zip", -1)) is None
    assert handler.zipped == [3, -1]
    assert "oneway Calc.zip failed" in caplog.text


def test_non_void_handler_returning_none_leaves_success_unset() -> None:
    class H(Handler):
        def add(self, a: int, b: int) -> Any:
            return None

    result = dispatch(H(), request("add", 1, 2))
    assert result.success is None


def test_handler_sees_the_current_request() -> None:
    seen: dict[str, Any] = {}

    class H(Handler):
        def echo(self, text: str) -> str:
            req = current_request()
            assert req is not None
            seen["name"] = req.name
            seen["headers"] = dict(current_headers())
            seen["deadline"] = current_deadline()
            return text

    req = request("echo", "hi")
    req.headers["trace"] = "abc"
    req.context = Context(deadline=123.0)
    Dispatcher(CALC, H())(req)
    assert seen == {"name": "echo", "headers": {"trace": "abc"}, "deadline": 123.0}
    assert current_request() is None
    assert dict(current_headers()) == {}
    assert current_deadline() is None
