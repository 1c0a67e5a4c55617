"""A Calculator service built by hand from model constructors (no IDL), for engine tests."""

from __future__ import annotations

from swordfish.model import (
    FieldSpec,
    MethodSpec,
    Requiredness,
    ServiceSpec,
    StructKind,
    StructSpec,
    TType,
    TypeSpec,
    bind_spec,
    make_struct_class,
)

I32 = TypeSpec(TType.I32)
STR = TypeSpec(TType.STRING)
MOD = "tests.protocol.calc_spec"


def _struct(name: str, kind: StructKind, *fields: FieldSpec) -> type:
    cls = make_struct_class(name, kind, [f.name for f in fields], MOD)
    bind_spec(cls, StructSpec(name, kind, tuple(fields)))
    return cls


Oops = _struct("Oops", StructKind.EXCEPTION, FieldSpec(1, "why", STR))
OOPS = TypeSpec(TType.STRUCT, struct=Oops)

add_args = _struct("add_args", StructKind.STRUCT, FieldSpec(1, "a", I32), FieldSpec(2, "b", I32))
add_result = _struct(
    "add_result",
    StructKind.STRUCT,
    FieldSpec(0, "success", I32),
    FieldSpec(1, "oops", OOPS, Requiredness.OPTIONAL),
)
ping_args = _struct("ping_args", StructKind.STRUCT)
ping_result = _struct("ping_result", StructKind.STRUCT)
zip_args = _struct("zip_args", StructKind.STRUCT, FieldSpec(1, "n", I32))

ADD = MethodSpec(
    "add", "Calc", add_args, add_result, returns=I32, throws=(add_result.__thrift_spec__.by_id[1],)
)
PING = MethodSpec("ping", "Calc", ping_args, ping_result)
ZIP = MethodSpec("zip", "Calc", zip_args, None, oneway=True)

CALC = ServiceSpec("Calc", {"add": ADD, "ping": PING, "zip": ZIP})
SMALL = ServiceSpec("Small", {"ping": PING})
