"""IDL syntax: comments, separators, ids, requiredness, annotations, docs, recursion."""

from __future__ import annotations

import pickle
import types

import pytest

from swordfish.errors import LocalProtocolError
from swordfish.model import Requiredness, StructKind, TType

from .conftest import LoadText

KITCHEN_SINK = """
// line comment
# hash comment
/* block
   comment */
namespace py sink
namespace * everything
cpp_include "<vector>"

/**
 * A documented struct.
 *
 * Second paragraph.
 */
struct Doc {
  1: required i32 a;     // semicolons
  2: optional string b,  # commas
  3: i64 c               /* nothing */
  string d2
} (struct.flag, owner = "team")

struct NoIds {
  string first,
  i32 second,
  5: i32 explicit,
  list<i32> third
}

struct Annotated {
  1: list<i32> (python.type = "tuple") items (field.note = 'yes', bare),
}

/** Colors. */
enum Color {
  RED = 1 (hex = "0xff0000"),
  GREEN;
  BLUE = 10,
} (enum.note = "x")

typedef Color Alias
typedef list<Doc> Docs

struct Types {
  1: bool b, 2: byte y, 3: i8 x, 4: i16 s, 5: i32 i, 6: i64 l, 7: double d,
  8: string str, 9: binary bin, 10: uuid u, 11: slist old, 12: Docs docs, 13: Alias color,
}

/** The service. */
service Svc {
  /** Ping. */
  void ping() (method.note = "m"),
  oneway void fire(1: i32 n);
  i32 add(1: required i32 a, 2: optional i32 b = 2, i32 c)
} (svc.note = "s")
"""


@pytest.fixture
def sink(load_text: LoadText) -> types.ModuleType:
    return load_text(KITCHEN_SINK)


def test_namespaces(sink: types.ModuleType) -> None:
    assert sink.__thrift_namespaces__ == {"py": "sink", "*": "everything"}


def test_docs_become_docstrings(sink: types.ModuleType) -> None:
    assert sink.Doc.__doc__ == "A documented struct.\n\nSecond paragraph."
    assert sink.Color.__doc__ == "Colors."
    assert sink.Svc.__doc__ == "The service."
    assert sink.NoIds.__doc__ is None


def test_requiredness_and_separators(sink: types.ModuleType) -> None:
    fields = sink.Doc.__thrift_spec__.fields
    assert [(f.id, f.name, f.requiredness) for f in fields] == [
        (1, "a", Requiredness.REQUIRED),
        (2, "b", Requiredness.OPTIONAL),
        (3, "c", Requiredness.DEFAULT),
        (-1, "d2", Requiredness.DEFAULT),
    ]


def test_auto_ids_are_negative_in_order(sink: types.ModuleType) -> None:
    fields = sink.NoIds.__thrift_spec__.fields
    assert [(f.id, f.name) for f in fields] == [
        (-1, "first"),
        (-2, "second"),
        (5, "explicit"),
        (-3, "third"),
    ]
    add = sink.Svc.__thrift_service__.methods["add"]
    assert [(f.id, f.name) for f in add.args.__thrift_spec__.fields] == [
        (1, "a"),
        (2, "b"),
        (-1, "c"),
    ]


def test_annotations_are_kept(sink: types.ModuleType) -> None:
    assert sink.Doc.__thrift_spec__.annotations == (("struct.flag", "1"), ("owner", "team"))
    items = sink.Annotated.__thrift_spec__.fields[0]
    assert items.annotations == (("field.note", "yes"), ("bare", "1"))
    assert items.type.ttype == TType.LIST  # type annotations are read and ignored
    svc = sink.Svc.__thrift_service__
    assert svc.annotations == (("svc.note", "s"),)
    assert svc.methods["ping"].annotations == (("method.note", "m"),)
    assert sink.Color.__thrift_annotations__ == (("enum.note", "x"),)


def test_enum_values(sink: types.ModuleType) -> None:
    assert [(c.name, c.value) for c in sink.Color] == [("RED", 1), ("GREEN", 2), ("BLUE", 10)]


def test_all_base_types(sink: types.ModuleType) -> None:
    by_name = sink.Types.__thrift_spec__.by_name
    expected = {
        "b": (TType.BOOL, False, "bool"),
        "y": (TType.BYTE, False, "byte"),
        "x": (TType.BYTE, False, "i8"),
        "s": (TType.I16, False, "i16"),
        "i": (TType.I32, False, "i32"),
        "l": (TType.I64, False, "i64"),
        "d": (TType.DOUBLE, False, "double"),
        "str": (TType.STRING, False, "string"),
        "bin": (TType.STRING, True, "binary"),
        "u": (TType.UUID, False, "uuid"),
        "old": (TType.STRING, False, "slist"),
        "docs": (TType.LIST, False, "Docs"),
        "color": (TType.I32, False, "Alias"),
    }
    got = {n: (f.type.ttype, f.type.binary, f.type.name) for n, f in by_name.items()}
    assert got == expected
    assert by_name["docs"].type.value is not None
    assert by_name["docs"].type.value.struct is sink.Doc
    assert by_name["color"].type.enum is sink.Color


