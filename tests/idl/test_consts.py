"""Constants of every kind, checked against their declared types, and field defaults."""

from __future__ import annotations

import math
import types
import uuid

import pytest

from swordfish.model import TType

from .conftest import LoadText

CONSTS = r"""
enum Color { RED = 1, GREEN, BLUE = 0x10 }
typedef i32 Int
typedef Int Int2
struct Point { 1: i32 x, 2: i32 y = -1 }
struct Line { 1: Point a, 2: Point b = {"x": 5}, 3: list<Point> extra }
union U { 1: i32 n, 2: string s }

const i8 SMALL = -128
const byte OLDBYTE = 127
const i16 SHORT = 0x7fff
const i32 HEX = 0xFF
const i32 NEG = -42
const i32 PLUS = +7
const i64 BIG = 9223372036854775807
const i64 NEG_HEX = -0x10
const Int2 VIA_TYPEDEF = 7
const double PI = 3.14159
const double EXP = -1.5e3
const double FROM_INT = 2
const string DQ = "double \"quoted\" and 'single'"
const string SQ = 'single \'quoted\' and "double"'
const string ESC = "tab\tnl\nbackslash\\ \u00e9"
const binary BIN = "bytes"
const uuid ID = "00000000-0000-0000-0000-000000000001"
const bool T = true
const bool F = false
const bool ONE = 1
const bool ZERO = 0
const list<i32> LIST = [1, 2, 3,]
const list<string> EMPTY = []
const set<string> SET = ["a"; "b"]
const set<i32> EMPTY_SET = {}
const map<string, i32> MAP = {"a": 1, "b": 2}
const map<i32, list<string>> NESTED = {1: ["x"], 2: []}
const Color COLOR = Color.GREEN
const i32 COLOR_INT = Color.BLUE
const Color COLOR_FROM_INT = 1
const i32 REF = HEX
const i64 REF_WIDEN = NEG
const double REF_DOUBLE = HEX
const i32 FORWARD = LATER
const i32 LATER = 3
const Point ORIGIN = {"x": 0, "y": 0}
const Point PARTIAL = {"x": 3}
const Line LINE = {"a": ORIGIN, "extra": [{"x": 1, "y": 2}, PARTIAL]}
const U UNION = {"s": "hi"}
const list<Point> POINTS = [ORIGIN, {"x": 9, "y": 9}]
const map<Color, string> NAMES = {Color.RED: "red", Color.BLUE: "blue"}
const set<list<i32>> SET_OF_LISTS = [[1], [2, 3]]
const map<list<i32>, string> LIST_KEYS = {[1, 2]: "a"}
const map<set<string>, i32> SET_KEYS = {["x", "y"]: 1}
const list<Int> TYPEDEF_ELEMS = [VIA_TYPEDEF, 8]
"""


@pytest.fixture
def m(load_text: LoadText) -> types.ModuleType:
    return load_text(CONSTS)


def test_integers(m: types.ModuleType) -> None:
    assert (m.SMALL, m.OLDBYTE, m.SHORT, m.HEX, m.NEG, m.PLUS) == (-128, 127, 32767, 255, -42, 7)
    assert m.BIG == 2**63 - 1
    assert m.NEG_HEX == -16
    assert m.VIA_TYPEDEF == 7
    assert (m.REF, m.REF_WIDEN, m.FORWARD, m.LATER) == (255, -42, 3, 3)


def test_doubles(m: types.ModuleType) -> None:
    assert math.isclose(m.PI, 3.14159)
    assert m.EXP == -1500.0
    assert m.FROM_INT == 2.0 and isinstance(m.FROM_INT, float)
    assert m.REF_DOUBLE == 255.0 and isinstance(m.REF_DOUBLE, float)


def test_strings_both_quote_styles_and_escapes(m: types.ModuleType) -> None:
    assert m.DQ == "double \"quoted\" and 'single'"
    assert m.SQ == "single 'quoted' and \"double\""
    assert m.ESC == "tab\tnl\nbackslash\\ \u00e9"
    assert m.BIN == b"bytes"
    assert m.ID == uuid.UUID(int=1)


