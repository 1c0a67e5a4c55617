"""Every IDL error: exact ``file:line:column``, exact message, the source line and a caret."""

from __future__ import annotations

import pytest

from swordfish.errors import SwordfishError

from .conftest import ErrorOf

# (IDL text, line, column, message). Columns count characters from 1.
CASES = [
    pytest.param(
        "struct A {\n  1: i32 x,\n  2: Missing y,\n}\n",
        3,
        6,
        "undefined type 'Missing'",
        id="undefined-type",
    ),
    pytest.param(
        "struct A {\n  1: nope.Thing y\n}\n",
        2,
        6,
        "undefined type 'nope.Thing' (no include named 'nope')",
        id="undefined-include-prefix",
    ),
    pytest.param(
        "const i32 K = 1\nstruct A { 1: K x }\n",
        2,
        15,
        "'K' is a constant, not a type",
        id="constant-used-as-type",
    ),
    pytest.param(
        "struct A {}\nenum A { X }\n",
        2,
        6,
        "'A' is already defined (as a struct on line 1)",
        id="duplicate-definition",
    ),
    pytest.param(
        "struct A {\n  1: i32 x,\n  1: i32 y,\n}\n",
        3,
        3,
        "duplicate field id 1 in A",
        id="duplicate-field-id",
    ),
    pytest.param(
        "struct A {\n  1: i32 x,\n  2: string x,\n}\n",
        3,
        13,
        "duplicate field name 'x' in A",
        id="duplicate-field-name",
    ),
    pytest.param(
        "struct A { 0: i32 x }",
        1,
        12,
        "field id 0 is out of range (1..32767)",
        id="field-id-zero",
    ),
    pytest.param(
        "struct A { 1: i32 validate }",
        1,
        19,
        "field name 'validate' in A clashes with a built-in attribute",
        id="field-name-shadows-method",
    ),
    pytest.param(
        "union U { 1: required i32 x }",
        1,
        27,
        "union field U.x cannot be required",
        id="required-union-field",
    ),
    pytest.param(
        'const i32 X = "abc"',
        1,
        15,
        "type mismatch: expected i32, found a string",
        id="string-to-i32",
    ),
    pytest.param(
        "const i8 B = 128", 1, 14, "128 is out of range for i8 (-128..127)", id="i8-range"
    ),
    pytest.param(
        "const i16 S = -32769",
        1,
        15,
        "-32769 is out of range for i16 (-32768..32767)",
        id="i16-range",
    ),
    pytest.param(
        "const i32 I = 0x80000000",
        1,
        15,
        "2147483648 is out of range for i32 (-2147483648..2147483647)",
        id="i32-range-hex",
    ),
    pytest.param(
        "const i64 I = 9223372036854775808",
        1,
        15,
        "integer 9223372036854775808 does not fit in 64 bits",
        id="i64-literal",
    ),
    pytest.param(
        "const bool B = 2", 1, 16, "2 is not a bool (use true/false or 0/1)", id="bool-int"
    ),
    pytest.param(
        "const i32 B = true", 1, 15, "type mismatch: expected i32, found a bool", id="bool-to-i32"
    ),
    pytest.param(
        'const list<i32> L = [1, 2, "x"]',
        1,
        28,
        "type mismatch: expected i32, found a string",
        id="list-element",
    ),
    pytest.param(
        "const map<i32,i32> M = {1: 2, 1: 3}",
        1,
        31,
        "duplicate key 1 in map constant",
        id="duplicate-map-key",
    ),
    pytest.param('const uuid U = "nope"', 1, 16, "'nope' is not a valid uuid", id="bad-uuid"),
    pytest.param(
        'struct A { 1: i32 x = "s" }',
        1,
        23,
        "type mismatch: expected i32, found a string",
        id="default-mismatch",
    ),
    pytest.param(
        "enum Color { RED, GREEN }\nconst Color C = Color.BLUE\n",
        2,
        17,
        "enum Color has no member 'BLUE'",
        id="unknown-enum-member",
    ),
    pytest.param(
        "enum E { X }\nconst E C = X\n",
        2,
        13,
        "undefined constant 'X' (enum values are written E.X)",
        id="bare-enum-member",
    ),
    pytest.param(
        "enum E { X = 1 }\nconst E C = 5\n", 2, 13, "5 is not a value of enum E", id="enum-int"
    ),
    pytest.param(
        "enum E { A = 1, B = 1 }",
        1,
        21,
        "E.B has value 1, already used by E.A",
        id="duplicate-enum-value",
    ),
    pytest.param(
        "enum E { A, A }", 1, 13, "duplicate enum member 'A' in E", id="duplicate-enum-member"
    ),
    pytest.param(
        "enum E { A = 2147483648 }",
        1,
        14,
        "enum value 2147483648 does not fit in i32",
        id="enum-value-range",
    ),
    pytest.param(
        'struct P { 1: i32 x }\nconst P p = {"y": 1}\n',
        2,
        14,
        "P has no field 'y'",
        id="struct-literal-unknown-field",
    ),
    pytest.param(
        'const string S = "x"\nconst i32 I = S\n',
        2,
        15,
        "type mismatch: expected i32, constant 'S' is string",
        id="const-ref-mismatch",
    ),
    pytest.param(
        "const i32 A = B\nconst i32 B = A\n",
        2,
        15,
        "constant cycle: A -> B -> A",
        id="const-cycle",
    ),
    pytest.param("const i32 A = NOPE", 1, 15, "undefined constant 'NOPE'", id="undefined-constant"),
    pytest.param(
        "typedef B A\ntypedef A B\n", 2, 9, "typedef cycle: A -> B -> A", id="typedef-cycle"
    ),
    pytest.param("typedef Self Self", 1, 9, "typedef cycle: Self -> Self", id="typedef-self"),
    pytest.param(
        "struct S { 1: S child = {} }",
        1,
        25,
        "default value cycle: S -> S",
        id="default-needs-itself",
    ),
    pytest.param(
        "service S {\n  oneway i32 ping()\n}\n",
        2,
        10,
        "oneway method S.ping must return void",
        id="oneway-returns",
    ),
    pytest.param(
        "exception E {}\nservice S {\n  oneway void ping() throws (1: E e)\n}\n",
        3,
        22,
        "oneway method S.ping cannot declare throws",
        id="oneway-throws",
    ),
    pytest.param(
        "struct NotExc {}\nservice S {\n  void f() throws (1: NotExc e)\n}\n",
        3,
        23,
        "S.f throws NotExc, which is not an exception type",
        id="throws-non-exception",
    ),
    pytest.param(
        "exception E {}\nservice S { i32 f() throws (1: E success) }\n",
        2,
        34,
        "S.f throws: 'success' is reserved for the result",
        id="throws-named-success",
    ),
    pytest.param(
        "struct Base {}\nservice S extends Base {}\n",
        2,
        19,
        "S extends 'Base', which is a struct, not a service",
        id="extends-non-service",
    ),
    pytest.param(
        "service S extends Nope {}", 1, 19, "undefined service 'Nope'", id="extends-undefined"
    ),
    pytest.param(
        "service A extends B {}\nservice B extends A {}\n",
        2,
        19,
        "service inheritance cycle: A -> B -> A",
        id="extends-cycle",
    ),
    pytest.param(
        "service Base { void ping() }\nservice Child extends Base { void ping() }\n",
        2,
        35,
        "method 'ping' is already defined by base service Base; "
        "Thrift services cannot override methods",
        id="override",
    ),
    pytest.param(
        "service S { void a(), void a() }",
        1,
        28,
        "duplicate method 'a' in service S",
        id="duplicate-method",
    ),
    pytest.param(
        "service S { void f(1: i32 a, 1: i32 b) }",
        1,
        30,
        "duplicate field id 1 in S.f",
        id="duplicate-param-id",
    ),
    pytest.param(
        "struct S {}\nconst i32 X = S\n",
        2,
        15,
        "'S' is not a constant or enum value",
        id="struct-used-as-value",
    ),
    pytest.param(
        "enum A { X }\nenum B { Y }\nconst B b = A.X\n",
        3,
        13,
        "type mismatch: expected B, found a value of enum A",
        id="wrong-enum",
    ),
    pytest.param(
        "enum E { X = 1 }\nconst i32 TWO = 2\nconst E e = TWO\n",
        3,
        13,
        "2 is not a value of enum E",
        id="int-constant-not-in-enum",
    ),
    pytest.param(
        'union U { 1: i32 a, 2: i32 b }\nconst U u = {"a": 1, "b": 2}\n',
        2,
        13,
        "union U can set only one field",
        id="union-literal-two-fields",
    ),
    pytest.param(
        "struct P { 1: i32 x }\nconst P p = {1: 2}\n",
        2,
        14,
        "a struct constant's keys must be quoted field names",
        id="struct-literal-key",
    ),
    pytest.param(
        'struct P { 1: i32 x }\nconst P p = {"x": 1, "x": 2}\n',
        2,
        22,
        "field 'x' is given twice",
        id="struct-literal-field-twice",
    ),
    pytest.param(
        'struct P { 1: i32 x }\nconst map<P,i32> M = {{"x": 1}: 2}\n',
        2,
        23,
        "a constant cannot have P keys (not hashable)",
        id="struct-map-key",
    ),
    pytest.param(
        "const set<i32> S = [1, 2, 1]", 1, 27, "duplicate value 1 in set constant", id="set-dup"
    ),
    pytest.param(
        "const list<i32> L = 5",
        1,
        21,
        "type mismatch: expected list<i32>, found an integer",
        id="int-to-list",
    ),
    pytest.param(
        "const map<i32,i32> M = [1]",
        1,
        24,
        "type mismatch: expected map<i32,i32>, found a list",
        id="list-to-map",
    ),
    # syntax and lexing
    pytest.param(
        "struct A { 1: i32 }", 1, 19, "expected a field name, found '}'", id="missing-name"
    ),
    pytest.param(
        "struct A {\n  1: i32 x\n", 3, 1, "expected a field or '}', found end of file", id="eof"
    ),
    pytest.param(
        "struct a.b {}", 1, 8, "a struct name cannot contain '.': 'a.b'", id="dotted-name"
    ),
    pytest.param("struct list {}", 1, 8, "'list' is a reserved word and cannot be a name", id="kw"),
    pytest.param(
        "struct A { 1: void x }",
        1,
        15,
        "'void' is only allowed as a method return type",
        id="void-field",
    ),
    pytest.param(
        'const string S = "abc\n', 1, 18, "unterminated string literal", id="unterminated-str"
    ),
    pytest.param(
        "struct A {}\n/* never closed\n", 2, 1, "unterminated comment", id="unterminated-comment"
    ),
    pytest.param("struct A { 1: i32 x $ }", 1, 21, "unexpected character '$'", id="bad-character"),
    pytest.param('const string S = "a\\qb"', 1, 20, "unknown escape '\\q'", id="bad-escape"),
    pytest.param(
        'senum S { "a" }',
        1,
        1,
        "'senum' is deprecated and not supported; use 'enum' or 'set<string>'",
        id="senum",
    ),
    pytest.param(
        "structure A {}",
        1,
        1,
        "expected a definition (include, namespace, const, typedef, enum, struct, union, "
        "exception, service), found 'structure'",
        id="unknown-definition",
    ),
    pytest.param(
        "struct A { 1 i32 x }", 1, 14, "expected ':' after the field id, found 'i32'", id="colon"
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), CASES)
def test_error_location_and_message(
    error_of: ErrorOf, text: str, line: int, column: int, message: str
) -> None:
    err = error_of(text)
    assert (err.filename, err.line, err.column) == ("t.thrift", line, column)
    first, source_line, caret = str(err).split("\n")
    assert first == f"t.thrift:{line}:{column}: error: {message}"
    expected_line = (text.split("\n") + [""])[line - 1]
    assert source_line == expected_line
    assert caret == " " * (column - 1) + "^"


def test_error_is_a_swordfish_error(error_of: ErrorOf) -> None:
    assert isinstance(error_of("struct {"), SwordfishError)


def test_full_message_format(error_of: ErrorOf) -> None:
    err = error_of("struct A {\n  1: i32 x,\n  2: Missing y,\n}\n")
    assert str(err) == ("t.thrift:3:6: error: undefined type 'Missing'\n  2: Missing y,\n     ^")


def test_caret_keeps_tabs_aligned(error_of: ErrorOf) -> None:
    err = error_of("struct A {\n\t1: Missing y\n}\n")
    assert (err.line, err.column) == (2, 5)
    assert str(err).split("\n")[1:] == ["\t1: Missing y", "\t   ^"]


def test_missing_include(error_of: ErrorOf) -> None:
    err = error_of('include "nope.thrift"\n')
    assert (err.line, err.column) == (1, 9)
    assert str(err).startswith("t.thrift:1:9: error: cannot find include 'nope.thrift' (searched:")


def test_crlf_line_endings(error_of: ErrorOf) -> None:
    err = error_of("struct A {\r\n  1: Missing y\r\n}\r\n")
    assert (err.line, err.column) == (2, 6)
    assert str(err).split("\n")[1] == "  1: Missing y"
