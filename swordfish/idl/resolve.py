"""Meaning of names in one file: types, typedefs, constants and struct field tables.

A ``Scope`` is one file's symbol table. It resolves ``TypeRef`` nodes to ``TypeSpec`` and
constant ``Value`` nodes to Python values checked against their declared type, following
typedef chains, references to other constants and ``include.Name`` lookups. Everything is
lazy with an in-progress stack, so definitions may appear in any order and a cycle (typedefs,
constants, a struct whose default needs itself) is reported with its whole chain.

Included files are resolved completely before the file that includes them, so a lookup
through an include never re-enters an unfinished scope.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import replace
from enum import IntEnum
from typing import Any

from ..errors import IDLError
from ..model import (
    FieldSpec,
    Requiredness,
    ServiceSpec,
    Struct,
    StructKind,
    StructSpec,
    ThriftException,
    TType,
    TypeSpec,
    bind_spec,
)
from ..model import Union as UnionBase
from . import ast
from .source import Source

__all__ = ["BASE_TYPES", "KIND_BY_KEYWORD", "Scope", "check_field_names", "describe_definition"]

KIND_BY_KEYWORD = {
    "struct": StructKind.STRUCT,
    "union": StructKind.UNION,
    "exception": StructKind.EXCEPTION,
}

BASE_TYPES: dict[str, TypeSpec] = {
    "bool": TypeSpec(TType.BOOL, name="bool"),
    "byte": TypeSpec(TType.BYTE, name="byte"),
    "i8": TypeSpec(TType.BYTE, name="i8"),
    "i16": TypeSpec(TType.I16, name="i16"),
    "i32": TypeSpec(TType.I32, name="i32"),
    "i64": TypeSpec(TType.I64, name="i64"),
    "double": TypeSpec(TType.DOUBLE, name="double"),
    "string": TypeSpec(TType.STRING, name="string"),
    "slist": TypeSpec(TType.STRING, name="slist"),
    "binary": TypeSpec(TType.STRING, binary=True, name="binary"),
    "uuid": TypeSpec(TType.UUID, name="uuid"),
}

_INT_RANGES = {
    TType.BYTE: (-(2**7), 2**7 - 1),
    TType.I16: (-(2**15), 2**15 - 1),
    TType.I32: (-(2**31), 2**31 - 1),
    TType.I64: (-(2**63), 2**63 - 1),
}
# Element types whose decoded ``set`` is a Python set (see the team conventions); a set of
# containers or structs is a list.
_HASHABLE = frozenset(
    (
        TType.BOOL,
        TType.BYTE,
        TType.I16,
        TType.I32,
        TType.I64,
        TType.DOUBLE,
        TType.STRING,
        TType.UUID,
    )
)
_MUTABLE = frozenset((TType.LIST, TType.SET, TType.MAP, TType.STRUCT))
_REQUIREDNESS = {
    "": Requiredness.DEFAULT,
    "required": Requiredness.REQUIRED,
    "optional": Requiredness.OPTIONAL,
}
# Field names that would shadow what the model's base classes rely on.
_TAKEN_BY_BASE = {
    kind: frozenset(n for n in dir(base) if not n.startswith("__"))
    for kind, base in (
        (StructKind.STRUCT, Struct),
        (StructKind.UNION, UnionBase),
        (StructKind.EXCEPTION, ThriftException),
    )
}
_VALUE_KINDS = {
    ast.IntValue: "an integer",
    ast.DoubleValue: "a double",
    ast.StringValue: "a string",
    ast.BoolValue: "a bool",
    ast.ListValue: "a list",
    ast.MapValue: "a map",
}

_EnumMember = tuple[type[IntEnum], IntEnum]
_Target = tuple["Scope", ast.Definition] | _EnumMember


def check_field_names(
    source: Source, owner: str, kind: StructKind, fields: tuple[ast.Field, ...]
) -> tuple[str, ...]:
    """Field names in order, after rejecting duplicates and names the base class uses."""
    names: dict[str, ast.Field] = {}
    taken = _TAKEN_BY_BASE[kind]
    for f in fields:
        if f.name in names:
            raise source.error(f.pos, f"duplicate field name {f.name!r} in {owner}")
        if f.name in taken or (f.name.startswith("__") and f.name.endswith("__")):
            raise source.error(
                f.pos, f"field name {f.name!r} in {owner} clashes with a built-in attribute"
            )
        names[f.name] = f
    return tuple(names)


def describe_definition(node: ast.Definition) -> str:
    """``"a struct"``, ``"an enum"``, ``"a constant"``, ... for error messages."""
    if isinstance(node, ast.Struct):
        word = node.kind
    elif isinstance(node, ast.Const):
        word = "constant"
    else:
        word = type(node).__name__.lower()
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


class Scope:
    """One file's symbol table and the lazily resolved meaning of its names."""

    def __init__(
        self,
        source: Source,
        document: ast.Document,
        module_name: str,
        includes: dict[str, Scope],
    ) -> None:
        self.source = source
        self.module_name = module_name
        self.includes = includes
        self.defs: dict[str, ast.Definition] = {}
        self.enums: dict[str, type[IntEnum]] = {}
        self.structs: dict[str, type[Struct]] = {}
        # name -> (spec, service class); filled by build.py, read for ``extends inc.Name``
        self.services: dict[str, tuple[ServiceSpec, type]] = {}
        self.typedefs: dict[str, TypeSpec] = {}
        self.consts: dict[str, tuple[TypeSpec, Any]] = {}
        self._named: dict[str, TypeSpec] = {}
        self._unbound: dict[type, ast.Struct] = {}
        self._active: list[tuple[str, str]] = []  # (kind, name) being resolved, for cycles
        for node in document.definitions:
            previous = self.defs.get(node.name)
            if previous is not None:
                line = source.location(previous.pos)[0]
                raise source.error(
                    node.pos,
                    f"{node.name!r} is already defined "
                    f"(as {describe_definition(previous)} on line {line})",
                )
            if node.name in includes:
                raise source.error(node.pos, f"{node.name!r} is already the name of an include")
            self.defs[node.name] = node

    # -- cycle bookkeeping ------------------------------------------------------------
    # ``enter`` before resolving a named thing and ``leave`` after it; meeting a name that is
    # still active means a cycle, reported at ``pos`` (the reference that closed it).

    def enter(self, kind: str, name: str, pos: int, what: str) -> None:
        key = (kind, name)
        if key in self._active:
            chain = [n for _, n in self._active[self._active.index(key) :]]
            raise self.source.error(pos, f"{what} cycle: {' -> '.join([*chain, name])}")
        self._active.append(key)

    def leave(self) -> None:
        self._active.pop()

    # -- names -----------------------------------------------------------------------

    def _split(self, name: str) -> tuple[Scope, str, str]:
        """(scope, local name, rest) for ``name``, following one ``include.`` prefix."""
        head, _, rest = name.partition(".")
        inc = self.includes.get(head)
        if inc is not None and rest:
            head, _, rest = rest.partition(".")
            return inc, head, rest
        return self, head, rest

    def lookup_definition(self, name: str) -> tuple[Scope, ast.Definition] | None:
        scope, local, rest = self._split(name)
        node = scope.defs.get(local)
        if node is None or rest:
            return None
        return scope, node

    def _undefined(self, pos: int, what: str, name: str) -> IDLError:
        head, dot, _ = name.partition(".")
        hint = ""
        if dot and head not in self.includes and head not in self.defs:
            hint = f" (no include named {head!r})"
        return self.source.error(pos, f"undefined {what} {name!r}{hint}")

    # -- types -----------------------------------------------------------------------

    def resolve_type(self, ref: ast.TypeRef) -> TypeSpec:
        if isinstance(ref, ast.BaseType):
            return BASE_TYPES[ref.name]
        if isinstance(ref, ast.NamedType):
            # A name always means the same type, so each spelling is resolved once per file.
            spec = self._named.get(ref.name)
            if spec is None:
                spec = self._named[ref.name] = self._named_type(ref)
            return spec
        if isinstance(ref, ast.MapType):
            key = self.resolve_type(ref.key)
            value = self.resolve_type(ref.value)
            return TypeSpec(
                TType.MAP, key=key, value=value, name=f"map<{key.describe()},{value.describe()}>"
            )
        elem = self.resolve_type(ref.elem)
        if isinstance(ref, ast.ListType):
            return TypeSpec(TType.LIST, value=elem, name=f"list<{elem.describe()}>")
        return TypeSpec(TType.SET, value=elem, name=f"set<{elem.describe()}>")

    def _named_type(self, ref: ast.NamedType) -> TypeSpec:
        found = self.lookup_definition(ref.name)
        if found is None:
            raise self._undefined(ref.pos, "type", ref.name)
        scope, node = found
        if isinstance(node, ast.Struct):
            return TypeSpec(TType.STRUCT, struct=scope.structs[node.name], name=ref.name)
        if isinstance(node, ast.Enum):
            return TypeSpec(TType.I32, enum=scope.enums[node.name], name=ref.name)
        if isinstance(node, ast.Typedef):
            return replace(scope.typedef(node, ref.pos), name=ref.name)
        raise self.source.error(ref.pos, f"{ref.name!r} is {describe_definition(node)}, not a type")

    def typedef(self, node: ast.Typedef, use_pos: int) -> TypeSpec:
        spec = self.typedefs.get(node.name)
        if spec is None:
            self.enter("typedef", node.name, use_pos, "typedef")
            try:
                spec = self.resolve_type(node.type)
            finally:
                self.leave()
            self.typedefs[node.name] = spec
        return spec

    # -- struct field tables ---------------------------------------------------------

    def add_struct(self, cls: type[Struct], node: ast.Struct) -> None:
        self.structs[node.name] = cls
        self._unbound[cls] = node

    def ensure_bound(self, cls: type[Struct], pos: int) -> StructSpec:
        """``cls.__thrift_spec__``, building it now if this scope has not yet."""
        node = self._unbound.get(cls)
        if node is not None:
            self.enter("struct", node.name, pos, "default value")
            try:
                kind = KIND_BY_KEYWORD[node.kind]
                fields = self.field_specs(node.fields, node.name, kind)
                bind_spec(cls, StructSpec(node.name, kind, fields, annotations=node.annotations))
            finally:
                self.leave()
            del self._unbound[cls]
        return cls.__thrift_spec__

    def field_specs(
        self,
        fields: tuple[ast.Field, ...],
        owner: str,
        kind: StructKind,
        *,
        force_optional: bool = False,
        check: Callable[[ast.Field, TypeSpec], None] | None = None,
    ) -> tuple[FieldSpec, ...]:
        """Field table for a struct, an argument list or a ``throws`` list.

        Fields without an id get -1, -2, ... in order, as Apache Thrift assigns them.
        """
        out: list[FieldSpec] = []
        ids: set[int] = set()
        auto = 0
        src = self.source
        for f in fields:
            if f.id is None:
                auto -= 1
                fid = auto
            else:
                fid = f.id
                if not 1 <= fid <= 32767:
                    raise src.error(f.id_pos, f"field id {fid} is out of range (1..32767)")
                if fid in ids:
                    raise src.error(f.id_pos, f"duplicate field id {fid} in {owner}")
            ids.add(fid)
            spec = self.resolve_type(f.type)
            if check is not None:
                check(f, spec)
            requiredness = _REQUIREDNESS[f.requiredness]
            if kind == StructKind.UNION and requiredness == Requiredness.REQUIRED:
                raise src.error(f.pos, f"union field {owner}.{f.name} cannot be required")
            if force_optional:
                requiredness = Requiredness.OPTIONAL
            default = None if f.default is None else self.value(f.default, spec)
            out.append(
                FieldSpec(
                    fid,
                    f.name,
                    spec,
                    requiredness,
                    default,
                    f.annotations,
                    default is not None and spec.ttype in _MUTABLE,
                )
            )
        return tuple(out)

    # -- constants -------------------------------------------------------------------

    def const(self, node: ast.Const, use_pos: int) -> tuple[TypeSpec, Any]:
        found = self.consts.get(node.name)
        if found is None:
            self.enter("const", node.name, use_pos, "constant")
            try:
                spec = self.resolve_type(node.type)
                found = (spec, self.value(node.value, spec))
            finally:
                self.leave()
            self.consts[node.name] = found
        return found

    def value(self, node: ast.Value, spec: TypeSpec) -> Any:
        """The Python value of constant ``node`` as type ``spec``, or an error at the value."""
        if isinstance(node, ast.IdentValue):
            return self._reference(node, spec)
        t = spec.ttype
        src = self.source
        if spec.enum is not None:
            if isinstance(node, ast.IntValue):
                try:
                    return spec.enum(node.value)
                except ValueError:
                    raise src.error(
                        node.pos, f"{node.value} is not a value of enum {spec.describe()}"
                    ) from None
        elif t in _INT_RANGES:
            if isinstance(node, ast.IntValue):
                return self._in_range(node.value, spec, node.pos)
        elif t == TType.BOOL:
            if isinstance(node, ast.BoolValue):
                return node.value
            if isinstance(node, ast.IntValue):
                if node.value in (0, 1):
                    return bool(node.value)
                raise src.error(node.pos, f"{node.value} is not a bool (use true/false or 0/1)")
        elif t == TType.DOUBLE:
            if isinstance(node, (ast.IntValue, ast.DoubleValue)):
                return float(node.value)
        elif t == TType.STRING:
            if isinstance(node, ast.StringValue):
                return node.value.encode() if spec.binary else node.value
        elif t == TType.UUID:
            if isinstance(node, ast.StringValue):
                try:
                    return uuid.UUID(node.value)
                except ValueError:
                    raise src.error(node.pos, f"{node.value!r} is not a valid uuid") from None
        elif t == TType.LIST or t == TType.SET:
            # Apache accepts ``{}`` for an empty list or set (ThriftTest.thrift uses it).
            if isinstance(node, ast.ListValue) or (
                isinstance(node, ast.MapValue) and not node.items
            ):
                return self._sequence(node, spec)
        elif t == TType.MAP:
            if isinstance(node, ast.MapValue) or (
                isinstance(node, ast.ListValue) and not node.items
            ):
                return self._map(node, spec)
        elif t == TType.STRUCT and isinstance(node, ast.MapValue):
            return self._struct(node, spec)
        raise src.error(
            node.pos, f"type mismatch: expected {spec.describe()}, found {_VALUE_KINDS[type(node)]}"
        )

    def _in_range(self, value: int, spec: TypeSpec, pos: int) -> int:
        lo, hi = _INT_RANGES[spec.ttype]
        if not lo <= value <= hi:
            raise self.source.error(
                pos, f"{value} is out of range for {spec.describe()} ({lo}..{hi})"
            )
        return value

    def _sequence(self, node: ast.ListValue | ast.MapValue, spec: TypeSpec) -> Any:
        elem = spec.value
        assert elem is not None
        nodes = node.items if isinstance(node, ast.ListValue) else ()
        if spec.ttype == TType.LIST or elem.ttype not in _HASHABLE:
            return [self.value(v, elem) for v in nodes]
        out: set[Any] = set()
        for v in nodes:
            item = self.value(v, elem)
            if item in out:
                raise self.source.error(v.pos, f"duplicate value {item!r} in set constant")
            out.add(item)
        return out

    def _map(self, node: ast.MapValue | ast.ListValue, spec: TypeSpec) -> dict[Any, Any]:
        assert spec.key is not None and spec.value is not None
        out: dict[Any, Any] = {}
        if isinstance(node, ast.ListValue):
            return out
        key_type = spec.key.ttype
        for k, v in node.items:
            if key_type == TType.STRUCT or key_type == TType.MAP:
                raise self.source.error(
                    k.pos, f"a constant cannot have {spec.key.describe()} keys (not hashable)"
                )
            key = _freeze(self.value(k, spec.key))
            if key in out:
                raise self.source.error(k.pos, f"duplicate key {key!r} in map constant")
            out[key] = self.value(v, spec.value)
        return out

    def _struct(self, node: ast.MapValue, spec: TypeSpec) -> Any:
        cls = spec.struct
        assert cls is not None
        sspec = self._bound(cls, node.pos)
        kwargs: dict[str, Any] = {}
        for k, v in node.items:
            if not isinstance(k, ast.StringValue):
                raise self.source.error(
                    k.pos, "a struct constant's keys must be quoted field names"
                )
            f = sspec.by_name.get(k.value)
            if f is None:
                raise self.source.error(k.pos, f"{spec.describe()} has no field {k.value!r}")
            if f.name in kwargs:
                raise self.source.error(k.pos, f"field {k.value!r} is given twice")
            kwargs[f.name] = self.value(v, f.type)
        if sspec.kind == StructKind.UNION and len(kwargs) > 1:
            raise self.source.error(node.pos, f"union {spec.describe()} can set only one field")
        return cls(**kwargs)

    def _bound(self, cls: type[Struct], pos: int) -> StructSpec:
        if cls in self._unbound:
            return self.ensure_bound(cls, pos)
        return cls.__thrift_spec__

    def _reference(self, node: ast.IdentValue, spec: TypeSpec) -> Any:
        target = self._lookup_value(node)
        src = self.source
        if isinstance(target[1], IntEnum):
            enum_cls, member = target
            if spec.enum is enum_cls:
                return member
            if spec.enum is None and spec.ttype in _INT_RANGES:
                return self._in_range(int(member), spec, node.pos)
            raise src.error(
                node.pos,
                f"type mismatch: expected {spec.describe()}, found a value of enum "
                f"{enum_cls.__name__}",
            )
        scope, const_node = target
        assert isinstance(const_node, ast.Const)
        ctype, value = scope.const(const_node, node.pos)
        mismatch = src.error(
            node.pos,
            f"type mismatch: expected {spec.describe()}, "
            f"constant {node.name!r} is {ctype.describe()}",
        )
        if spec.enum is not None:
            if ctype.enum is spec.enum:
                return value
            if ctype.ttype in _INT_RANGES and ctype.enum is None:
                try:
                    return spec.enum(value)
                except ValueError:
                    raise src.error(
                        node.pos, f"{value} is not a value of enum {spec.describe()}"
                    ) from None
            raise mismatch
        if spec.ttype in _INT_RANGES:
            if ctype.ttype in _INT_RANGES:
                return self._in_range(int(value), spec, node.pos)
            raise mismatch
        if spec.ttype == TType.DOUBLE and (ctype.ttype in _INT_RANGES and ctype.enum is None):
            return float(value)
        if spec.ttype == TType.BOOL and ctype.ttype in _INT_RANGES and value in (0, 1):
            return bool(value)
        if not _same_type(ctype, spec):
            raise mismatch
        return copy.deepcopy(value) if spec.ttype in _MUTABLE else value

    def _lookup_value(self, node: ast.IdentValue) -> _Target:
        """A constant (scope, node) or an enum member (class, member) named by ``node``."""
        name = node.name
        scope, local, rest = self._split(name)
        target = scope.defs.get(local)
        src = self.source
        if isinstance(target, ast.Const) and not rest:
            return scope, target
        if isinstance(target, ast.Enum) and rest and "." not in rest:
            enum_cls = scope.enums[local]
            member = enum_cls.__members__.get(rest)
            if member is None:
                raise src.error(node.pos, f"enum {local} has no member {rest!r}")
            return enum_cls, member
        if target is None:
            if not rest:
                for enum_cls in self.enums.values():
                    if name in enum_cls.__members__:
                        raise src.error(
                            node.pos,
                            f"undefined constant {name!r} (enum values are written "
                            f"{enum_cls.__name__}.{name})",
                        )
            raise self._undefined(node.pos, "constant", name)
        raise src.error(node.pos, f"{name!r} is not a constant or enum value")


def _same_type(a: TypeSpec, b: TypeSpec) -> bool:
    if a.ttype != b.ttype or a.binary != b.binary or a.enum is not b.enum:
        return False
    if a.struct is not b.struct:
        return False
    for x, y in ((a.key, b.key), (a.value, b.value)):
        if (x is None) != (y is None):
            return False
        if x is not None and y is not None and not _same_type(x, y):
            return False
    return True


def _freeze(value: Any) -> Any:
    """A hashable map key, as the decoders build one: list -> tuple, set -> frozenset."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    return value
