"""Includes (relative, include_dirs, cycles), caching, module registration, import hook."""

from __future__ import annotations

import importlib
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from swordfish.errors import IDLError
from swordfish.idl import clear_cache, install_import_hook, load, loads, uninstall_import_hook
from swordfish.model import TType

Write = Callable[[str, str], Path]

SHARED = """
namespace py shared
typedef i64 Id
enum Kind { A = 1, B = 2 }
const i32 LIMIT = 10
struct SharedStruct { 1: Id id, 2: Kind kind = Kind.B }
exception SharedError { 1: string why }
service Base {
  string ping(1: i32 n) throws (1: SharedError err)
}
"""

MAIN = """
include "shared.thrift"
struct Local {
  1: shared.SharedStruct s,
  2: shared.Id id,
  3: shared.Kind kind = shared.Kind.A,
  4: i32 limit = shared.LIMIT,
  5: list<shared.SharedStruct> many,
}
const shared.SharedStruct DEFAULT = {"id": 5}
service Child extends shared.Base {
  void pong() throws (1: shared.SharedError err)
}
"""


def test_relative_include(write: Write) -> None:
    write("shared.thrift", SHARED)
    main = load(write("main.thrift", MAIN))
    shared = main.shared
    assert shared is sys.modules["shared_thrift"]
    assert main.__thrift_meta__["includes"] == [shared]
    spec = main.Local.__thrift_spec__
    assert spec.by_id[1].type.struct is shared.SharedStruct
    assert spec.by_id[1].type.name == "shared.SharedStruct"
    assert spec.by_id[2].type.ttype == TType.I64 and spec.by_id[2].type.name == "shared.Id"
    assert spec.by_id[3].type.enum is shared.Kind
    assert main.Local().kind is shared.Kind.A
    assert main.Local().limit == 10
    many = spec.by_id[5].type
    assert many.value is not None and many.value.struct is shared.SharedStruct
    assert main.DEFAULT == shared.SharedStruct(id=5, kind=shared.Kind.B)


def test_service_extends_included_service(write: Write) -> None:
    write("shared.thrift", SHARED)
    main = load(write("main.thrift", MAIN))
    base = main.shared.Base.__thrift_service__
    child = main.Child.__thrift_service__
    assert child.base is base
    assert list(child.methods) == ["ping", "pong"]
    assert child.methods["ping"] is base.methods["ping"]  # inherited spec unchanged
    assert child.methods["ping"].service == "Base"
    assert child.methods["pong"].throws[0].type.struct is main.shared.SharedError


def test_include_dirs_and_subfolders(write: Write, tmp_path: Path) -> None:
    write("lib/common.thrift", "struct Common { 1: i32 x }\n")
    write("app/sub/leaf.thrift", "struct Leaf { 1: i32 y }\n")
    main_path = write(
        "app/main.thrift",
        'include "common.thrift"\ninclude "sub/leaf.thrift"\n'
        "struct M { 1: common.Common c, 2: leaf.Leaf l }\n",
    )
    with pytest.raises(IDLError) as info:
        load(main_path)
    assert "cannot find include 'common.thrift'" in str(info.value)
    assert (info.value.line, info.value.column) == (1, 9)

    main = load(main_path, include_dirs=[tmp_path / "lib"])
    assert main.common.Common(1).x == 1
    assert main.leaf.Leaf(2).y == 2
    assert main.M.__thrift_spec__.by_id[1].type.struct is main.common.Common


def test_relative_include_wins_over_include_dirs(write: Write, tmp_path: Path) -> None:
    write("other/dup.thrift", "const i32 WHERE = 2\n")
    write("dup.thrift", "const i32 WHERE = 1\n")
    main = load(write("main.thrift", 'include "dup.thrift"\n'), include_dirs=[tmp_path / "other"])
    assert main.dup.WHERE == 1


def test_include_cycle(write: Write) -> None:
    b = write("b.thrift", '\ninclude "a.thrift"\nstruct B {}\n')
    with pytest.raises(IDLError) as info:
        load(write("a.thrift", 'include "b.thrift"\nstruct A {}\n'))
    err = info.value
    assert err.filename == str(b)
    assert (err.line, err.column) == (2, 9)
    assert str(err).split("\n")[0] == (
        f"{b}:2:9: error: include cycle: a.thrift -> b.thrift -> a.thrift"
    )
    assert "a_thrift" not in sys.modules and "b_thrift" not in sys.modules


def test_file_with_bom_and_bad_utf8(write: Write) -> None:
    bom = write("bom.thrift", "")
    bom.write_bytes(b"\xef\xbb\xbfstruct A { 1: i32 x }\n")
    assert load(bom).A(1).x == 1
    bad = write("bad.thrift", "")
    bad.write_bytes(b"struct A {}\n// \xff\n")
    with pytest.raises(IDLError, match=r"bad\.thrift: error: not valid UTF-8"):
        load(bad)


