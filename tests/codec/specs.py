"""Hand-built struct classes for the codec tests (no IDL loader involved).

Built with ``make_struct_class`` + ``bind_spec`` exactly as the IDL builder does, so the codec is
tested against the model contract alone. ``T`` holds short TypeSpec constructors.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from swordfish.model import (
    FieldSpec,
    Requiredness,
    Struct,
    StructKind,
    StructSpec,
    TType,
    TypeSpec,
    bind_spec,
    make_struct_class,
)

__all__ = [
    "T",
    "define",
    "Color",
    "Inner",
    "AllTypes",
    "Containers",
    "Choice",
    "Oops",
    "Strict",
    "Node",
    "Empty",
    "Ids",
    "Bools",
    "sample_all_types",
    "sample_containers",
]


class T:
    """Short constructors for TypeSpec values."""

    BOOL = TypeSpec(TType.BOOL)
    BYTE = TypeSpec(TType.BYTE)
    I16 = TypeSpec(TType.I16)
    I32 = TypeSpec(TType.I32)
    I64 = TypeSpec(TType.I64)
    DOUBLE = TypeSpec(TType.DOUBLE)
    STRING = TypeSpec(TType.STRING)
    BINARY = TypeSpec(TType.STRING, binary=True)
    UUID = TypeSpec(TType.UUID)

    @staticmethod
    def list(v: TypeSpec) -> TypeSpec:
        return TypeSpec(TType.LIST, value=v)

    @staticmethod
    def set(v: TypeSpec) -> TypeSpec:
        return TypeSpec(TType.SET, value=v)

    @staticmethod
    def map(k: TypeSpec, v: TypeSpec) -> TypeSpec:
        return TypeSpec(TType.MAP, key=k, value=v)

    @staticmethod
    def struct(cls: type) -> TypeSpec:
        return TypeSpec(TType.STRUCT, struct=cls)

    @staticmethod
    def enum(cls: type) -> TypeSpec:
        return TypeSpec(TType.I32, enum=cls)


def define(
    name: str,
    fields: list[tuple[Any, ...]],
    kind: StructKind = StructKind.STRUCT,
    cls: type[Struct] | None = None,
) -> Any:
    """Struct class from ``(id, name, TypeSpec[, Requiredness[, default]])`` tuples.

    Pass ``cls`` (from ``make_struct_class``) to bind a class created earlier (recursion).
    """
    specs = []
    for f in fields:
        fid, fname, ts = f[:3]
        req = f[3] if len(f) > 3 else Requiredness.DEFAULT
        default = f[4] if len(f) > 4 else None
        specs.append(FieldSpec(fid, fname, ts, req, default))
    if cls is None:
        cls = make_struct_class(name, kind, [f[1] for f in fields], __name__)
    bind_spec(cls, StructSpec(name, kind, tuple(specs)))
    return cls


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2
    BLUE = 42


Inner = define("Inner", [(1, "num", T.I32), (2, "text", T.STRING)])

AllTypes = define(
    "AllTypes",
    [
        (1, "a_bool", T.BOOL),
        (2, "a_byte", T.BYTE),
        (3, "a_i16", T.I16),
        (4, "a_i32", T.I32),
        (5, "a_i64", T.I64),
        (6, "a_double", T.DOUBLE),
        (7, "a_string", T.STRING),
        (8, "a_binary", T.BINARY),
        (9, "a_uuid", T.UUID),
        (10, "a_struct", T.struct(Inner)),
        (11, "a_enum", T.enum(Color)),
    ],
)

Containers = define(
    "Containers",
    [
        (1, "ints", T.list(T.I32)),
        (2, "strings", T.set(T.STRING)),
        (3, "counts", T.map(T.STRING, T.I64)),
        (4, "bools", T.list(T.BOOL)),
        (5, "nested", T.list(T.list(T.I16))),
        (6, "structs", T.list(T.struct(Inner))),
        (7, "by_name", T.map(T.STRING, T.struct(Inner))),
        (8, "list_keys", T.map(T.list(T.I32), T.STRING)),
        (9, "set_keys", T.map(T.set(T.I16), T.BOOL)),
        (10, "set_of_lists", T.set(T.list(T.BYTE))),
        (11, "doubles", T.list(T.DOUBLE)),
        (12, "blobs", T.list(T.BINARY)),
        (13, "uuids", T.set(T.UUID)),
        (14, "bytes_", T.list(T.BYTE)),
        (15, "i64s", T.set(T.I64)),
        (16, "map_of_maps", T.map(T.I32, T.map(T.STRING, T.list(T.BOOL)))),
        (17, "bool_set", T.set(T.BOOL)),
    ],
)

Choice = define(
    "Choice",
    [(1, "number", T.I32), (2, "word", T.STRING), (3, "inner", T.struct(Inner))],
    StructKind.UNION,
)

Oops = define("Oops", [(1, "message", T.STRING), (2, "code", T.I32)], StructKind.EXCEPTION)

Strict = define(
    "Strict",
    [(1, "must", T.I32, Requiredness.REQUIRED), (2, "maybe", T.STRING, Requiredness.OPTIONAL)],
)

_node = make_struct_class("Node", StructKind.STRUCT, ["value", "children"], __name__)
Node = define("Node", [(1, "value", T.I32), (2, "children", T.list(T.struct(_node)))], cls=_node)

Empty = define("Empty", [])

#: Field ids chosen to exercise compact delta vs long-form headers (and a negative id).
Ids = define(
    "Ids",
    [
        (-3, "neg", T.I32),
        (1, "one", T.I32),
        (16, "sixteen", T.I32),
        (17, "seventeen", T.I32),
        (40, "forty", T.I32),
        (300, "big", T.I32),
    ],
)

Bools = define("Bools", [(1, "yes", T.BOOL), (2, "no", T.BOOL), (3, "many", T.list(T.BOOL))])


def sample_all_types() -> Any:
    return AllTypes(
        a_bool=True,
        a_byte=-128,
        a_i16=-32768,
        a_i32=2**31 - 1,
        a_i64=-(2**63),
        a_double=-1.5e300,
        a_string="héllo ✓ \U0001f600",
        a_binary=b"\x00\xff\x80binary",
        a_uuid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        a_struct=Inner(7, "seven"),
        a_enum=Color.BLUE,
    )


def sample_containers() -> Any:
    return Containers(
        ints=[0, -1, 2**31 - 1, -(2**31)],
        strings={"a", "ß", ""},
        counts={"x": 1, "y": -(2**63)},
        bools=[True, False, True],
        nested=[[1, 2], [], [-3]],
        structs=[Inner(1, "a"), Inner(None, None)],
        by_name={"k": Inner(2, "b")},
        list_keys={(1, 2): "one-two", (): "empty"},
        set_keys={frozenset({1, 2}): True, frozenset(): False},
        set_of_lists=[[1, 2], [3]],
        doubles=[0.0, -0.0, 1e-300, float("inf")],
        blobs=[b"", b"\x00" * 20],
        uuids={uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)},
        bytes_=[-1, 0, 127],
        i64s={2**62, -5},
        map_of_maps={1: {"a": [True]}, -2: {}},
        bool_set={True, False},
    )
