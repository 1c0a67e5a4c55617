"""Round trips of every type, the decode conventions, and what encoding accepts."""

from __future__ import annotations

import collections
import types
import uuid
from typing import Any

import pytest

from swordfish.errors import LocalProtocolError
from swordfish.model import MessageType, StructKind, TApplicationException

from .specs import (
    AllTypes,
    Bools,
    Choice,
    Color,
    Containers,
    Empty,
    Ids,
    Inner,
    Node,
    Oops,
    Strict,
    T,
    define,
    sample_all_types,
    sample_containers,
)


def roundtrip(codec: Any, value: Any) -> Any:
    data = codec.encode_struct(value)
    decoded = codec.decode_struct(type(value), data)
    assert decoded == value
    assert type(decoded) is type(value)
    # The same through an envelope, and from every kind of buffer.
    msg = codec.encode_message("m", MessageType.CALL, 9, value)
    for buf in (msg, bytearray(msg), memoryview(msg), memoryview(b"xx" + msg)[2:]):
        got = codec.decode_message(buf, lambda name, mtype: type(value))
        assert got.body == value
    return decoded


@pytest.mark.parametrize(
    "make",
    [
        sample_all_types,
        sample_containers,
        Empty,
        lambda: Bools(yes=True, no=False, many=[True] * 16 + [False]),
        lambda: Ids(neg=-5, one=1, sixteen=16, seventeen=17, forty=40, big=300),
        lambda: Ids(big=1, neg=2),
        lambda: Choice(number=5),
        lambda: Choice(inner=Inner(1, "x")),
        lambda: Oops("m", 1),
        lambda: TApplicationException("msg", TApplicationException.INTERNAL_ERROR),
        lambda: Node(1, [Node(2, [Node(3, [])])]),
        lambda: Containers(ints=list(range(100_000))),
        lambda: AllTypes(a_string="x" * 70_000, a_binary=bytes(range(256)) * 300),
        lambda: AllTypes(a_double=float("inf")),
        lambda: AllTypes(a_double=5e-324),
    ],
)
def test_roundtrip(codec: Any, make: Any) -> None:
    roundtrip(codec, make())


def test_decoded_types_follow_conventions(codec: Any) -> None:
    value = sample_containers()
    d = roundtrip(codec, value)
    assert type(d.ints) is list
    assert type(d.strings) is set
    assert type(d.uuids) is set and all(type(u) is uuid.UUID for u in d.uuids)
    assert type(d.i64s) is set and type(d.bool_set) is set
    # set<list<...>> cannot be a Python set: it decodes to a list of lists.
    assert type(d.set_of_lists) is list and all(type(x) is list for x in d.set_of_lists)
    assert all(type(k) is tuple for k in d.list_keys)
    assert all(type(k) is frozenset for k in d.set_keys)
    assert type(d.nested[0]) is list
    assert all(type(b) is bytes for b in d.blobs)
    a = roundtrip(codec, sample_all_types())
    assert type(a.a_enum) is int and a.a_enum == Color.BLUE  # enums decode as plain ints
    assert type(a.a_binary) is bytes and type(a.a_string) is str
    assert type(a.a_bool) is bool and type(a.a_double) is float


def test_unknown_enum_values_decode(codec: Any) -> None:
    assert roundtrip(codec, AllTypes(a_enum=12345)).a_enum == 12345


def test_absent_fields_decode_to_their_defaults(codec: Any) -> None:
    cls = define("WithDefault", [(1, "a", T.I32, 0, 7), (2, "b", T.STRING)])
    assert cls().a == 7
    data = codec.encode_struct(cls(a=None, b="x"))
    decoded = codec.decode_struct(cls, data)
    # Like Apache and thriftpy2 readers: a field the peer left out keeps its IDL default.
    assert decoded.a == 7 and decoded.b == "x"


def test_required_fields_are_not_enforced_on_decode(codec: Any) -> None:
    assert codec.decode_struct(Strict, codec.encode_struct(Empty())).must is None