def test_missing_top_level_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.thrift")


def test_self_include(write: Write) -> None:
    path = write("self.thrift", 'include "self.thrift"\n')
    with pytest.raises(IDLError, match=r"include cycle: self\.thrift -> self\.thrift"):
        load(path)


def test_diamond_include_loads_shared_file_once(write: Write) -> None:
    write("d.thrift", "struct D { 1: i32 v }\n")
    write("b.thrift", 'include "d.thrift"\nstruct B { 1: d.D d }\n')
    write("c.thrift", 'include "d.thrift"\nstruct C { 1: d.D d }\n')
    a = load(write("a.thrift", 'include "b.thrift"\ninclude "c.thrift"\n'))
    assert a.b.d is a.c.d
    assert a.b.B.__thrift_spec__.by_id[1].type.struct is a.c.C.__thrift_spec__.by_id[1].type.struct


def test_cache_returns_same_module(write: Write, tmp_path: Path) -> None:
    path = write("calc.thrift", "struct Work { 1: i32 n }\n")
    first = load(path)
    assert first.__name__ == "calc_thrift"
    assert sys.modules["calc_thrift"] is first
    assert load(str(path)) is first
    assert load(tmp_path / "." / "calc.thrift") is first
    other = load(path, module_name="calc2_thrift")
    assert other is not first and other.Work is not first.Work
    assert load(path, include_dirs=[tmp_path]) is not first  # include dirs are part of the key
    del sys.modules["calc_thrift"]
    assert load(path) is first and sys.modules["calc_thrift"] is first  # registered again
    clear_cache()
    assert load(path) is not first


def test_included_file_shares_cache_with_direct_load(write: Write) -> None:
    shared_path = write("shared.thrift", SHARED)
    main = load(write("main.thrift", MAIN))
    assert load(shared_path) is main.shared


def test_pickle_included_and_local_structs(write: Write) -> None:
    write("shared.thrift", SHARED)
    main = load(write("main.thrift", MAIN))
    value = main.Local(s=main.shared.SharedStruct(id=1), many=[main.shared.SharedStruct(id=2)])
    again = pickle.loads(pickle.dumps(value))
    assert again == value and type(again.s) is main.shared.SharedStruct
    err = main.shared.SharedError("bad")
    err2 = pickle.loads(pickle.dumps(err))
    assert type(err2) is main.shared.SharedError and err2.why == "bad"


def test_loads_includes_relative_to_path(write: Write, tmp_path: Path) -> None:
    write("shared.thrift", SHARED)
    m = loads(
        'include "shared.thrift"\nconst i32 X = shared.LIMIT\n',
        "from_string_thrift",
        path=str(tmp_path / "virtual.thrift"),
    )
    assert m.X == 10
    assert sys.modules["from_string_thrift"] is m
    assert m.__thrift_file__ == str(tmp_path / "virtual.thrift")


def test_module_name_must_not_shadow_python_module(write: Write) -> None:
    path = write("json.thrift", "struct J {}\n")
    with pytest.raises(IDLError, match="already used by a module that was not loaded"):
        load(path, module_name="json")
    assert not hasattr(sys.modules["json"], "J")


def test_import_hook(write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write("hooked.thrift", 'include "inc.thrift"\nstruct H { 1: inc.I i }\n')
    write("incdir/inc.thrift", "struct I { 1: i32 v }\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError):
        importlib.import_module("hooked_thrift")
    install_import_hook(include_dirs=[tmp_path / "incdir"])
    try:
        mod = importlib.import_module("hooked_thrift")
        assert mod.H(mod.inc.I(3)).i.v == 3
        assert mod.__thrift_file__ == str((tmp_path / "hooked.thrift").resolve())
        assert importlib.import_module("hooked_thrift") is mod
        with pytest.raises(ImportError):
            importlib.import_module("missing_thrift")
    finally:
        uninstall_import_hook()
    assert not any(type(f).__name__ == "ThriftImporter" for f in sys.meta_path)


def test_same_file_included_twice_and_absolute_include(write: Write) -> None:
    shared = write("shared.thrift", SHARED)
    main = load(write("main.thrift", f'include "shared.thrift"\ninclude "{shared}"\n'))
    assert main.__thrift_meta__["includes"] == [main.shared]


def test_two_includes_with_one_stem(write: Write) -> None:
    write("x/common.thrift", "struct A {}\n")
    write("y/common.thrift", "struct B {}\n")
    with pytest.raises(IDLError) as info:
        load(write("main.thrift", 'include "x/common.thrift"\ninclude "y/common.thrift"\n'))
    assert (info.value.line, info.value.column) == (2, 9)
    assert "another included file is already named 'common'" in str(info.value)
