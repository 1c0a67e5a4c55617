from __future__ import annotations

import pytest

from swordfish.rpc import Filter, FilteredService, Service, ServiceStatus, SimpleFilter, Stack


class Record(Filter[str, str, str, str]):
    """Appends its tag on the way in and on the way out."""

    def __init__(self, tag: str, log: list[str], description: str = "") -> None:
        self.role = tag
        self.description = description
        self.log = log

    def __call__(self, request: str, service: Service[str, str]) -> str:
        self.log.append(f"in:{self.role}")
        response = service(f"{request}>{self.role}")
        self.log.append(f"out:{self.role}")
        return f"{response}<{self.role}"


class Echo(Service[str, str]):
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.closed = False

    def __call__(self, request: str) -> str:
        self.log.append(f"svc:{request}")
        return "ok"

    def close(self) -> None:
        self.closed = True


def test_filter_and_then_service_runs_outer_first() -> None:
    log: list[str] = []
    svc = Record("a", log).and_then(Record("b", log)).and_then(Echo(log))
    assert isinstance(svc, Service)
    assert svc("req") == "ok<b<a"
    assert log == ["in:a", "in:b", "svc:req>a>b", "out:b", "out:a"]


def test_and_then_is_associative() -> None:
    log1: list[str] = []
    log2: list[str] = []
    left = Record("a", log1).and_then(Record("b", log1)).and_then(Echo(log1))
    right = Record("a", log2).and_then(Record("b", log2).and_then(Echo(log2)))
    assert left("x") == right("x")
    assert log1 == log2


def test_composed_filter_has_combined_role() -> None:
    f = Record("a", []).and_then(Record("b", []))
    assert isinstance(f, Filter)
    assert f.role == "a+b"


def test_and_then_rejects_plain_functions() -> None:
    with pytest.raises(TypeError, match="Service.from_function"):
        Record("a", []).and_then(lambda r: r)  # type: ignore[call-overload]


def test_filter_can_short_circuit() -> None:
    calls: list[str] = []

    def deny(request: str, service: Service[str, str]) -> str:
        return "denied" if request == "bad" else service(request)

    svc = Filter.from_function(deny, role="deny").and_then(Echo(calls))
    assert svc("bad") == "denied"
    assert calls == []
    assert svc("good") == "ok"
    assert calls == ["svc:good"]


def test_type_changing_filter() -> None:
    """A filter may change types, e.g. serialize str -> bytes and parse the reply."""

    class Encode(Filter[str, int, bytes, bytes]):
        role = "encode"

        def __call__(self, request: str, service: Service[bytes, bytes]) -> int:
            return int(service(request.encode()))

    length: Service[bytes, bytes] = Service.from_function(lambda b: str(len(b)).encode())
    svc: Service[str, int] = Encode().and_then(length)
    assert svc("héllo") == 6


def test_filtered_service_delegates_close_and_status() -> None:
    echo = Echo([])
    svc = Record("a", []).and_then(echo)
    assert isinstance(svc, FilteredService)
    assert svc.status is ServiceStatus.OPEN
    svc.close()
    assert echo.closed


def test_function_filter_keeps_role_and_description() -> None:
    f: SimpleFilter[str, str] = Filter.from_function(
        lambda r, s: s(r), role="noop", description="does nothing"
    )
    assert (f.role, f.description) == ("noop", "does nothing")
    assert repr(f) == "<FunctionFilter role='noop'>"


# -- Stack -------------------------------------------------------------------------------------


def make_stack(log: list[str]) -> Stack:
    return Stack(
        [
            Record("timeout", log, "bounds each call"),
            Record("retry", log, "retries idempotent failures"),
            Record("metrics", log),
        ]
    )


def test_stack_builds_outermost_first() -> None:
    log: list[str] = []
    svc = make_stack(log).build(Echo(log))
    assert svc("r") == "ok<metrics<retry<timeout"
    assert log[:3] == ["in:timeout", "in:retry", "in:metrics"]


def test_stack_prints_roles_and_descriptions() -> None:
    assert str(make_stack([])) == (
        "Stack (outermost first):\n"
        "  1. timeout  bounds each call\n"
        "  2. retry    retries idempotent failures\n"
        "  3. metrics"
    )
    assert str(Stack()) == "Stack (empty)"
    assert repr(make_stack([])) == "Stack(['timeout', 'retry', 'metrics'])"


def test_stack_edits_by_role_return_new_stacks() -> None:
    log: list[str] = []
    stack = make_stack(log)
    new = Record("auth", log)
    assert stack.insert_before("retry", new).roles == ("timeout", "auth", "retry", "metrics")
    assert stack.insert_after("retry", new).roles == ("timeout", "retry", "auth", "metrics")
    assert stack.prepend(new).roles == ("auth", "timeout", "retry", "metrics")
    assert stack.append(new).roles == ("timeout", "retry", "metrics", "auth")
    assert stack.remove("retry").roles == ("timeout", "metrics")
    replaced = stack.replace("retry", Record("retry", log, "a different retry"))
    assert replaced["retry"].description == "a different retry"
    assert replaced.roles == stack.roles
    # The original is untouched.
    assert stack.roles == ("timeout", "retry", "metrics")
    assert stack["retry"].description == "retries idempotent failures"
    assert "retry" in stack and "auth" not in stack
    assert len(stack) == 3


def test_stack_rejects_duplicates_and_unknown_roles() -> None:
    with pytest.raises(ValueError, match="duplicate role 'a'"):
        Stack([Record("a", []), Record("a", [])])
    stack = make_stack([])
    with pytest.raises(ValueError, match="duplicate role 'retry'"):
        stack.append(Record("retry", []))
    with pytest.raises(KeyError, match="no filter with role 'nope'"):
        stack.remove("nope")
    with pytest.raises(TypeError, match="holds Filters"):
        Stack([Echo([])])  # type: ignore[list-item]


def test_empty_stack_builds_the_service_itself() -> None:
    echo = Echo([])
    assert Stack().build(echo) is echo
