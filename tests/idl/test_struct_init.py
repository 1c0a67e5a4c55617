"""Struct constructors: the compiled per-class one and the generic fallback behave alike."""

from __future__ import annotations

import pickle
import types

import pytest

from swordfish.model.struct import Struct

from .conftest import LoadText

IDL = """
struct Inner { 1: i32 v = 2 }
struct S {
  1: i32 a,
  2: string b = "x",
  3: list<i32> nums = [1, 2],
  4: Inner inner = {"v": 3},
  5: optional double d,
}
struct Empty {}
exception Oops { 1: string message, 2: i32 code = 7 }
struct Odd { 1: i32 from, 2: i32 self, 3: list<i32> xs = [1] }
"""


@pytest.fixture
def m(load_text: LoadText) -> types.ModuleType:
    return load_text(IDL)


def test_compiled_constructor_is_used_for_plain_names(m: types.ModuleType) -> None:
    assert m.S.__init__ is not Struct.__init__
    assert m.Empty.__init__ is not Struct.__init__
    # Names that cannot be Python parameters keep the generic constructor.
    assert m.Odd.__init__ is Struct.__init__


@pytest.mark.parametrize("cls_name", ["S", "Odd"])
def test_positional_keyword_and_defaults(m: types.ModuleType, cls_name: str) -> None:
    cls = getattr(m, cls_name)
    names = cls._sf_names
    blank = cls()
    first = names[0]
    assert getattr(cls(5), first) == 5
    assert getattr(cls(**{first: 6}), first) == 6
    mixed = cls(1, **{names[1]: 9})
    assert (getattr(mixed, first), getattr(mixed, names[1])) == (1, 9)
    # Mutable defaults are fresh per instance, never shared.
    mutable = names[2]
    getattr(blank, mutable).append(99)
    assert 99 not in getattr(cls(), mutable)


def test_defaults_match_the_idl(m: types.ModuleType) -> None:
    s = m.S()
    assert (s.a, s.b, s.nums, s.inner, s.d) == (None, "x", [1, 2], m.Inner(3), None)
    assert s.inner is not m.S().inner
    assert m.S(1, "y", [3], None, 1.5) == m.S(a=1, b="y", nums=[3], inner=None, d=1.5)


@pytest.mark.parametrize("cls_name", ["S", "Odd"])
def test_errors_read_the_same_for_both_constructors(m: types.ModuleType, cls_name: str) -> None:
    cls = getattr(m, cls_name)
    with pytest.raises(TypeError, match=rf"{cls_name}\(\) takes at most \d positional"):
        cls(*range(9))
    with pytest.raises(TypeError, match=rf"{cls_name}\(\) got unexpected field\(s\): nope, zz"):
        cls(zz=1, nope=2)
    with pytest.raises(TypeError, match="multiple values"):
        cls(1, **{cls._sf_names[0]: 2})


def test_exceptions_and_empty_structs(m: types.ModuleType) -> None:
    e = m.Oops("boom")
    assert (e.message, e.code) == ("boom", 7)
    assert isinstance(e, Exception)
    assert pickle.loads(pickle.dumps(e)) == e
    assert m.Empty() == m.Empty()
    with pytest.raises(TypeError, match="unexpected field"):
        m.Empty(x=1)
