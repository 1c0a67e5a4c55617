"""Service and method descriptions: what a client stub and a server dispatcher both read.

Each method owns an ``args`` struct (the call's fields) and, unless oneway, a ``result`` struct
whose field 0 ``success`` carries the return value and whose other fields carry the declared
exceptions. That is exactly what goes on the wire, so no layer has to re-derive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import FieldSpec, TypeSpec
from .struct import Struct

__all__ = ["MethodSpec", "ServiceSpec", "make_service_class"]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One service method.

    service: name of the service that declares it (an inherited method keeps its base's name).
    args: struct class of the arguments (field names are the parameter names).
    result: struct class of the reply (``None`` for oneway).
    returns: return type, ``None`` for void.
    throws: the result's exception fields, in declaration order.
    """

    name: str
    service: str
    args: type[Struct]
    result: type[Struct] | None
    oneway: bool = False
    returns: TypeSpec | None = None
    throws: tuple[FieldSpec, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def arg_names(self) -> tuple[str, ...]:
        return self.args._sf_names


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service: its own methods plus every inherited one (``methods`` holds both)."""

    name: str
    methods: dict[str, MethodSpec] = field(default_factory=dict)
    base: ServiceSpec | None = None
    annotations: tuple[tuple[str, str], ...] = ()

    def method(self, name: str) -> MethodSpec | None:
        return self.methods.get(name)


def make_service_class(spec: ServiceSpec, module: str, *, doc: str | None = None) -> type:
    """The object a loaded module exposes for a service (``calc.Calculator``).

    It carries ``__thrift_service__`` and, for thriftpy2 users, ``thrift_services`` and the
    per-method ``<name>_args`` / ``<name>_result`` struct classes as attributes.
    """
    namespace: dict[str, Any] = {
        "__module__": module,
        "__doc__": doc,
        "__thrift_service__": spec,
        "thrift_services": tuple(spec.methods),
    }
    for m in spec.methods.values():
        namespace[f"{m.name}_args"] = m.args
        if m.result is not None:
            namespace[f"{m.name}_result"] = m.result
    return type(spec.name, (), namespace)
