"""Apache's ThriftTest.thrift loads completely and its types come out right."""

from __future__ import annotations

import types
import uuid
from enum import IntEnum

import pytest

from swordfish.idl import load
from swordfish.model import (
    Requiredness,
    StructKind,
    ThriftException,
    TType,
    Union,
)

# Apache Thrift's cross-language test IDL, kept verbatim (license header included).
from tests.paths import THRIFT_TEST


@pytest.fixture
def tt() -> types.ModuleType:
    return load(THRIFT_TEST)


def test_module_identity(tt: types.ModuleType) -> None:
    assert tt.__name__ == "ThriftTest_thrift"
    assert tt.__thrift_file__ == str(THRIFT_TEST.resolve())
    assert tt.__thrift_namespaces__["py"] == "ThriftTest"
    assert tt.__thrift_namespaces__["*"] == "thrift.test"
    assert tt.__thrift_namespaces__["cpp.noexist"] == "ThriftTest"
    meta = tt.__thrift_meta__
    assert tt.Xtruct in meta["structs"]
    assert tt.SomeUnion in meta["unions"]
    assert meta["exceptions"] == [tt.Xception, tt.Xception2]
    assert meta["enums"] == [tt.Numberz]
    assert meta["services"] == [tt.ThriftTest, tt.SecondService]
    assert meta["consts"] == [tt.Numberz.ONE]
    assert meta["includes"] == []


def test_numberz(tt: types.ModuleType) -> None:
    assert issubclass(tt.Numberz, IntEnum)
    assert {m.name: m.value for m in tt.Numberz} == {
        "ONE": 1,
        "TWO": 2,
        "THREE": 3,
        "FIVE": 5,
        "SIX": 6,
        "EIGHT": 8,
    }
    assert tt.Numberz.__doc__ == "Docstring!"
    assert tt.Numberz.__module__ == "ThriftTest_thrift"
    assert tt.myNumberz is tt.Numberz.ONE


def test_xtruct_fields(tt: types.ModuleType) -> None:
    spec = tt.Xtruct.__thrift_spec__
    assert spec.kind == StructKind.STRUCT
    assert [(f.id, f.name, f.type.ttype) for f in spec.fields] == [
        (1, "string_thing", TType.STRING),
        (4, "byte_thing", TType.BYTE),
        (9, "i32_thing", TType.I32),
        (11, "i64_thing", TType.I64),
    ]
    assert tt.Xtruct._sf_names == ("string_thing", "byte_thing", "i32_thing", "i64_thing")
    assert spec.by_id[4].type.name == "i8"
    xtruct2 = tt.Xtruct2.__thrift_spec__
    assert xtruct2.by_name["struct_thing"].type.struct is tt.Xtruct


def test_typedefs_resolved(tt: types.ModuleType) -> None:
    insanity = tt.Insanity.__thrift_spec__
    user_map = insanity.by_id[1].type
    assert user_map.ttype == TType.MAP
    assert user_map.key is not None and user_map.key.enum is tt.Numberz
    assert user_map.key.ttype == TType.I32
    assert user_map.value is not None and user_map.value.ttype == TType.I64
    assert user_map.value.name == "UserId"
    assert insanity.annotations == (("python.immutable", ""),)
    xtructs = insanity.by_id[2].type
    assert xtructs.ttype == TType.LIST and xtructs.value is not None
    assert xtructs.value.struct is tt.Xtruct


def test_crazy_nesting(tt: types.ModuleType) -> None:
    spec = tt.CrazyNesting.__thrift_spec__
    set_field = spec.by_id[2]
    assert set_field.requiredness == Requiredness.OPTIONAL
    assert set_field.type.ttype == TType.SET
    assert set_field.type.value is not None and set_field.type.value.struct is tt.Insanity
    lst = spec.by_id[3]
    assert lst.requiredness == Requiredness.REQUIRED
    # list<map<set<i32>, map<i32,set<list<map<Insanity,string>>>>>>
    t = lst.type
    assert t.ttype == TType.LIST
    m = t.value
    assert m is not None and m.ttype == TType.MAP
    assert m.key is not None and m.key.ttype == TType.SET
    assert m.key.value is not None and m.key.value.ttype == TType.I32
    inner = m.value
    assert inner is not None and inner.ttype == TType.MAP
    assert inner.key is not None and inner.key.ttype == TType.I32
    s = inner.value
    assert s is not None and s.ttype == TType.SET
    lst2 = s.value
    assert lst2 is not None and lst2.ttype == TType.LIST
    m2 = lst2.value
    assert m2 is not None and m2.ttype == TType.MAP
    assert m2.key is not None and m2.key.struct is tt.Insanity
    assert m2.value is not None and m2.value.ttype == TType.STRING and not m2.value.binary
    assert spec.by_id[4].type.ttype == TType.STRING and spec.by_id[4].type.binary
    assert spec.by_id[5].type.ttype == TType.UUID