def test_exceptions_decode_as_exceptions(codec: Any) -> None:
    e = codec.decode_struct(Oops, codec.encode_struct(Oops("bad", 2)))
    assert isinstance(e, Exception) and e.message == "bad" and e.code == 2
    tae = codec.decode_struct(
        TApplicationException, codec.encode_struct(TApplicationException("x", 1))
    )
    assert tae.type == TApplicationException.UNKNOWN_METHOD and str(tae) == "UNKNOWN_METHOD: x"


def test_union_with_no_field_set_encodes_empty(codec: Any) -> None:
    assert codec.encode_struct(Choice()) == codec.encode_struct(Empty())
    assert codec.decode_struct(Choice, codec.encode_struct(Choice())) == Choice()


@pytest.mark.parametrize(
    ("field", "given", "decoded"),
    [
        ("ints", (1, 2), [1, 2]),
        ("ints", range(3), [0, 1, 2]),
        ("ints", lambda: (i for i in [4, 5]), [4, 5]),  # made per test: generators run once
        ("ints", [Color.RED, True], [1, 1]),
        ("strings", ["a", "a", "b"], {"a", "b"}),
        ("strings", frozenset({"z"}), {"z"}),
        ("counts", collections.OrderedDict(a=1), {"a": 1}),
        ("counts", types.MappingProxyType({"b": 2}), {"b": 2}),
        ("blobs", [bytearray(b"ab"), memoryview(b"cd")], [b"ab", b"cd"]),
        (
            "uuids",
            ["12345678-1234-5678-1234-567812345678"],
            {uuid.UUID("12345678-1234-5678-1234-567812345678")},
        ),
        ("uuids", [b"\x01" * 16], {uuid.UUID(bytes=b"\x01" * 16)}),
        ("doubles", [1, -2], [1.0, -2.0]),
        ("bools", [1, 0, True], [True, False, True]),
        ("list_keys", {(1, 2): "a"}, {(1, 2): "a"}),
    ],
)
def test_encoding_accepts(codec: Any, field: str, given: Any, decoded: Any) -> None:
    if callable(given):
        given = given()
    data = codec.encode_struct(Containers(**{field: given}))
    assert getattr(codec.decode_struct(Containers, data), field) == decoded


def test_string_field_accepts_bytes(codec: Any) -> None:
    data = codec.encode_struct(AllTypes(a_string=b"raw"))
    assert data == codec.encode_struct(AllTypes(a_string="raw"))


def _v2_classes() -> tuple[type, type]:
    """V1 knows fields 1 and 5; V2 adds fields of every type around them."""
    v1 = define("V1", [(1, "a", T.I32), (5, "e", T.STRING)])
    v2 = define(
        "V2",
        [
            (1, "a", T.I32),
            (2, "b", T.map(T.STRING, T.list(T.struct(Inner)))),
            (3, "c", T.set(T.DOUBLE)),
            (4, "d", T.struct(Node)),
            (5, "e", T.STRING),
            (6, "f", T.UUID),
            (7, "g", T.list(T.BOOL)),
            (8, "h", T.BOOL),
            (9, "i", T.map(T.I16, T.BYTE)),
            (300, "j", T.I64),
            (-2, "k", T.BINARY),
            (10, "l", T.list(T.list(T.map(T.I32, T.DOUBLE)))),
        ],
    )
    return v1, v2


def test_unknown_fields_are_skipped(codec: Any) -> None:
    v1, v2 = _v2_classes()
    full = v2(
        a=1,
        b={"x": [Inner(1, "y"), Inner()]},
        c={1.5},
        d=Node(1, [Node(2, [])]),
        e="kept",
        f=uuid.UUID(int=5),
        g=[True, False],
        h=True,
        i={1: -1},
        j=2**40,
        k=b"\x00",
        l=[[{1: 2.0}], []],
    )
    got = codec.decode_struct(v1, codec.encode_struct(full))
    assert (got.a, got.e) == (1, "kept")
    msg = codec.encode_message("m", MessageType.REPLY, 1, full)
    assert codec.decode_message(msg, lambda n, t: v1).body == got
    assert codec.decode_message(msg, lambda n, t: None).body is None


