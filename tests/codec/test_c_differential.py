"""C codec vs pure-Python twin: identical bytes, objects and errors on the same inputs.

The pure-Python codecs are the reference. For hypothesis-generated values of every type
(nested containers, unions, exceptions, recursive structs, container map keys) both must
produce the same bytes; for valid, mutated, truncated and random inputs both must decode to
equal objects or raise the same exception class with the same message, and scan_message must
agree. Error *messages* are compared too: they are part of what a peer's operator sees.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swordfish.codec as codec_mod
from swordfish.errors import LocalProtocolError
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException

from .impls import IN_CI
from .specs import (
    AllTypes,
    Bools,
    Choice,
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
from .strategies import struct_values

Defaults = define(
    "CDefaults",
    [
        (1, "n", T.I32, 0, 7),
        (2, "words", T.list(T.STRING), 0, ["a", "b"]),
        (3, "inner", T.struct(Inner), 0, Inner(1, "x")),
        (4, "tags", T.set(T.I16), 0, frozenset({1, 2})),
    ],
)
TYPES = [AllTypes, Containers, Choice, Node, Ids, Bools, Oops, Strict, Inner, Empty, Defaults]
TYPES.append(TApplicationException)
SMALL = Limits(max_frame_size=4096, max_string_size=64, max_container_size=32, max_depth=6)
LIMITS = [None, SMALL]

PAIRS = [
    ("binary", "BinaryCodecPy", "BinaryCodecC"),
    ("compact", "CompactCodecPy", "CompactCodecC"),
]


def _pair(proto: str, limits: Limits | None = None, **options: Any) -> tuple[Any, Any]:
    _, py_name, c_name = next(p for p in PAIRS if p[0] == proto)
    c_cls = getattr(codec_mod, c_name)
    if c_cls is None:
        if IN_CI:
            pytest.fail("CI=true: swordfish._speedups is not built")
        pytest.skip("C codecs not built")
    py_cls = getattr(codec_mod, py_name)
    args = () if limits is None else (limits,)
    return py_cls(*args, **options), c_cls(*args, **options)


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the class and text are what we compare
        return type(exc).__name__, str(exc)


def _same(py: Any, c: Any, method: str, *args: Any) -> Any:
    a = _outcome(getattr(py, method), *args)
    b = _outcome(getattr(c, method), *args)
    # repr as well as ==: a mutated input can decode to NaN, and NaN != NaN.
    assert a[0] == b[0] and type(a[1]) is type(b[1]), f"{method}: python {a!r} != C {b!r}"
    assert a == b or repr(a) == repr(b), f"{method}: python {a!r} != C {b!r}"
    return a


DIFF = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

proto_param = pytest.mark.parametrize("proto", ["binary", "compact"])


@DIFF
@given(data=st.data())
@proto_param
def test_encode_decode_identical(proto: str, data: Any) -> None:
    py, c = _pair(proto)
    cls = data.draw(st.sampled_from(TYPES))
    value = data.draw(struct_values(cls))
    kind, encoded = _same(py, c, "encode_struct", value)
    if kind != "ok":
        return
    _same(py, c, "decode_struct", cls, encoded)
    name = data.draw(st.text(max_size=8))
    seqid = data.draw(st.integers(-(2**31), 2**31 - 1))
    mtype = data.draw(st.sampled_from(list(MessageType)))
    kind, msg = _same(py, c, "encode_message", name, mtype, seqid, value)
    if kind == "ok":
        _same(py, c, "decode_message", msg, lambda n, t: cls)
        _same(py, c, "decode_message", msg, lambda n, t: None)
        _same(py, c, "scan_message", msg)
        _same(py, c, "scan_message", msg + b"tail")


@DIFF
@given(data=st.data())
@proto_param
def test_mutated_and_truncated_inputs(proto: str, data: Any) -> None:
    limits = data.draw(st.sampled_from(LIMITS))
    py, c = _pair(proto, limits)
    cls = data.draw(st.sampled_from(TYPES))
    value = data.draw(struct_values(cls))
    try:
        msg = py.encode_message("m", MessageType.REPLY, 3, value)
    except LocalProtocolError:
        return
    buf = bytearray(msg)
    for _ in range(data.draw(st.integers(0, 6))):
        if not buf:
            break
        op = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        i = data.draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            buf[i] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x0F, 0x19, 0xF5]))
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=6))
        else:
            del buf[i]
    mutated = bytes(buf)
    _same(py, c, "decode_message", mutated, lambda n, t: cls)
    _same(py, c, "decode_message", mutated, lambda n, t: None)
    _same(py, c, "scan_message", mutated)
    start = data.draw(st.integers(0, len(mutated)))
    _same(py, c, "scan_message", mutated, start)
    body = py.encode_struct(value)
    cut = data.draw(st.integers(0, len(body)))
    _same(py, c, "decode_struct", cls, body[:cut])
    _same(py, c, "decode_struct", cls, mutated[data.draw(st.integers(0, len(mutated))) :])


@DIFF
@given(blob=st.binary(max_size=64), cls=st.sampled_from(TYPES))
@proto_param
def test_random_bytes(proto: str, blob: bytes, cls: type) -> None:
    for limits in LIMITS:
        py, c = _pair(proto, limits)
        _same(py, c, "decode_struct", cls, blob)
        _same(py, c, "decode_message", blob, lambda n, t: cls)
        _same(py, c, "scan_message", blob)


BAD_VALUES = [
    ("a_byte", 128),
    ("a_i16", -(2**15) - 1),
    ("a_i32", 2**31),
    ("a_i64", 2**63),
    ("a_i32", 1.5),
    ("a_i32", "1"),
    ("a_bool", 2),
    ("a_bool", []),
    ("a_double", "x"),
    ("a_double", 10**400),
    ("a_string", 5),
    ("a_string", "\ud800"),
    ("a_binary", "text"),
    ("a_uuid", "nope"),
    ("a_uuid", b"short"),
    ("a_struct", Node(1, [])),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
@proto_param
def test_encode_errors_identical(proto: str, field: str, value: Any) -> None:
    py, c = _pair(proto)
    obj = AllTypes(**{field: value})
    kind, _ = _same(py, c, "encode_struct", obj)
    assert kind == "LocalProtocolError"
    _same(py, c, "encode_message", "m", MessageType.CALL, 1, obj)


@pytest.mark.parametrize(
    "value",
    [
        Containers(ints=[1, None]),
        Containers(ints="123"),
        Containers(counts=[("a", 1)]),
        Containers(counts={"a": "b"}),
        Containers(structs=[Inner(num="x")]),
        Containers(bools=[True, 3]),
        Choice(number=1, word="w"),
        Strict(maybe="x"),
    ],
)
@proto_param
def test_container_encode_errors_identical(proto: str, value: Any) -> None:
    py, c = _pair(proto)
    kind, _ = _same(py, c, "encode_struct", value)
    assert kind == "LocalProtocolError"


@proto_param
def test_lenient_inputs_identical(proto: str) -> None:
    """What the Python codec accepts beyond the exact types, C accepts with the same bytes."""
    py, c = _pair(proto)
    makers = [
        lambda: AllTypes(a_bool=1, a_i32=True, a_double=3, a_binary=bytearray(b"ab")),
        lambda: AllTypes(a_string=b"raw", a_binary=memoryview(b"xyz")),
        lambda: AllTypes(a_uuid="12345678-1234-5678-1234-567812345678", a_bool=0.0),
        lambda: Containers(ints=(1, 2), strings=frozenset({"a"}), doubles=iter([1.0, 2.5])),
        lambda: Containers(ints=range(3), counts=types.MappingProxyType({"a": 1})),
    ]
    for make in makers:  # a fresh value per call: iterators are consumed by encoding
        assert py.encode_struct(make()) == c.encode_struct(make())
    _same(py, c, "encode_struct", sample_all_types())
    _same(py, c, "encode_struct", sample_containers())


@proto_param
def test_input_buffer_kinds(proto: str) -> None:
    py, c = _pair(proto)
    data = py.encode_struct(sample_containers())
    for view in (bytearray(data), memoryview(data), memoryview(bytearray(data))[0:]):
        assert c.decode_struct(Containers, view) == sample_containers()
    strided = memoryview(bytes(x for b in data for x in (b, 0)))[::2]
    assert c.decode_struct(Containers, strided) == sample_containers()
    _same(py, c, "decode_struct", Containers, "not bytes")
    _same(py, c, "scan_message", data, -3)
    _same(py, c, "decode_struct", 42, data)


@proto_param
def test_codec_attributes(proto: str) -> None:
    py, c = _pair(proto)
    assert (c.name, c.protocol_id, c.limits) == (py.name, py.protocol_id, py.limits)
    with pytest.raises(TypeError, match="limits must be a Limits"):
        type(c)(object())
    if proto == "binary":
        c2 = type(c)(strict_write=False, strict_read=True)
        assert (c2.strict_write, c2.strict_read) == (False, True)


@pytest.mark.parametrize("strict_write", [True, False])
@pytest.mark.parametrize("strict_read", [True, False])
def test_binary_envelope_options(strict_write: bool, strict_read: bool) -> None:
    py, c = _pair("binary", strict_write=strict_write, strict_read=strict_read)
    msg = _same(py, c, "encode_message", "hello", MessageType.ONEWAY, -7, Inner(1, "x"))[1]
    _same(py, c, "decode_message", msg, lambda n, t: Inner)
    _same(py, c, "scan_message", msg)
