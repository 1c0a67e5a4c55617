"""Compiled type descriptions: THE table both codecs (Python and C) read.

A struct class carries one ``StructSpec`` in ``__thrift_spec__``. It is built once, when the IDL
is loaded, so encoding and decoding never re-derive anything per call. Everything here is
immutable plain data except ``TypeSpec.struct``, which may point to a class whose own spec is
filled in later (recursive types are built in two phases: classes first, then field tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .ttype import TType

__all__ = ["Requiredness", "TypeSpec", "FieldSpec", "StructSpec", "StructKind"]


class Requiredness(IntEnum):
    DEFAULT = 0
    REQUIRED = 1
    OPTIONAL = 2


class StructKind(IntEnum):
    STRUCT = 0
    UNION = 1
    EXCEPTION = 2


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """One Thrift type.

    ttype: the wire type id.
    binary: for STRING only: the value is ``bytes`` (``binary``), not ``str``.
    key: MAP key type.
    value: MAP value type, or the LIST/SET element type.
    struct: STRUCT class (has ``__thrift_spec__``).
    enum: for I32 only: the IntEnum class of an IDL enum (values still decode as plain ints,
        so unknown values from newer peers never fail).
    name: the IDL spelling, for error messages and ``repr``.
    """

    ttype: TType
    binary: bool = False
    key: TypeSpec | None = None
    value: TypeSpec | None = None
    struct: type | None = None
    enum: type | None = None
    name: str = ""

    def __repr__(self) -> str:
        return f"TypeSpec({self.describe()})"

    def describe(self) -> str:
        if self.name:
            return self.name
        t = self.ttype
        if t == TType.STRING:
            return "binary" if self.binary else "string"
        if t == TType.STRUCT and self.struct is not None:
            return self.struct.__name__
        if t == TType.LIST and self.value is not None:
            return f"list<{self.value.describe()}>"
        if t == TType.SET and self.value is not None:
            return f"set<{self.value.describe()}>"
        if t == TType.MAP and self.key is not None and self.value is not None:
            return f"map<{self.key.describe()},{self.value.describe()}>"
        return {TType.BYTE: "i8"}.get(t, t.name.lower())


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One struct field. ``default`` is the IDL default (``None`` = no default).

    Mutable defaults (lists, sets, maps, structs) are copied for every new instance by the
    struct constructor; ``default_is_mutable`` is precomputed so that costs nothing otherwise.
    """

    id: int
    name: str
    type: TypeSpec
    requiredness: Requiredness = Requiredness.DEFAULT
    default: Any = None
    annotations: tuple[tuple[str, str], ...] = ()
    default_is_mutable: bool = False

    @property
    def required(self) -> bool:
        return self.requiredness == Requiredness.REQUIRED

    @property
    def optional(self) -> bool:
        return self.requiredness == Requiredness.OPTIONAL


@dataclass(frozen=True, slots=True)
class StructSpec:
    """The field table of one struct, union or exception.

    fields: declaration order (used for positional constructor arguments and ``repr``).
    by_id: field id -> FieldSpec (what decoders look up).
    by_name: attribute name -> FieldSpec.
    """

    name: str
    kind: StructKind
    fields: tuple[FieldSpec, ...]
    by_id: dict[int, FieldSpec] = field(default_factory=dict, compare=False)
    by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False)
    annotations: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        ids: dict[int, FieldSpec] = {}
        names: dict[str, FieldSpec] = {}
        for f in self.fields:
            if f.id in ids:
                raise ValueError(f"{self.name}: duplicate field id {f.id}")
            if f.name in names:
                raise ValueError(f"{self.name}: duplicate field name {f.name!r}")
            ids[f.id] = f
            names[f.name] = f
        self.by_id.update(ids)
        self.by_name.update(names)
