"""Hypothesis strategies that generate valid values for any struct class, from its spec.

Values follow the decode conventions, so ``decode(encode(v)) == v`` must hold exactly: sets of
hashable scalars are ``set``s, sets of containers/structs are ``list``s, list map keys are
tuples and set map keys frozensets. NaN is excluded (NaN != NaN would make equality useless).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from swordfish.model import StructKind, TType, TypeSpec
from swordfish.model.spec import Requiredness

__all__ = ["values_for", "struct_values"]

_HASHABLE = {
    TType.BOOL,
    TType.BYTE,
    TType.I16,
    TType.I32,
    TType.I64,
    TType.DOUBLE,
    TType.STRING,
    TType.UUID,
}

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)

_SCALARS: dict[TType, st.SearchStrategy[Any]] = {
    TType.BOOL: st.booleans(),
    TType.BYTE: st.integers(-(2**7), 2**7 - 1),
    TType.I16: st.integers(-(2**15), 2**15 - 1),
    TType.I32: st.integers(-(2**31), 2**31 - 1),
    TType.I64: st.integers(-(2**63), 2**63 - 1),
    TType.DOUBLE: st.floats(allow_nan=False),
    TType.UUID: st.uuids(),
}


def _keyable(ts: TypeSpec) -> bool:
    """Whether values of ``ts`` can be map keys / set members after decoding."""
    if ts.ttype in (TType.STRUCT, TType.MAP):
        return False
    if ts.ttype in (TType.LIST, TType.SET):
        assert ts.value is not None
        return _keyable(ts.value)
    return True


def values_for(ts: TypeSpec, hashable: bool = False, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of type ``ts``; ``hashable``: it will be (part of) a map key or set member."""
    t = ts.ttype
    if hashable and not _keyable(ts):
        raise AssertionError(f"{ts.describe()} cannot be hashed")
    if t in _SCALARS:
        return _SCALARS[t]
    if t == TType.STRING:
        return st.binary(max_size=20) if ts.binary else _text
    if t == TType.STRUCT:
        assert ts.struct is not None
        return struct_values(ts.struct, depth + 1)
    assert ts.value is not None
    size = 4 if depth < 2 else 1
    if t == TType.LIST:
        elems = st.lists(values_for(ts.value, hashable, depth + 1), max_size=size)
        return elems.map(tuple) if hashable else elems
    if t == TType.SET:
        if hashable and not _keyable(ts.value):
            return st.just(frozenset())
        if hashable or ts.value.ttype in _HASHABLE:
            inner = values_for(ts.value, True, depth + 1)
            return (
                st.frozensets(inner, max_size=size) if hashable else st.sets(inner, max_size=size)
            )
        return st.lists(values_for(ts.value, False, depth + 1), max_size=size)
    assert t == TType.MAP and ts.key is not None
    if not _keyable(ts.key):
        return st.just({})  # struct/map keys cannot be decoded (unhashable); only {} is valid
    return st.dictionaries(
        values_for(ts.key, True, depth + 1), values_for(ts.value, False, depth + 1), max_size=size
    )


def struct_values(cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with a random subset of fields set (exactly one for unions)."""
    spec = cls.__thrift_spec__  # type: ignore[attr-defined]
    if spec.kind == StructKind.UNION:
        if not spec.fields:
            return st.just(cls())
        return st.one_of(
            [
                values_for(f.type, False, depth).map(lambda v, n=f.name: cls(**{n: v}))
                for f in spec.fields
            ]
        )
    fields = {}
    for f in spec.fields:
        if f.requiredness == Requiredness.REQUIRED:
            fields[f.name] = values_for(f.type, False, depth)
        elif depth < 3:
            fields[f.name] = st.none() | values_for(f.type, False, depth)
        else:
            # Deep in recursive types leave optional fields unset so generation terminates.
            fields[f.name] = st.none()
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def as_decoded(value: Any) -> Any:
    """What decoding ``value``'s encoding yields: unset fields with IDL defaults get them."""
    from swordfish.model import Struct, new_blank

    if isinstance(value, Struct):
        cls = type(value)
        out = new_blank(cls)
        for name, default, _mutable in cls._sf_init:
            v = getattr(value, name)
            object.__setattr__(out, name, default if v is None else as_decoded(v))
        return out
    if isinstance(value, list):
        return [as_decoded(v) for v in value]
    if isinstance(value, dict):
        return {k: as_decoded(v) for k, v in value.items()}
    return value
