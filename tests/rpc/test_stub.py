from __future__ import annotations

import pytest

from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.rpc import (
    Context,
    Dispatcher,
    Filter,
    Request,
    Response,
    Service,
    Stack,
    Stub,
    unwrap,
)

from .specs import CALC, Handler, InvalidOp, Overflow


def loopback(handler: object | None = None, filters: Stack | None = None) -> Stub:
    """A stub wired straight to a dispatcher: both ends of the rpc layer, no bytes."""
    service: Service[Request, Response] = Dispatcher(CALC, handler or Handler())
    if filters is not None:
        service = filters.build(service)
    return Stub(CALC, service)


def test_positional_and_keyword_calls() -> None:
    stub = loopback()
    assert stub.add(1, 2) == 3
    assert stub.subtract(b=2, a=10) == 8
    assert stub.subtract(10, b=3) == 7
    assert stub.echo("héllo") == "héllo"


def test_void_returns_none() -> None:
    assert loopback().ping() is None


def test_declared_exceptions_are_raised() -> None:
    stub = loopback()
    with pytest.raises(InvalidOp) as info:
        stub.divide(1, 0)
    assert info.value == InvalidOp(what=1, why="divide by zero")
    with pytest.raises(Overflow):
        stub.divide(5000, 1)


def test_undeclared_error_arrives_as_tapplicationexception() -> None:
    with pytest.raises(TApplicationException, match="ValueError: negative divisor"):
        loopback().divide(1, -1)


def test_missing_result_for_non_void() -> None:
    class H(Handler):
        def add(self, a: int, b: int) -> int:
            return None  # type: ignore[return-value]

    with pytest.raises(TApplicationException) as info:
        loopback(H()).add(1, 2)
    assert info.value.type == ApplicationExceptionType.MISSING_RESULT


def test_unwrap_prefers_success_then_exceptions_in_order() -> None:
    method = CALC.methods["divide"]
    assert method.result is not None
    assert unwrap(method, method.result(success=4, ouch=InvalidOp(what=1))) == 4
    with pytest.raises(InvalidOp):
        unwrap(method, method.result(ouch=InvalidOp(what=1), big=Overflow(limit=1)))


def test_oneway_returns_none() -> None:
    handler = Handler()
    assert loopback(handler).zip(5) is None
    assert handler.zipped == [5]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add(1, 2, 3), r"add\(\) takes at most 2 argument\(s\) \(3 given\)"),
        (lambda s: s.add(1, c=2), r"add\(\) got an unexpected argument 'c'"),
        (lambda s: s.add(1, a=2), r"add\(\) got multiple values for argument 'a'"),
    ],
)
def test_bad_arguments_name_the_method(call: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        call(loopback())  # type: ignore[operator]


def test_unknown_attribute_names_the_service() -> None:
    with pytest.raises(AttributeError, match="service Calc has no method 'nope'"):
        loopback().nope  # noqa: B018


def test_every_idl_name_is_reachable_including_close() -> None:
    stub = loopback()
    assert stub.close() == "remote close"
    assert dir(stub) == sorted(CALC.methods)
    assert "add" in repr(stub)


def test_method_metadata_for_help() -> None:
    add = loopback().add
    assert add.__name__ == "add"
    assert add.__doc__ == "i32 Calc.add(a=None, b=None)"
    assert loopback().divide.__doc__ == (
        "i32 Calc.divide(a=None, b=None) throws (InvalidOp, Overflow)"
    )
    assert loopback().zip.__doc__ == "oneway void Calc.zip(n=None)"


def test_stub_requests_flow_through_filters_with_context() -> None:
    seen: list[tuple[str, dict[str, str], float | None]] = []

    def tag(request: Request, service: Service[Request, Response]) -> Response:
        request.headers["tagged"] = "yes"
        seen.append((request.name, dict(request.headers), request.context.deadline))
        return service(request)

    service = Stack([Filter.from_function(tag, role="tag")]).build(Dispatcher(CALC, Handler()))
    stub = Stub(CALC, service, make_context=lambda m: Context(deadline=42.0))
    assert stub.add(2, 2) == 4
    assert seen == [("add", {"tagged": "yes"}, 42.0)]


def test_filters_see_declared_exceptions_as_results() -> None:
    """A declared exception is an answer: filters see it in the result struct, not raised."""
    outcomes: list[str] = []

    def observe(request: Request, service: Service[Request, Response]) -> Response:
        result = service(request)
        outcomes.append("ouch" if getattr(result, "ouch", None) is not None else "ok")
        return result

    stub = loopback(filters=Stack([Filter.from_function(observe, role="observe")]))
    with pytest.raises(InvalidOp):
        stub.divide(1, 0)
    assert stub.divide(4, 2) == 2
    assert outcomes == ["ouch", "ok"]
