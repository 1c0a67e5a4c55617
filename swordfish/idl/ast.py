"""The syntax tree of one .thrift file: frozen dataclasses, nothing resolved yet.

Every node keeps ``pos``, the character offset of the token an error about it should point at
(a definition's name, a field's name, a type's first token, a literal). Names are kept exactly
as spelled (``shared.Name``); ``resolve.py`` decides what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Annotations",
    "BaseType",
    "BoolValue",
    "Const",
    "Definition",
    "Document",
    "DoubleValue",
    "Enum",
    "EnumMember",
    "Field",
    "Function",
    "IdentValue",
    "Include",
    "IntValue",
    "ListType",
    "ListValue",
    "MapType",
    "MapValue",
    "NamedType",
    "Namespace",
    "Service",
    "SetType",
    "StringValue",
    "Struct",
    "TypeRef",
    "Typedef",
    "Value",
]

Annotations = tuple[tuple[str, str], ...]


# -- types --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaseType:
    """``bool``, ``i32``, ``string``, ``binary``, ``uuid``, ... (``slist`` means ``string``)."""

    pos: int
    name: str
    annotations: Annotations = ()


@dataclass(frozen=True, slots=True)
class NamedType:
    """A reference to a typedef, enum, struct, union or exception, maybe ``include.Name``."""

    pos: int
    name: str
    annotations: Annotations = ()


@dataclass(frozen=True, slots=True)
class ListType:
    pos: int
    elem: TypeRef
    annotations: Annotations = ()


@dataclass(frozen=True, slots=True)
class SetType:
    pos: int
    elem: TypeRef
    annotations: Annotations = ()


@dataclass(frozen=True, slots=True)
class MapType:
    pos: int
    key: TypeRef
    value: TypeRef
    annotations: Annotations = ()


TypeRef = BaseType | NamedType | ListType | SetType | MapType


# -- constant values ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntValue:
    pos: int
    value: int


@dataclass(frozen=True, slots=True)
class DoubleValue:
    pos: int
    value: float


@dataclass(frozen=True, slots=True)
class StringValue:
    pos: int
    value: str


@dataclass(frozen=True, slots=True)
class BoolValue:
    pos: int
    value: bool


@dataclass(frozen=True, slots=True)
class IdentValue:
    """A reference to a constant or enum member: ``MAX``, ``Numberz.ONE``, ``shared.X``."""

    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class ListValue:
    pos: int
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class MapValue:
    """``{k: v, ...}``: a map, or a struct literal when the expected type is a struct."""

    pos: int
    items: tuple[tuple[Value, Value], ...]


Value = IntValue | DoubleValue | StringValue | BoolValue | IdentValue | ListValue | MapValue


# -- definitions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field, method parameter or ``throws`` entry.

    ``id`` is ``None`` when the IDL gave none (an automatic negative id is assigned later);
    ``id_pos`` points at the id, ``pos`` at the name. ``requiredness`` is ``"required"``,
    ``"optional"`` or ``""`` (default).
    """

    pos: int
    name: str
    id: int | None
    id_pos: int
    type: TypeRef
    requiredness: str
    default: Value | None
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class Include:
    pos: int
    path: str


@dataclass(frozen=True, slots=True)
class Namespace:
    pos: int
    scope: str
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    pos: int
    name: str
    type: TypeRef
    value: Value
    doc: str | None


@dataclass(frozen=True, slots=True)
class Typedef:
    pos: int
    name: str
    type: TypeRef
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class EnumMember:
    pos: int
    name: str
    value: int | None
    value_pos: int
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class Enum:
    pos: int
    name: str
    members: tuple[EnumMember, ...]
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class Struct:
    """A struct, union or exception (``kind`` says which)."""

    pos: int
    kind: str
    name: str
    fields: tuple[Field, ...]
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class Function:
    """A service method. ``returns`` is ``None`` for ``void``; ``throws_pos`` is the keyword."""

    pos: int
    name: str
    oneway: bool
    returns: TypeRef | None
    returns_pos: int
    params: tuple[Field, ...]
    throws: tuple[Field, ...]
    throws_pos: int
    annotations: Annotations
    doc: str | None


@dataclass(frozen=True, slots=True)
class Service:
    pos: int
    name: str
    extends: str | None
    extends_pos: int
    functions: tuple[Function, ...]
    annotations: Annotations
    doc: str | None


Definition = Const | Typedef | Enum | Struct | Service


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed file: headers and definitions in source order."""

    includes: tuple[Include, ...]
    cpp_includes: tuple[str, ...]
    namespaces: tuple[Namespace, ...]
    definitions: tuple[Definition, ...]