def test_bools(m: types.ModuleType) -> None:
    assert (m.T, m.F, m.ONE, m.ZERO) == (True, False, True, False)
    assert all(type(v) is bool for v in (m.T, m.F, m.ONE, m.ZERO))


def test_containers(m: types.ModuleType) -> None:
    assert m.LIST == [1, 2, 3]
    assert m.EMPTY == []
    assert m.SET == {"a", "b"} and isinstance(m.SET, set)
    assert m.EMPTY_SET == set() and isinstance(m.EMPTY_SET, set)
    assert m.MAP == {"a": 1, "b": 2}
    assert m.NESTED == {1: ["x"], 2: []}
    # sets of unhashable elements are lists, as the decoders produce them
    assert m.SET_OF_LISTS == [[1], [2, 3]]
    # list keys are tuples, set keys frozensets, as the decoders produce them
    assert m.LIST_KEYS == {(1, 2): "a"}
    assert m.SET_KEYS == {frozenset({"x", "y"}): 1}
    assert m.TYPEDEF_ELEMS == [7, 8]


def test_enums(m: types.ModuleType) -> None:
    assert m.COLOR is m.Color.GREEN and m.Color.GREEN == 2
    assert m.COLOR_INT == 16 and type(m.COLOR_INT) is int
    assert m.COLOR_FROM_INT is m.Color.RED
    assert m.NAMES == {m.Color.RED: "red", m.Color.BLUE: "blue"}


def test_struct_literals(m: types.ModuleType) -> None:
    assert m.ORIGIN == m.Point(x=0, y=0)
    assert m.PARTIAL == m.Point(x=3, y=-1)  # y took its default
    assert m.LINE == m.Line(
        a=m.Point(0, 0), b=m.Point(5, -1), extra=[m.Point(1, 2), m.Point(3, -1)]
    )
    assert m.LINE.a is not m.ORIGIN  # a constant used as a value is copied
    assert m.UNION == m.U(s="hi")
    assert m.POINTS == [m.Point(0, 0), m.Point(9, 9)]


def test_meta_lists_consts_in_order(m: types.ModuleType) -> None:
    consts = m.__thrift_meta__["consts"]
    assert consts[0] == -128 and consts[-1] == [7, 8]
    assert len(consts) == CONSTS.count("\nconst ")


DEFAULTS = """
enum Level { LOW, HIGH }
const list<string> TAGS = ["t"]
struct Inner { 1: i32 v = 1 }
struct D {
  1: list<i32> nums = [1, 2],
  2: map<string, list<i32>> table = {"k": [1]},
  3: set<string> names = ["n"],
  4: Inner inner = {"v": 2},
  5: Level level = Level.HIGH,
  6: list<string> tags = TAGS,
  7: string s = "x",
  8: optional i32 none,
  9: double d = 1,
}
"""


def test_defaults_are_checked_and_copied_per_instance(load_text: LoadText) -> None:
    m = load_text(DEFAULTS)
    a, b = m.D(), m.D()
    assert a == b
    assert a.nums == [1, 2] and a.table == {"k": [1]} and a.names == {"n"}
    assert a.inner == m.Inner(2) and a.level is m.Level.HIGH and a.tags == ["t"]
    assert a.s == "x" and a.none is None and a.d == 1.0
    a.nums.append(3)
    a.table["k"].append(2)
    a.names.add("z")
    a.inner.v = 99
    a.tags.append("u")
    assert b == m.D() and b.nums == [1, 2] and b.table == {"k": [1]} and b.inner.v == 2
    assert m.TAGS == ["t"]  # the constant is not shared with the default
    spec = m.D.__thrift_spec__
    assert [f.default_is_mutable for f in spec.fields] == [
        True,
        True,
        True,
        True,
        False,
        True,
        False,
        False,
        False,
    ]
    assert spec.by_name["level"].type.enum is m.Level
    assert spec.by_name["level"].type.ttype == TType.I32
    # an explicit argument wins over the default
    assert m.D(nums=[9]).nums == [9]