def test_union_and_exceptions(tt: types.ModuleType) -> None:
    assert issubclass(tt.SomeUnion, Union)
    assert tt.SomeUnion.__thrift_spec__.kind == StructKind.UNION
    assert issubclass(tt.Xception, ThriftException)
    assert issubclass(tt.Xception, Exception)
    err = tt.Xception(1001, "boom")
    with pytest.raises(tt.Xception) as info:
        raise err
    assert info.value.errorCode == 1001
    assert info.value.message == "boom"


def test_defaults(tt: types.ModuleType) -> None:
    assert tt.BoolTest() == tt.BoolTest(b=True, s="true")
    a, b = tt.OptionalSetDefaultTest(), tt.OptionalSetDefaultTest()
    assert a.with_default == {"test"}
    a.with_default.add("x")
    assert b.with_default == {"test"}  # copied per instance
    ob = tt.OptionalBinary()
    assert ob.bin_set == set() and ob.bin_map == {}


def test_thrift_test_service(tt: types.ModuleType) -> None:
    spec = tt.ThriftTest.__thrift_service__
    assert spec.name == "ThriftTest" and spec.base is None
    assert list(spec.methods) == [
        "testVoid",
        "testString",
        "testBool",
        "testByte",
        "testI32",
        "testI64",
        "testDouble",
        "testBinary",
        "testUuid",
        "testStruct",
        "testNest",
        "testMap",
        "testStringMap",
        "testSet",
        "testList",
        "testEnum",
        "testTypedef",
        "testMapMap",
        "testInsanity",
        "testMulti",
        "testException",
        "testMultiException",
        "testOneway",
    ]
    void = spec.methods["testVoid"]
    assert void.returns is None and not void.oneway
    assert void.result is not None and void.result._sf_names == ()

    oneway = spec.methods["testOneway"]
    assert oneway.oneway and oneway.result is None and oneway.returns is None
    assert oneway.arg_names == ("secondsToSleep",)

    multi = spec.methods["testMultiException"]
    assert multi.arg_names == ("arg0", "arg1")
    assert [(f.id, f.name, f.type.struct) for f in multi.throws] == [
        (1, "err1", tt.Xception),
        (2, "err2", tt.Xception2),
    ]
    assert multi.result is not None
    result = multi.result.__thrift_spec__
    assert [(f.id, f.name) for f in result.fields] == [(0, "success"), (1, "err1"), (2, "err2")]
    assert result.by_id[0].type.struct is tt.Xtruct
    assert all(f.optional for f in result.fields)
    assert multi.throws == result.fields[1:]

    test_multi = spec.methods["testMulti"]
    assert [f.type.name for f in test_multi.args.__thrift_spec__.fields] == [
        "i8",
        "i32",
        "i64",
        "map<i16,string>",
        "Numberz",
        "UserId",
    ]
    assert (
        spec.methods["testUuid"].returns
        == tt.ThriftTest.testUuid_args.__thrift_spec__.by_id[1].type
    )
    # thriftpy2-style attributes on the service object
    assert tt.ThriftTest.testString_args is spec.methods["testString"].args
    assert tt.ThriftTest.testString_result is spec.methods["testString"].result
    assert "testOneway" in tt.ThriftTest.thrift_services
    assert not hasattr(tt.ThriftTest, "testOneway_result")


def test_second_service(tt: types.ModuleType) -> None:
    spec = tt.SecondService.__thrift_service__
    assert list(spec.methods) == ["secondtestString"]
    m = spec.methods["secondtestString"]
    assert m.returns is not None and m.returns.ttype == TType.STRING
    assert m.service == "SecondService"


def test_large_deltas_and_uuid_args(tt: types.ModuleType) -> None:
    assert sorted(tt.LargeDeltas.__thrift_spec__.by_id) == [
        1,
        10,
        100,
        500,
        1000,
        1500,
        2000,
        2500,
        3000,
        4000,
    ]
    args = tt.ThriftTest.testUuid_args(uuid.UUID(int=1))
    assert args.thing == uuid.UUID(int=1)
