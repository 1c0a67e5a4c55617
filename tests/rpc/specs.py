"""A Calculator-like service built by hand from model types (no IDL loader needed)."""

from __future__ import annotations

from typing import Any

from swordfish.model import (
    FieldSpec,
    MethodSpec,
    ServiceSpec,
    StructKind,
    StructSpec,
    TType,
    TypeSpec,
    bind_spec,
    make_service_class,
    make_struct_class,
)

I32 = TypeSpec(TType.I32)
STRING = TypeSpec(TType.STRING)


def struct(name: str, kind: StructKind, *fields: FieldSpec) -> Any:
    cls = make_struct_class(name, kind, [f.name for f in fields], __name__)
    bind_spec(cls, StructSpec(name, kind, tuple(fields)))
    return cls


InvalidOp = struct(
    "InvalidOp", StructKind.EXCEPTION, FieldSpec(1, "what", I32), FieldSpec(2, "why", STRING)
)
Overflow = struct("Overflow", StructKind.EXCEPTION, FieldSpec(1, "limit", I32))
INVALID_OP = TypeSpec(TType.STRUCT, struct=InvalidOp)
OVERFLOW = TypeSpec(TType.STRUCT, struct=Overflow)


def method(
    name: str,
    params: tuple[FieldSpec, ...] = (),
    returns: TypeSpec | None = None,
    throws: tuple[FieldSpec, ...] = (),
    *,
    oneway: bool = False,
) -> MethodSpec:
    args = struct(f"{name}_args", StructKind.STRUCT, *params)
    result = None
    if not oneway:
        fields = ((FieldSpec(0, "success", returns),) if returns is not None else ()) + throws
        result = struct(f"{name}_result", StructKind.STRUCT, *fields)
    return MethodSpec(name, "Calc", args, result, oneway, returns, throws)


METHODS = [
    method("ping"),
    method("add", (FieldSpec(1, "a", I32), FieldSpec(2, "b", I32)), I32),
    method("subtract", (FieldSpec(1, "a", I32), FieldSpec(2, "b", I32)), I32),
    method(
        "divide",
        (FieldSpec(1, "a", I32), FieldSpec(2, "b", I32)),
        I32,
        (FieldSpec(1, "ouch", INVALID_OP), FieldSpec(2, "big", OVERFLOW)),
    ),
    method("echo", (FieldSpec(1, "text", STRING),), STRING),
    method("close", (), STRING),
    method("zip", (FieldSpec(1, "n", I32),), oneway=True),
]
CALC = ServiceSpec("Calc", {m.name: m for m in METHODS})
Calc = make_service_class(CALC, __name__)


class Handler:
    def __init__(self) -> None:
        self.zipped: list[int] = []

    def ping(self) -> None:
        return None

    def add(self, a: int, b: int) -> int:
        return a + b

    def subtract(self, a: int, b: int) -> int:
        return a - b

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise InvalidOp(what=a, why="divide by zero")
        if a > 1000:
            raise Overflow(limit=1000)
        if b < 0:
            raise ValueError("negative divisor")
        return a // b

    def echo(self, text: str) -> str:
        return text

    def close(self) -> str:
        return "remote close"

    def zip(self, n: int) -> None:
        self.zipped.append(n)
        if n < 0:
            raise RuntimeError("bad zip")
