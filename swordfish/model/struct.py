"""Base classes for structs, unions and exceptions built from IDL.

Generated classes are slotted (small, fast attribute access, and the C codec can fill slots
directly without running ``__init__``). Unset fields are ``None``, as in Apache Thrift and
thriftpy2, so code moving from either keeps working.
"""

from __future__ import annotations

import copy
import keyword
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from ..errors import LocalProtocolError
from .spec import StructKind, StructSpec

__all__ = [
    "Struct",
    "Union",
    "ThriftException",
    "make_struct_class",
    "bind_spec",
    "new_blank",
]

S = TypeVar("S", bound="Struct")

_BASES_BY_KIND: dict[StructKind, type] = {}


class Struct:
    """A Thrift struct: keyword (or positional, in declaration order) constructor with defaults."""

    __slots__ = ()
    __thrift_spec__: ClassVar[StructSpec]
    # (name, default, default_is_mutable) per field in declaration order; set by bind_spec().
    _sf_init: ClassVar[tuple[tuple[str, Any, bool], ...]] = ()
    _sf_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, /, *args: Any, **kwargs: Any) -> None:
        # ``self`` is positional-only so that a field named "self" can be passed by keyword.
        init = self._sf_init
        if len(args) > len(init):
            raise TypeError(
                f"{type(self).__name__}() takes at most {len(init)} positional arguments "
                f"({len(args)} given)"
            )
        for i, (name, default, mutable) in enumerate(init):
            if i < len(args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif mutable:
                value = copy.deepcopy(default)
            else:
                value = default
            object.__setattr__(self, name, value)
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}() got unexpected field(s): {unknown}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._sf_names)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # mutable value objects are not hashable

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._sf_names)
        return f"{type(self).__name__}({parts})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Explicit so exceptions pickle their slots too (BaseException.__reduce__ drops them).
        return (_restore, (type(self), tuple(getattr(self, n) for n in self._sf_names)))

    def validate(self) -> None:
        """Raise ``LocalProtocolError`` if a required field is unset (``None``)."""
        for f in self.__thrift_spec__.fields:
            if f.required and getattr(self, f.name) is None:
                raise LocalProtocolError(f"required field {type(self).__name__}.{f.name} is unset")


class Union(Struct):
    """A Thrift union: exactly one field is set when it is valid."""

    __slots__ = ()

    def validate(self) -> None:
        set_fields = [n for n in self._sf_names if getattr(self, n) is not None]
        if len(set_fields) != 1:
            raise LocalProtocolError(
                f"union {type(self).__name__} must have exactly one field set, "
                f"has {len(set_fields)}" + (f" ({', '.join(set_fields)})" if set_fields else "")
            )

    @property
    def field(self) -> tuple[str, Any] | None:
        """The (name, value) of the set field, or ``None`` when no field is set."""
        for n in self._sf_names:
            value = getattr(self, n)
            if value is not None:
                return (n, value)
        return None


class ThriftException(Struct, Exception):
    """A Thrift exception: a struct that is also a real Python exception."""

    __slots__ = ()
    # Value equality, identity hash: exceptions must stay hashable (tracebacks, logging).
    __hash__ = Exception.__hash__  # type: ignore[assignment]

    def __str__(self) -> str:
        return repr(self)


_BASES_BY_KIND.update(
    {StructKind.STRUCT: Struct, StructKind.UNION: Union, StructKind.EXCEPTION: ThriftException}
)


def _restore(cls: type[S], values: tuple[Any, ...]) -> S:
    obj = cls.__new__(cls)
    for name, value in zip(cls._sf_names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def new_blank(cls: type[S]) -> S:
    """An instance with every field ``None``, without running ``__init__`` (decoders use it)."""
    obj = cls.__new__(cls)
    for name in cls._sf_names:
        object.__setattr__(obj, name, None)
    return obj


def make_struct_class(
    name: str,
    kind: StructKind,
    field_names: tuple[str, ...] | list[str],
    module: str,
    *,
    qualname: str | None = None,
    doc: str | None = None,
) -> type[Struct]:
    """Create the class for an IDL struct/union/exception; its spec is bound later.

    Two phases (class now, ``bind_spec`` later) let recursive and mutually recursive types
    refer to each other's classes in their field tables.
    """
    base = _BASES_BY_KIND[kind]
    namespace: dict[str, Any] = {
        "__slots__": tuple(field_names),
        "__module__": module,
        "__qualname__": qualname or name,
        "__doc__": doc,
    }
    cls = type(name, (base,), namespace)
    return cls


def bind_spec(cls: type[Struct], spec: StructSpec) -> None:
    """Attach the compiled field table to a class made by ``make_struct_class``."""
    names = tuple(f.name for f in spec.fields)
    slots = getattr(cls, "__slots__", ())
    if tuple(slots) != names:
        raise ValueError(f"{cls.__name__}: spec fields {names} do not match slots {slots}")
    cls.__thrift_spec__ = spec
    cls._sf_names = names
    cls._sf_init = tuple((f.name, f.default, f.default_is_mutable) for f in spec.fields)
    init = _compiled_init(cls)
    if init is not None:
        cls.__init__ = init  # type: ignore[method-assign]


_MISSING: Any = object()


def _compiled_init(cls: type[Struct]) -> Callable[..., None] | None:
    """A constructor with the fields as real parameters, or ``None`` to keep the generic one.

    Structs are built on every call (arguments, results, user data), and the generic
    ``Struct.__init__`` walks the field table in Python each time; a constructor with named
    parameters lets the interpreter bind them instead (about 3x faster). Anything unusual
    (extra positionals, unknown keywords) is passed to the generic constructor, so the
    error messages stay the same. Field names that cannot be parameters keep the generic one.
    """
    names = cls._sf_names
    if any(
        not n.isidentifier() or keyword.iskeyword(n) or n == "self" or n.startswith("_sf_")
        for n in names
    ):
        return None
    namespace: dict[str, Any] = {
        "_sf_missing": _MISSING,
        "_sf_deepcopy": copy.deepcopy,
        "_sf_generic": Struct.__init__,
    }
    params, body = [], []
    for i, (name, default, mutable) in enumerate(cls._sf_init):
        namespace[f"_sf_d{i}"] = default
        if mutable:
            params.append(f"{name}=_sf_missing")
            body.append(f"    if {name} is _sf_missing: {name} = _sf_deepcopy(_sf_d{i})")
        else:
            params.append(f"{name}=_sf_d{i}")
    passed = ", ".join(["self", *names, "*_sf_args", "**_sf_kwargs"])
    body.insert(0, f"    if _sf_args or _sf_kwargs: return _sf_generic({passed})")
    body.extend(f"    self.{name} = {name}" for name in names)
    header = ", ".join(["self", *params, "*_sf_args", "**_sf_kwargs"])
    source = f"def __init__({header}):\n" + "\n".join(body) + "\n"
    exec(compile(source, f"<swordfish init {cls.__qualname__}>", "exec"), namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init