def test_known_id_with_other_wire_type_is_skipped(codec: Any) -> None:
    wrong = define("Wrong", [(1, "num", T.STRING), (2, "text", T.list(T.I32))])
    got = codec.decode_struct(Inner, codec.encode_struct(wrong(num="s", text=[1, 2])))
    assert got == Inner(None, None)


def test_empty_containers_of_any_declared_type_decode(codec: Any) -> None:
    # A peer may write an empty container with any element type; it is still empty.
    other = define("Other", [(1, "ints", T.list(T.STRING)), (3, "counts", T.map(T.I32, T.I32))])
    got = codec.decode_struct(Containers, codec.encode_struct(other(ints=[], counts={})))
    assert got.ints == [] and got.counts == {}


def test_plans_are_cached_on_the_class(codec: Any) -> None:
    cls = define("Cached", [(1, "a", T.I32)])
    codec.encode_struct(cls(a=1))
    codec.decode_struct(cls, codec.encode_struct(cls(a=1)))
    assert "_sf_pyplans" in cls.__dict__ or type(codec).__name__.endswith("C")


def test_subclass_does_not_inherit_parent_plan(codec: Any) -> None:
    base = define("Base", [(1, "a", T.I32)])
    codec.decode_struct(base, codec.encode_struct(base(a=1)))
    sub = type("Sub", (base,), {"__slots__": ()})
    got = codec.decode_struct(sub, codec.encode_struct(sub(a=2)))
    assert type(got) is sub and got.a == 2


def test_struct_kinds_roundtrip_all(codec: Any) -> None:
    for kind in StructKind:
        cls = define(f"K{kind.name}", [(1, "x", T.I32)], kind)
        roundtrip(codec, cls(x=3))


def test_concurrent_first_use_sees_only_complete_plans(impl: tuple[str, Any]) -> None:
    # Plans are compiled lazily; a thread must never pick up another thread's half-built
    # plan (it would silently skip fields). Fresh classes each round, many threads at once.
    import threading

    factory = impl[1]
    errors: list[BaseException] = []
    for round_no in range(20):
        leaf = define(f"Leaf{round_no}", [(1, "x", T.I32), (2, "y", T.list(T.STRING))])
        tree = define(f"Tree{round_no}", [(i, f"f{i}", T.struct(leaf)) for i in range(1, 30)])
        value = tree(**{f"f{i}": leaf(i, [str(i)]) for i in range(1, 30)})
        data = impl[1]().encode_struct(value)
        barrier = threading.Barrier(8)

        def work(
            cls: Any = tree, data: bytes = data, value: Any = value, barrier: Any = barrier
        ) -> None:
            try:
                codec = factory()
                barrier.wait()
                assert codec.decode_struct(cls, data) == value
                assert codec.encode_struct(value) == data
            except BaseException as exc:  # reported by the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_field_names_that_are_python_keywords(codec: Any) -> None:
    # Generated readers/writers must not paste such names into source as attributes.
    cls = define(
        "Keywords",
        [
            (1, "from", T.I32),
            (2, "class", T.STRING),
            (3, "None", T.BOOL),
            (4, "ñame", T.I64),
        ],
    )
    value = cls(**{"from": 1, "class": "c", "None": True, "ñame": 5})
    assert roundtrip(codec, value) == value
    with pytest.raises(LocalProtocolError, match=r"Keywords\.from"):
        codec.encode_struct(cls(**{"from": "x"}))


def test_required_field_error_from_generated_writer(codec: Any) -> None:
    with pytest.raises(LocalProtocolError, match=r"required field Strict\.must is unset"):
        codec.encode_struct(Strict())