def test_typedef_of_struct_or_enum_is_an_alias(sink: types.ModuleType) -> None:
    assert sink.Alias is sink.Color
    assert not hasattr(sink, "Docs")  # a typedef of a container has no runtime object


def test_service_methods(sink: types.ModuleType) -> None:
    svc = sink.Svc.__thrift_service__
    fire = svc.methods["fire"]
    assert fire.oneway and fire.result is None
    add = svc.methods["add"]
    assert add.returns is not None and add.returns.ttype == TType.I32
    args = add.args.__thrift_spec__
    assert [f.requiredness for f in args.fields] == [
        Requiredness.REQUIRED,
        Requiredness.OPTIONAL,
        Requiredness.DEFAULT,
    ]
    assert add.args().b == 2
    assert add.result is not None
    assert [(f.id, f.name) for f in add.result.__thrift_spec__.fields] == [(0, "success")]
    assert add.args.__qualname__ == "Svc.add_args"
    assert pickle.loads(pickle.dumps(add.args(1, 2, 3))) == add.args(1, 2, 3)


RECURSIVE = """
struct Tree { 1: i32 value, 2: list<Tree> children, 3: optional Tree parent }
struct Ping { 1: optional Pong pong }
struct Pong { 1: optional Ping ping }
union Expr { 1: i32 lit, 2: BinOp op }
struct BinOp { 1: required Expr left, 2: required Expr right }
exception Oops { 1: string message, 2: i32 code = 7 }
"""


@pytest.fixture
def rec(load_text: LoadText) -> types.ModuleType:
    return load_text(RECURSIVE)


def test_recursive_and_mutually_recursive(rec: types.ModuleType) -> None:
    tree = rec.Tree.__thrift_spec__
    children = tree.by_name["children"].type
    assert children.value is not None and children.value.struct is rec.Tree
    assert tree.by_name["parent"].type.struct is rec.Tree
    assert rec.Ping.__thrift_spec__.fields[0].type.struct is rec.Pong
    assert rec.Pong.__thrift_spec__.fields[0].type.struct is rec.Ping
    t = rec.Tree(1, [rec.Tree(2, [])])
    assert pickle.loads(pickle.dumps(t)) == t


def test_repr_eq_validate(rec: types.ModuleType) -> None:
    t = rec.Tree(value=1)
    assert repr(t) == "Tree(value=1, children=None, parent=None)"
    assert t == rec.Tree(1) and t != rec.Tree(2)
    assert rec.Tree.__module__ == rec.__name__ and rec.Tree.__qualname__ == "Tree"
    op = rec.BinOp(left=rec.Expr(lit=1))
    with pytest.raises(LocalProtocolError, match=r"BinOp\.right"):
        op.validate()
    rec.BinOp(rec.Expr(lit=1), rec.Expr(lit=2)).validate()
    assert rec.Expr.__thrift_spec__.kind == StructKind.UNION
    with pytest.raises(LocalProtocolError):
        rec.Expr(lit=1, op=op).validate()
    rec.Expr(lit=1).validate()


def test_exception_class(rec: types.ModuleType) -> None:
    err = rec.Oops("bad")
    assert err.code == 7
    assert isinstance(err, Exception)
    assert repr(err) == "Oops(message='bad', code=7)"
    again = pickle.loads(pickle.dumps(err))
    assert again == err and again is not err
    assert rec.__thrift_meta__["exceptions"] == [rec.Oops]
    assert rec.__thrift_meta__["unions"] == [rec.Expr]
    assert rec.__thrift_meta__["structs"] == [rec.Tree, rec.Ping, rec.Pong, rec.BinOp]


def test_definitions_in_any_order(load_text: LoadText) -> None:
    m = load_text(
        "const Later L = {'x': K}\nconst i32 K = 4\ntypedef Fwd Later\nstruct Fwd { 1: i32 x }\n"
    )
    assert m.L == m.Fwd(4)


def test_empty_file_and_only_comments(load_text: LoadText) -> None:
    m = load_text("// nothing here\n/** dangling doc */\n")
    assert m.__thrift_meta__["structs"] == []


def test_windows_line_endings_and_bom(load_text: LoadText) -> None:
    m = load_text("\ufeffstruct A {\r\n  1: i32 x\r\n}\r\n")
    assert m.A(1).x == 1


def test_python_keyword_field_names(load_text: LoadText) -> None:
    m = load_text("struct K { 1: i32 from, 2: string class }")
    k = m.K(1, "c")
    assert getattr(k, "from") == 1 and getattr(k, "class") == "c"


def test_legacy_forms_are_read(load_text: LoadText) -> None:
    m = load_text(
        'typedef list<i32> cpp_type "std::vector<int>" Ints (py.note = "x")\n'
        "struct X xsd_all { 1: Ints ints, 2: map<X, i32> by_x = {} }\n"
    )
    ints = m.X.__thrift_spec__.by_id[1].type
    assert ints.ttype == TType.LIST and ints.name == "Ints"
    assert m.X().by_x == {}  # an empty map with struct keys is a fine default
