"""AST -> model: enum classes, struct classes, service specs and the module that holds them.

Two phases make recursive types work: first every enum and every struct class is created
(classes only, so field types can point at them), then field tables, typedefs, constants and
services are resolved in source order; anything needed earlier is resolved on demand by the
``Scope``. A service method gets an ``<name>_args`` struct and, unless oneway, a
``<name>_result`` struct whose field 0 ``success`` is the return value and whose other fields
are the declared exceptions: exactly what travels on the wire.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..model import (
    FieldSpec,
    MethodSpec,
    Requiredness,
    ServiceSpec,
    StructKind,
    StructSpec,
    ThriftException,
    TypeSpec,
    bind_spec,
    make_service_class,
    make_struct_class,
)
from . import ast
from .resolve import KIND_BY_KEYWORD, Scope, check_field_names, describe_definition
from .source import Source

__all__ = ["Program", "build"]

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_META_BY_KIND = {"struct": "structs", "union": "unions", "exception": "exceptions"}


@dataclass(frozen=True, slots=True)
class Program:
    """One loaded file: the module users see and the scope that includers resolve names in."""

    module: types.ModuleType
    scope: Scope


def build(
    source: Source,
    document: ast.Document,
    module_name: str,
    includes: Mapping[str, Program],
    *,
    thrift_file: str,
) -> Program:
    """Create every model object of ``document`` and the module that exposes them."""
    scope = Scope(source, document, module_name, {k: p.scope for k, p in includes.items()})
    defs = document.definitions

    for node in defs:
        if isinstance(node, ast.Enum):
            scope.enums[node.name] = _make_enum(source, node, module_name)
        elif isinstance(node, ast.Struct):
            kind = KIND_BY_KEYWORD[node.kind]
            names = check_field_names(source, node.name, kind, node.fields)
            cls = make_struct_class(
                node.name, kind, names, module_name, qualname=node.name, doc=node.doc
            )
            scope.add_struct(cls, node)

    for node in defs:
        if isinstance(node, ast.Struct):
            scope.ensure_bound(scope.structs[node.name], node.pos)
        elif isinstance(node, ast.Typedef):
            scope.typedef(node, node.pos)
        elif isinstance(node, ast.Const):
            scope.const(node, node.pos)
        elif isinstance(node, ast.Service):
            _service(scope, node, node.pos)

    return Program(_module(scope, document, includes, thrift_file), scope)


def _module(
    scope: Scope, document: ast.Document, includes: Mapping[str, Program], thrift_file: str
) -> types.ModuleType:
    module = types.ModuleType(scope.module_name)
    meta: dict[str, list[Any]] = {
        k: []
        for k in ("structs", "unions", "exceptions", "enums", "services", "consts", "includes")
    }
    attrs = module.__dict__
    attrs["__thrift_file__"] = thrift_file
    attrs["__thrift_namespaces__"] = {ns.scope: ns.name for ns in document.namespaces}
    attrs["__thrift_meta__"] = meta
    for stem, program in includes.items():
        attrs[stem] = program.module
        meta["includes"].append(program.module)
    for node in document.definitions:
        name = node.name
        value: Any
        if isinstance(node, ast.Struct):
            value = scope.structs[name]
            meta[_META_BY_KIND[node.kind]].append(value)
        elif isinstance(node, ast.Enum):
            value = scope.enums[name]
            meta["enums"].append(value)
        elif isinstance(node, ast.Const):
            value = scope.consts[name][1]
            meta["consts"].append(value)
        elif isinstance(node, ast.Service):
            value = scope.services[name][1]
            meta["services"].append(value)
        else:
            # A typedef of a struct or enum is a usable alias (``mod.Alias(...)``); a typedef
            # of a base or container type has no runtime object to expose.
            spec = scope.typedefs[name]
            value = spec.struct if spec.struct is not None else spec.enum
            if value is None:
                continue
        attrs[name] = value
    return module


def _make_enum(source: Source, node: ast.Enum, module_name: str) -> type[IntEnum]:
    members: list[tuple[str, int]] = []
    by_value: dict[int, str] = {}
    names: set[str] = set()
    next_value = 0
    for m in node.members:
        if m.name in names:
            raise source.error(m.pos, f"duplicate enum member {m.name!r} in {node.name}")
        names.add(m.name)
        value = next_value if m.value is None else m.value
        if not _I32_MIN <= value <= _I32_MAX:
            raise source.error(m.value_pos, f"enum value {value} does not fit in i32")
        if value in by_value:
            raise source.error(
                m.value_pos,
                f"{node.name}.{m.name} has value {value}, already used by "
                f"{node.name}.{by_value[value]}",
            )
        by_value[value] = m.name
        members.append((m.name, value))
        next_value = value + 1
    try:
        cls = IntEnum(node.name, members, module=module_name, qualname=node.name)  # type: ignore[misc]
    except (ValueError, TypeError) as exc:
        raise source.error(node.pos, f"enum {node.name}: {exc}") from None
    if node.doc is not None:
        cls.__doc__ = node.doc
    cls.__thrift_annotations__ = node.annotations  # type: ignore[attr-defined]
    return cls


def _service(scope: Scope, node: ast.Service, pos: int) -> tuple[ServiceSpec, type]:
    """Build service ``node`` (and, first, a local base service); ``pos`` is the reference."""
    built: tuple[ServiceSpec, type] | None = scope.services.get(node.name)
    if built is not None:
        return built
    scope.enter("service", node.name, pos, "service inheritance")
    try:
        base = _base_service(scope, node)
        methods: dict[str, MethodSpec] = {} if base is None else dict(base.methods)
    finally:
        scope.leave()
    src = scope.source
    own: set[str] = set()
    for fn in node.functions:
        if fn.name in own:
            raise src.error(fn.pos, f"duplicate method {fn.name!r} in service {node.name}")
        inherited = methods.get(fn.name)
        if inherited is not None:
            raise src.error(
                fn.pos,
                f"method {fn.name!r} is already defined by base service {inherited.service}; "
                "Thrift services cannot override methods",
            )
        own.add(fn.name)
        methods[fn.name] = _method(scope, node.name, fn)
    spec = ServiceSpec(node.name, methods, base, node.annotations)
    built = (spec, make_service_class(spec, scope.module_name, doc=node.doc))
    scope.services[node.name] = built
    return built


def _base_service(scope: Scope, node: ast.Service) -> ServiceSpec | None:
    if node.extends is None:
        return None
    src = scope.source
    found = scope.lookup_definition(node.extends)
    if found is None:
        raise src.error(node.extends_pos, f"undefined service {node.extends!r}")
    base_scope, base_node = found
    if not isinstance(base_node, ast.Service):
        raise src.error(
            node.extends_pos,
            f"{node.name} extends {node.extends!r}, which is "
            f"{describe_definition(base_node)}, not a service",
        )
    if base_scope is scope:
        return _service(scope, base_node, node.extends_pos)[0]
    return base_scope.services[base_node.name][0]


def _method(scope: Scope, service: str, fn: ast.Function) -> MethodSpec:
    src = scope.source
    module_name = scope.module_name
    owner = f"{service}.{fn.name}"
    if fn.oneway:
        if fn.returns is not None:
            raise src.error(fn.returns_pos, f"oneway method {owner} must return void")
        if fn.throws:
            raise src.error(fn.throws_pos, f"oneway method {owner} cannot declare throws")

    kind = StructKind.STRUCT
    args_name = f"{fn.name}_args"
    args = make_struct_class(
        args_name,
        kind,
        check_field_names(src, owner, kind, fn.params),
        module_name,
        qualname=f"{service}.{args_name}",
    )
    bind_spec(args, StructSpec(args_name, kind, scope.field_specs(fn.params, owner, kind)))

    returns = None if fn.returns is None else scope.resolve_type(fn.returns)
    if fn.oneway:
        return MethodSpec(fn.name, service, args, None, True, None, (), fn.annotations)

    def must_be_exception(field: ast.Field, spec: TypeSpec) -> None:
        if spec.struct is None or not issubclass(spec.struct, ThriftException):
            raise src.error(
                field.type.pos,
                f"{owner} throws {spec.describe()}, which is not an exception type",
            )

    throws_owner = f"{owner} throws"
    throw_names = check_field_names(src, throws_owner, kind, fn.throws)
    throws = scope.field_specs(
        fn.throws, throws_owner, kind, force_optional=True, check=must_be_exception
    )
    fields = throws
    if returns is not None:
        for f in fn.throws:
            if f.name == "success":
                raise src.error(f.pos, f"{throws_owner}: 'success' is reserved for the result")
        fields = (FieldSpec(0, "success", returns, Requiredness.OPTIONAL), *throws)
    result_name = f"{fn.name}_result"
    names = ("success", *throw_names) if returns is not None else throw_names
    result = make_struct_class(
        result_name, kind, names, module_name, qualname=f"{service}.{result_name}"
    )
    bind_spec(result, StructSpec(result_name, kind, fields))
    return MethodSpec(fn.name, service, args, result, False, returns, throws, fn.annotations)
