"""The "json" codec (Apache's TJSONProtocol) and the write-only "simplejson" format.

Evidence, in order: exact bytes against Apache's own Python ``TJSONProtocol`` and
``TSimpleJSONProtocol`` (driven through their protocol API, see ``apache.py``) for samples and
for hypothesis-generated values of every type, in both directions; tables of exact bytes for
escapes, unicode and special doubles; a malformed-input table (every error is a
``RemoteProtocolError`` or ``LimitExceeded`` naming the problem, fast and without big
allocations); truncation at every offset; and ``scan_message`` agreeing with decoding, fed
whole and one byte at a time.

Apache's Python library deviates from its own reader and from Apache C++/Java in two places,
and this codec follows C++/Java there (documented in ``swordfish/codec/json.py``): control
characters other than ``\\b\\f\\n\\r\\t`` are escaped ``\\u00XX`` (Python writes them raw), and
non-finite doubles are quoted (Python writes a bare ``inf`` its reader rejects). The exact-byte
comparisons account for exactly these two differences and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swordfish
from swordfish.codec import (
    CODEC_NAMES,
    DUMPS_PROTOCOLS,
    NEED_DATA,
    JSONCodecPy,
    SimpleJSONCodecPy,
    dumps,
    get_codec,
    loads,
)
from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.framing.unframed import UnframedFramer
from swordfish.limits import Limits
from swordfish.model import MessageType, Struct, TApplicationException

from . import apache
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
from .strategies import as_decoded, struct_values

R, L = RemoteProtocolError, LimitExceeded
BIG = Limits(max_string_size=2**31 - 1, max_container_size=2**31 - 1, max_frame_size=2**31 - 1)

#: Every scalar type as a map key (numbers are quoted there).
Keys = define(
    "Keys",
    [
        (1, "dbl", T.map(T.DOUBLE, T.BOOL)),
        (2, "tf", T.map(T.BOOL, T.BYTE)),
        (3, "i8", T.map(T.BYTE, T.I16)),
        (4, "i16", T.map(T.I16, T.I32)),
        (5, "i64", T.map(T.I64, T.STRING)),
        (6, "bin", T.map(T.BINARY, T.UUID)),
        (7, "uid", T.map(T.UUID, T.DOUBLE)),
        (8, "lst", T.map(T.list(T.STRING), T.set(T.I64))),
    ],
)
KeyedByStruct = define("KeyedByStruct", [(1, "m", T.map(T.struct(Inner), T.I32))])
#: Field 4 of AllTypes (i32) with the same type, field 7 (a string there) as an i32: decoding
#: AllTypes bytes as Sub must skip field 7 (known id, other wire type) and all the others.
Sub = define("Sub", [(4, "a_i32", T.I32), (7, "a_string", T.I32)])


@pytest.fixture
def codec() -> JSONCodecPy:
    return JSONCodecPy()


@pytest.fixture(scope="module")
def thrift(require: Any) -> Any:
    return require.module("thrift")


# --------------------------------------------------------------------------------------------
# Apache's Python TJSONProtocol / TSimpleJSONProtocol, driven through their protocol API
# --------------------------------------------------------------------------------------------


def _apache_protocol(simple: bool, buf: Any) -> Any:
    from thrift.protocol.TJSONProtocol import TJSONProtocol, TSimpleJSONProtocol

    return (TSimpleJSONProtocol if simple else TJSONProtocol)(buf)


def apache_encode(value: Any, *, simple: bool = False) -> bytes:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer()
    apache.write_struct(_apache_protocol(simple, buf), value)
    return bytes(buf.getvalue())


def apache_decode(cls: type, data: bytes) -> Any:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer(data)
    value = apache.read_struct(_apache_protocol(False, buf), cls)
    assert buf.read(1) == b"", "Apache left bytes unread"
    return value


def apache_encode_message(name: str, mtype: int, seqid: int, body: Any) -> bytes:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer()
    p = _apache_protocol(False, buf)
    p.writeMessageBegin(name, mtype, seqid)
    apache.write_struct(p, body)
    p.writeMessageEnd()
    return bytes(buf.getvalue())


def apache_decode_message(cls: type, data: bytes) -> Any:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer(data)
    p = _apache_protocol(False, buf)
    name, mtype, seqid = p.readMessageBegin()
    body = apache.read_struct(p, cls)
    p.readMessageEnd()
    assert buf.read(1) == b""
    return name, mtype, seqid, body


def with_cc_escaped(apache_bytes: bytes) -> bytes:
    """Apache's Python bytes with raw control characters escaped as Apache C++/Java do.

    Outside strings Apache's output is printable ASCII, and inside strings it escapes
    ``\\b\\f\\n\\r\\t`` itself, so every byte below 0x20 left is a raw character in a string.
    """
    return bytes(b"".join(b"\\u%04x" % c if c < 0x20 else bytes((c,)) for c in apache_bytes))


def has_nonfinite(value: Any) -> bool:
    """Whether a non-finite double occurs anywhere in ``value`` (keys included)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Struct):
        return any(has_nonfinite(getattr(value, n)) for n in type(value)._sf_names)
    if isinstance(value, dict):
        return any(has_nonfinite(k) or has_nonfinite(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(has_nonfinite(v) for v in value)
    return False


def _cleared_sample_containers() -> Any:
    value = sample_containers()
    value.doubles = [0.0, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, 0.1]
    return value


SAMPLES = [
    pytest.param(sample_all_types, id="all-types"),
    pytest.param(_cleared_sample_containers, id="containers"),
    pytest.param(lambda: Bools(yes=False, no=True, many=[False] * 20), id="bools"),
    pytest.param(lambda: Ids(neg=-1, one=1, sixteen=16, seventeen=17, forty=40, big=300), id="ids"),
    pytest.param(lambda: Choice(word="w"), id="union"),
    pytest.param(lambda: Oops("bad", 3), id="exception"),
    pytest.param(lambda: TApplicationException("boom", 6), id="tapplicationexception"),
    pytest.param(lambda: Node(1, [Node(2, []), Node(3, [Node(4, None)])]), id="recursive"),
    pytest.param(lambda: Strict(must=0), id="required"),
    pytest.param(Empty, id="empty"),
    pytest.param(lambda: Containers(ints=list(range(-1000, 1000, 7))), id="long-list"),
    pytest.param(lambda: AllTypes(a_string="x" * 300, a_binary=b"\xff" * 200), id="long-str"),
    pytest.param(
        lambda: Keys(
            dbl={1.5: True, -0.0: False, 1e300: True},
            tf={True: 1, False: -1},
            i8={-128: 5},
            i16={32767: 0},
            i64={-(2**63): "min"},
            bin={b"\x00\xff": uuid.UUID(int=7)},
            uid={uuid.UUID(int=2**128 - 1): 2.5},
            lst={("a", "b"): {1, 2}, (): set()},
        ),
        id="keys",
    ),
]


# --------------------------------------------------------------------------------------------
# Exact bytes against Apache
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SAMPLES)
def test_same_bytes_as_apache(thrift: Any, codec: JSONCodecPy, make: Any) -> None:
    value = make()
    ours = codec.encode_struct(value)
    theirs = apache_encode(value)
    assert ours == theirs
    assert apache_decode(type(value), ours) == value
    assert codec.decode_struct(type(value), theirs) == value


@pytest.mark.parametrize("seqid", [0, 1, 2**31 - 1, -1, -(2**31)])
@pytest.mark.parametrize("mtype", list(MessageType))
@pytest.mark.parametrize("name", ["method", "méthod", 'qu"ote\\', "tab\tnl\n", "\x01", ""])
def test_same_message_bytes_as_apache(
    thrift: Any, codec: JSONCodecPy, mtype: MessageType, seqid: int, name: str
) -> None:
    body = Inner(seqid, "body")
    ours = codec.encode_message(name, mtype, seqid, body)
    assert ours == with_cc_escaped(apache_encode_message(name, int(mtype), seqid, body))
    assert apache_decode_message(Inner, ours) == (name, mtype, seqid, body)
    theirs = apache_encode_message(name, int(mtype), seqid, body)
    msg = codec.decode_message(theirs, lambda n, t: Inner)
    assert (msg.name, msg.mtype, msg.seqid, msg.body) == (name, mtype, seqid, body)
    assert codec.scan_message(ours) == len(ours)
    assert codec.scan_message(theirs) == len(theirs)


_DIFF_TYPES = [AllTypes, Containers, Choice, Node, Ids, Bools, Oops, Strict, Keys]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_values_match_apache(thrift: Any, data: Any) -> None:
    codec = JSONCodecPy()
    cls = data.draw(st.sampled_from(_DIFF_TYPES))
    value = data.draw(struct_values(cls))
    ours = codec.encode_struct(value)
    # Apache reads our bytes back to the value; we read our bytes back to the value.
    assert apache_decode(cls, ours) == value
    assert codec.decode_struct(cls, ours) == as_decoded(value)
    theirs = apache_encode(value)
    # Apache's own bytes (raw control characters and bare `inf` included) decode to the value.
    assert codec.decode_struct(cls, theirs) == as_decoded(value)
    if not has_nonfinite(value):  # Apache's Python writes a bare `inf`, we the quoted form
        assert ours == with_cc_escaped(theirs)


@settings(max_examples=100, deadline=None)
@given(
    name=st.text(max_size=12),
    mtype=st.sampled_from(list(MessageType)),
    seqid=st.integers(-(2**31), 2**31 - 1),
    data=st.data(),
)
def test_generated_messages_match_apache(
    thrift: Any, name: str, mtype: MessageType, seqid: int, data: Any
) -> None:
    codec = JSONCodecPy()
    body = data.draw(struct_values(AllTypes).filter(lambda v: not has_nonfinite(v)))
    ours = codec.encode_message(name, mtype, seqid, body)
    theirs = apache_encode_message(name, int(mtype), seqid, body)
    assert ours == with_cc_escaped(theirs)
    assert apache_decode_message(AllTypes, ours) == (name, mtype, seqid, body)
    for wire in (ours, theirs):
        msg = codec.decode_message(wire, lambda n, t: AllTypes)
        assert (msg.name, msg.mtype, msg.seqid, msg.body) == (name, mtype, seqid, body)
        assert codec.scan_message(wire + b"[1,") == len(wire)


def test_output_is_strict_json_without_container_keys(codec: JSONCodecPy) -> None:
    """Without list/set map keys (Apache's one non-JSON form), the output is plain JSON."""
    value = _cleared_sample_containers()
    value.list_keys = value.set_keys = None
    value.doubles.append(float("nan"))

    def refuse(token: str) -> Any:
        raise AssertionError(f"bare {token} in the output")

    doc = json.loads(codec.encode_struct(value), parse_constant=refuse)
    assert doc["1"] == {"lst": ["i32", 4, 0, -1, 2**31 - 1, -(2**31)]}
    assert doc["11"]["lst"][-1] == "NaN"
    assert doc["3"] == {"map": ["str", "i64", 2, {"x": 1, "y": -(2**63)}]}


# --------------------------------------------------------------------------------------------
# Exact bytes: escapes, unicode, doubles, binary, uuid, keys
# --------------------------------------------------------------------------------------------

# (string, its JSON encoding inside {"7":{"str":...}})
STRING_TABLE = [
    ("", b'""'),
    ("plain", b'"plain"'),
    ('"', b'"\\""'),
    ("\\", b'"\\\\"'),
    ("/", b'"/"'),  # not escaped (Apache escapes it in no language)
    ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
    ("\x00\x01\x1f", b'"\\u0000\\u0001\\u001f"'),
    ("\x7f", b'"\x7f"'),  # DEL is not a control character for JSON
    ("é", b'"\xc3\xa9"'),  # non-ASCII stays raw UTF-8, as every Apache library writes it
    ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
    ("\u2028", b'"\xe2\x80\xa8"'),
    ('a"b\\c\x02d', b'"a\\"b\\\\c\\u0002d"'),
]


@pytest.mark.parametrize(("text", "wire"), STRING_TABLE)
def test_string_escapes_exact(thrift: Any, codec: JSONCodecPy, text: str, wire: bytes) -> None:
    value = AllTypes(a_string=text)
    data = codec.encode_struct(value)
    assert data == b'{"7":{"str":' + wire + b"}}"
    assert codec.decode_struct(AllTypes, data) == value
    assert apache_decode(AllTypes, data) == value


# (JSON string as sent by some peer, the text it means)
UNESCAPE_TABLE = [
    (b'"\\u00e9"', "é"),
    (b'"\\u00E9"', "é"),
    (b'"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair
    (b'"\\uD83D\\uDE00"', "\U0001f600"),
    (b'"x\\ud834\\udd1ey"', "x\U0001d11ey"),
    (b'"\\/"', "/"),
    (b'"\\"\\\\\\b\\f\\n\\r\\t"', '"\\\b\f\n\r\t'),
    (b'"\\u0000"', "\x00"),
    (b'"\x01raw\x1f"', "\x01raw\x1f"),  # raw control characters, as Apache's Python sends
    (b'"\\u4e2d\xe6\x96\x87"', "中文"),  # escaped and raw mixed
]


@pytest.mark.parametrize(("wire", "text"), UNESCAPE_TABLE)
def test_string_unescapes(codec: JSONCodecPy, wire: bytes, text: str) -> None:
    data = b'{"7":{"str":' + wire + b"}}"
    assert codec.decode_struct(AllTypes, data).a_string == text
    # The same string as a map key, a set member and a message name.
    keyed = b'{"3":{"map":["str","i64",1,{' + wire + b":5}]}}"
    assert codec.decode_struct(Containers, keyed).counts == {text: 5}
    member = b'{"2":{"set":["str",1,' + wire + b"]}}"
    assert codec.decode_struct(Containers, member).strings == {text}
    msg = b"[1," + wire + b',1,0,{"7":{"str":' + wire + b"}}]"
    got = codec.decode_message(msg, lambda n, t: AllTypes)
    assert got.name == text and got.body is not None and got.body.a_string == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_any_text_round_trips_through_apache(thrift: Any, text: str) -> None:
    codec = JSONCodecPy()
    data = codec.encode_struct(AllTypes(a_string=text))
    assert codec.decode_struct(AllTypes, data).a_string == text
    assert apache_decode(AllTypes, data).a_string == text
    # Every character escaped as \uXXXX (pairs for non-BMP) decodes to the same text.
    units = text.encode("utf-16-be")
    escaped = "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    fully = b'{"7":{"str":"' + escaped.encode() + b'"}}'
    assert codec.decode_struct(AllTypes, fully).a_string == text


# (double, JSON as a value, JSON as a map key)
DOUBLE_TABLE = [
    (0.0, b"0", b'"0"'),
    (-0.0, b"-0", b'"-0"'),
    (1.5, b"1.5", b'"1.5"'),
    (0.1, b"0.10000000000000001", b'"0.10000000000000001"'),  # %.17g, as Apache's Python
    (1e300, b"1.0000000000000001e+300", b'"1.0000000000000001e+300"'),
    (5e-324, b"4.9406564584124654e-324", b'"4.9406564584124654e-324"'),
    (-1.7976931348623157e308, b"-1.7976931348623157e+308", b'"-1.7976931348623157e+308"'),
    (float("inf"), b'"Infinity"', b'"Infinity"'),
    (float("-inf"), b'"-Infinity"', b'"-Infinity"'),
    (float("nan"), b'"NaN"', b'"NaN"'),
]


def _same_double(a: float, b: float) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize(("x", "value_wire", "key_wire"), DOUBLE_TABLE)
def test_doubles_exact(
    thrift: Any, codec: JSONCodecPy, x: float, value_wire: bytes, key_wire: bytes
) -> None:
    data = codec.encode_struct(AllTypes(a_double=x))
    assert data == b'{"6":{"dbl":' + value_wire + b"}}"
    assert _same_double(codec.decode_struct(AllTypes, data).a_double, x)
    assert _same_double(apache_decode(AllTypes, data).a_double, x)
    keyed = codec.encode_struct(Keys(dbl={x: True}))
    assert keyed == b'{"1":{"map":["dbl","tf",1,{' + key_wire + b":1}]}}"
    (got,) = codec.decode_struct(Keys, keyed).dbl
    assert _same_double(got, x)
    (got,) = apache_decode(Keys, keyed).dbl
    assert _same_double(got, x)


@pytest.mark.parametrize(
    ("wire", "x"),
    [
        (b'{"1":{"map":["dbl","tf",1,{"inf":1}]}}', float("inf")),  # Apache Python's key form
        (b'{"1":{"map":["dbl","tf",1,{"-inf":1}]}}', float("-inf")),
        (b'{"1":{"map":["dbl","tf",1,{"nan":1}]}}', float("nan")),
        (b'{"1":{"map":["dbl","tf",1,{"1E3":1}]}}', 1000.0),
        (b'{"1":{"map":["dbl","tf",1,{"2":1}]}}', 2.0),
    ],
)
def test_double_keys_other_writers_send(codec: JSONCodecPy, wire: bytes, x: float) -> None:
    (got,) = codec.decode_struct(Keys, wire).dbl
    assert _same_double(got, x)


@pytest.mark.parametrize(
    ("wire", "x"),
    [
        (b"1E300", 1e300),
        (b"2", 2.0),
        (b"-0.0", -0.0),
        (b"1e-5", 1e-5),
        (b'"inf"', math.inf),
        # Bare: Apache's Python TJSONProtocol writes inf/-inf/nan, Python's json module
        # Infinity/-Infinity/NaN. Neither is JSON, but reading them lets those peers' values in.
        (b"inf", math.inf),
        (b"-inf", -math.inf),
        (b"nan", math.nan),
        (b"Infinity", math.inf),
        (b"-Infinity", -math.inf),
        (b"NaN", math.nan),
    ],
)
def test_double_values_other_writers_send(codec: JSONCodecPy, wire: bytes, x: float) -> None:
    got = codec.decode_struct(AllTypes, b'{"6":{"dbl":' + wire + b"}}").a_double
    assert _same_double(got, x)
    listed = codec.decode_struct(Containers, b'{"11":{"lst":["dbl",2,' + wire + b",1]}}")
    assert _same_double(listed.doubles[0], x) and listed.doubles[1] == 1.0
    msg = b'[1,"m",1,0,{"6":{"dbl":' + wire + b"}}]"
    assert codec.scan_message(msg) == len(msg)
    assert codec.decode_message(msg, lambda n, t: None).body is None  # skipped, validated


def test_apache_python_nonfinite_doubles_are_read(thrift: Any, codec: JSONCodecPy) -> None:
    """Apache's Python writes bytes its own reader refuses; ours reads them."""
    value = Containers(doubles=[math.inf, -math.inf, 1.5])
    theirs = apache_encode(value)
    assert b"inf,-inf" in theirs
    assert codec.decode_struct(Containers, theirs) == value


@pytest.mark.parametrize(
    ("blob", "written", "also_read"),
    [
        (b"", b'""', []),
        (b"\x00", b'"AA=="', [b'"AA"']),
        (b"\x00\xff", b'"AP8="', [b'"AP8"']),
        (b"\x00\xff\x01", b'"AP8B"', []),
        (b"\xfb\xff", b'"+/8="', [b'"+/8"', b'"+\\/8="']),  # escaped "/" (as "\/") is read
    ],
)
def test_binary_base64(
    thrift: Any, codec: JSONCodecPy, blob: bytes, written: bytes, also_read: list[bytes]
) -> None:
    data = codec.encode_struct(AllTypes(a_binary=blob))
    assert data == b'{"8":{"str":' + written + b"}}"
    assert apache_decode(AllTypes, data).a_binary == blob
    for wire in [written, *also_read]:
        assert codec.decode_struct(AllTypes, b'{"8":{"str":' + wire + b"}}").a_binary == blob


def test_uuid_forms(thrift: Any, codec: JSONCodecPy) -> None:
    u = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    data = codec.encode_struct(AllTypes(a_uuid=u))
    assert data == b'{"9":{"uid":"12345678-9abc-def0-1234-56789abcdef0"}}'
    assert apache_decode(AllTypes, data).a_uuid == u
    for form in (str(u).upper(), u.hex):
        got = codec.decode_struct(AllTypes, b'{"9":{"uid":"%s"}}' % form.encode())
        assert got.a_uuid == u and type(got.a_uuid) is uuid.UUID
    # Encoding accepts the same inputs as the binary codec: UUID, 16 bytes, a string.
    for given_value in (u, u.bytes, str(u)):
        assert codec.encode_struct(AllTypes(a_uuid=given_value)) == data


def test_bools(codec: JSONCodecPy) -> None:
    assert codec.encode_struct(Bools(yes=True, no=False, many=[True, False])) == (
        b'{"1":{"tf":1},"2":{"tf":0},"3":{"lst":["tf",2,1,0]}}'
    )
    # Any non-zero integer reads as true (as Apache's readers and our binary codec do).
    got = codec.decode_struct(Bools, b'{"1":{"tf":7},"2":{"tf":0},"3":{"lst":["tf",1,-1]}}')
    assert (got.yes, got.no, got.many) == (True, False, [True])


def test_empty_containers_and_skipped_types(codec: JSONCodecPy) -> None:
    value = Containers(ints=[], strings=set(), counts={}, structs=[])
    data = codec.encode_struct(value)
    assert data == (
        b'{"1":{"lst":["i32",0]},"2":{"set":["str",0]},'
        b'"3":{"map":["str","i64",0,{}]},"6":{"lst":["rec",0]}}'
    )
    assert codec.decode_struct(Containers, data) == value
    # An empty container may declare another element type (the binary codec allows it too).
    got = codec.decode_struct(Containers, b'{"1":{"lst":["str",0]},"3":{"map":["i8","dbl",0,{}]}}')
    assert (got.ints, got.counts) == ([], {})


def test_unknown_and_mismatched_fields_are_skipped(thrift: Any, codec: JSONCodecPy) -> None:
    full = sample_all_types()
    data = codec.encode_struct(full)
    assert codec.decode_struct(Sub, data) == Sub(a_i32=full.a_i32, a_string=None)
    assert codec.decode_struct(Empty, codec.encode_struct(_cleared_sample_containers())) == Empty()
    # Apache agrees on what to skip.
    assert apache_decode(Sub, data) == Sub(a_i32=full.a_i32, a_string=None)
    # Field order on the wire does not matter; a repeated field keeps the last value.
    got = codec.decode_struct(Inner, b'{"2":{"str":"b"},"1":{"i32":1},"1":{"i32":2}}')
    assert got == Inner(2, "b")


def test_absent_fields_take_idl_defaults(tmp_path: Any) -> None:
    path = tmp_path / "defaults.thrift"
    path.write_text(
        "struct In { 1: i32 x = 7 }\n"
        "struct D { 1: i32 n = 42, 2: string s = 'hi', 3: list<i32> xs = [1, 2],"
        " 4: In inner = {'x': 9}, 5: optional i32 plain }\n"
        "struct E {}\n"
    )
    mod = swordfish.load(str(path), module_name="json_defaults_thrift")
    data = dumps(mod.E(), protocol="json")
    assert data == b"{}"
    a = loads(mod.D, data, protocol="json")
    b = loads(mod.D, data, protocol="json")
    assert (a.n, a.s, a.xs, a.inner, a.plain) == (42, "hi", [1, 2], mod.In(x=9), None)
    a.xs.append(3)
    assert b.xs == [1, 2]  # mutable defaults are fresh per decoded value
    sent = mod.D(n=1, s="x", xs=[], inner=mod.In(x=1), plain=5)
    assert loads(mod.D, dumps(sent, protocol="json"), protocol="json") == sent


def test_every_buffer_type(codec: JSONCodecPy) -> None:
    value = sample_all_types()
    msg = codec.encode_message("m", MessageType.CALL, 9, value)
    for buf in (msg, bytearray(msg), memoryview(msg), memoryview(b"xx" + msg)[2:]):
        assert codec.decode_message(buf, lambda n, t: AllTypes).body == value
        assert codec.scan_message(buf) == len(msg)
    data = codec.encode_struct(value)
    for buf in (data, bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert codec.decode_struct(AllTypes, buf) == value


def test_decoded_types_follow_conventions(codec: JSONCodecPy) -> None:
    d = codec.decode_struct(Containers, codec.encode_struct(sample_containers()))
    assert d == sample_containers()
    assert type(d.ints) is list and type(d.strings) is set and type(d.uuids) is set
    assert type(d.set_of_lists) is list and all(type(x) is list for x in d.set_of_lists)
    assert all(type(k) is tuple for k in d.list_keys)
    assert all(type(k) is frozenset for k in d.set_keys)
    assert all(type(u) is uuid.UUID for u in d.uuids)


# --------------------------------------------------------------------------------------------
# Encoding errors
# --------------------------------------------------------------------------------------------

ENCODE_ERRORS = [
    (AllTypes(a_i32=2**31), r"AllTypes\.a_i32: .*out of range for i32"),
    (AllTypes(a_byte=-129), r"AllTypes\.a_byte: .*out of range for i8"),
    (AllTypes(a_i64=2**63), r"AllTypes\.a_i64"),
    (AllTypes(a_i32=1.5), r"AllTypes\.a_i32: .*expected an int"),
    (AllTypes(a_i16="1"), r"AllTypes\.a_i16"),
    (AllTypes(a_double="1.5"), r"AllTypes\.a_double: .*expected a float"),
    (AllTypes(a_double=10**400), r"AllTypes\.a_double"),
    (AllTypes(a_bool="yes"), r"AllTypes\.a_bool: .*not a bool"),
    (AllTypes(a_string=b"\xff"), r"AllTypes\.a_string: .*not valid UTF-8"),
    (AllTypes(a_string="\ud800"), r"AllTypes\.a_string"),  # a lone surrogate
    (AllTypes(a_binary="text"), r"AllTypes\.a_binary: .*needs bytes"),
    (AllTypes(a_uuid=b"short"), r"AllTypes\.a_uuid"),
    (AllTypes(a_struct=Oops()), r"AllTypes\.a_struct: .*expected Inner"),
    (Containers(ints=[1, 2**40]), r"Containers\.ints"),
    (Containers(ints="123"), r"Containers\.ints: .*iterable"),
    (Containers(counts={"a": "b"}), r"Containers\.counts"),
    (Keys(tf={"x": 1}), r"Keys\.tf: .*not a bool"),
    (Keys(i8={1000: 1}), r"Keys\.i8: .*out of range for i8"),
    (Strict(), r"required field Strict\.must is unset"),
    (Choice(number=1, word="x"), r"union Choice has 2 fields set"),
]


@pytest.mark.parametrize(("value", "match"), ENCODE_ERRORS)
def test_encode_errors(codec: JSONCodecPy, value: Any, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        codec.encode_struct(value)
    with pytest.raises(LocalProtocolError, match=match):
        codec.encode_message("m", MessageType.CALL, 1, value)


def test_encode_accepts_what_binary_accepts(codec: JSONCodecPy) -> None:
    class Big(int):
        pass

    value = AllTypes(a_bool=1, a_byte=True, a_i32=Big(5), a_double=3, a_binary=bytearray(b"x"))
    assert codec.encode_struct(value) == (
        b'{"1":{"tf":1},"2":{"i8":1},"4":{"i32":5},"6":{"dbl":3},"8":{"str":"eA=="}}'
    )
    assert codec.encode_struct(AllTypes(a_string=b"caf\xc3\xa9")) == (
        b'{"7":{"str":"caf\xc3\xa9"}}'
    )
    assert codec.encode_struct(Containers(ints=(1, 2), i64s=frozenset({3}))) == (
        b'{"1":{"lst":["i32",2,1,2]},"15":{"set":["i64",1,3]}}'
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("m", 9, 1), "invalid message type"),
        (("m", MessageType.CALL, 2**31), "seqid"),
        ((b"m", MessageType.CALL, 1), "message name must be str"),
    ],
)
def test_encode_message_errors(codec: JSONCodecPy, args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        codec.encode_message(*args, Empty())


# --------------------------------------------------------------------------------------------
# Malformed input
# --------------------------------------------------------------------------------------------

# (id, class, bytes, limits, error, match)
# fmt: off
STRUCTS: list[tuple[str, type, bytes, Limits | None, type, str]] = [
    ("not-json", Inner, b"garbage", None, R, "malformed JSON at byte 0"),
    ("array-not-object", Inner, b"[]", None, R, "malformed"),
    ("empty-input", Inner, b"", None, R, "truncated"),
    ("whitespace", Inner, b'{ "1":{"i32":1}}', None, R, "malformed"),
    ("unquoted-id", Inner, b'{1:{"i32":1}}', None, R, "malformed"),
    ("id-out-of-range", Inner, b'{"40000":{"i32":1}}', None, R, "field id 40000 out of"),
    ("id-too-long", Inner, b'{"1234567":{"i32":1}}', None, R, "malformed"),
    ("unknown-type", Inner, b'{"1":{"int":1}}', None, R, "unknown JSON type name b'int'"),
    ("empty-type", Inner, b'{"1":{"":1}}', None, R, "unknown JSON type name"),
    ("two-types", Inner, b'{"1":{"i32":1,"i64":2}}', None, R, "malformed"),
    ("missing-comma", Inner, b'{"1":{"i32":1}"2":{"str":"x"}}', None, R, "malformed"),
    ("trailing-comma", Inner, b'{"1":{"i32":1},}', None, R, "malformed"),
    ("trailing", Inner, b'{"1":{"i32":1}} ', None, R, "1 trailing bytes"),
    ("trailing-struct", Empty, b"{}{}", None, R, "trailing"),
    ("i8-range", AllTypes, b'{"2":{"i8":128}}', None, R, "i8 value 128 out of range"),
    ("i16-range", AllTypes, b'{"3":{"i16":-32769}}', None, R, "i16 value -32769 out of"),
    ("i32-range", AllTypes, b'{"4":{"i32":2147483648}}', None, R, "i32 value .* out of range"),
    ("i64-range", AllTypes, b'{"5":{"i64":9223372036854775808}}', None, R, "i64 value"),
    ("i64-21-digits", AllTypes, b'{"5":{"i64":100000000000000000000}}', None, R, "malformed"),
    ("int-4000-digits", AllTypes, b'{"5":{"i64":' + b"9" * 4000 + b"}}", None, R, "malformed"),
    ("quoted-int", AllTypes, b'{"4":{"i32":"5"}}', None, R, "expected an i32"),
    ("float-for-int", AllTypes, b'{"4":{"i32":1.5}}', None, R, "malformed"),
    ("bool-literal", AllTypes, b'{"1":{"tf":true}}', None, R, "expected a bool"),
    ("quoted-double", AllTypes, b'{"6":{"dbl":"1.5"}}', None, R, "expected a double"),
    ("bare-Inf", AllTypes, b'{"6":{"dbl":Inf}}', None, R, "expected a double"),
    ("bare-infinity", AllTypes, b'{"6":{"dbl":infinity}}', None, R, "expected a double"),
    ("quoted-bare-mix", AllTypes, b'{"6":{"dbl":"inf}}', None, R, "expected a double"),
    ("double-dot", AllTypes, b'{"6":{"dbl":1.}}', None, R, "malformed"),
    ("string-unquoted", AllTypes, b'{"7":{"str":abc}}', None, R, "expected a string"),
    ("bad-escape", AllTypes, b'{"7":{"str":"\\x41"}}', None, R, r"invalid escape \\x"),
    ("short-u-escape", AllTypes, b'{"7":{"str":"\\u12"}}', None, R, r"invalid escape \\u"),
    ("lone-high", AllTypes, b'{"7":{"str":"\\ud800"}}', None, R, "unpaired UTF-16 surrogate"),
    ("lone-low", AllTypes, b'{"7":{"str":"\\udc00x"}}', None, R, "unpaired UTF-16 surrogate"),
    ("high-then-bmp", AllTypes, b'{"7":{"str":"\\ud800\\u0041"}}', None, R, "unpaired"),
    ("bad-utf8", AllTypes, b'{"7":{"str":"\xff"}}', None, R, r"UTF-8 in AllTypes\.a_string"),
    ("bad-utf8-escaped", AllTypes, b'{"7":{"str":"\\n\xc3("}}', None, R,
     r"UTF-8 in AllTypes\.a_string"),
    ("encoded-surrogate", AllTypes, b'{"7":{"str":"\xed\xa0\x80"}}', None, R, "UTF-8"),
    ("bad-utf8-nested", Containers, b'{"6":{"lst":["rec",1,{"2":{"str":"\xc3("}}]}}', None, R,
     r"UTF-8 in Inner\.text"),
    ("bad-utf8-key", Containers, b'{"3":{"map":["str","i64",1,{"\x80":1}]}}', None, R,
     r"UTF-8 in Containers\.counts"),
    ("bad-base64", AllTypes, b'{"8":{"str":"A*=="}}', None, R, "invalid base64"),
    ("base64-length", AllTypes, b'{"8":{"str":"AAAAA"}}', None, R, "invalid base64"),
    ("base64-3-pads", AllTypes, b'{"8":{"str":"A==="}}', None, R, "invalid base64"),
    ("base64-inner-pad", AllTypes, b'{"8":{"str":"AA==AA=="}}', None, R, "invalid base64"),
    ("base64-non-ascii", AllTypes, b'{"8":{"str":"\\u00e9AAA"}}', None, R, "invalid base64"),
    ("bad-uuid", AllTypes, b'{"9":{"uid":"not-a-uuid"}}', None, R, "expected a uuid"),
    ("uuid-short", AllTypes, b'{"9":{"uid":"12345678"}}', None, R, "expected a uuid"),
    ("neg-list", Containers, b'{"1":{"lst":["i32",-1]}}', None, R, "negative list size"),
    ("neg-set", Containers, b'{"2":{"set":["str",-5]}}', None, R, "negative set size"),
    ("neg-map", Containers, b'{"3":{"map":["str","i64",-1,{}]}}', None, R, "negative map size"),
    ("neg-skipped-list", Empty, b'{"1":{"lst":["i32",-1]}}', None, R, "negative list size"),
    ("list-count-i32", Containers, b'{"1":{"lst":["i32",2147483648]}}', None, R, "i32 range"),
    ("list-too-few", Containers, b'{"1":{"lst":["i32",3,1,2]}}', None, R, "malformed"),
    ("list-too-many", Containers, b'{"1":{"lst":["i32",1,1,2]}}', None, R,
     "expected ']' closing the list of 1"),
    ("list-wrong-elem", Containers, b'{"1":{"lst":["str",1,"a"]}}', None, R,
     "list element type str where i32 was expected"),
    ("list-unknown-elem", Containers, b'{"1":{"lst":["xyz",0]}}', None, R, "unknown JSON type"),
    ("set-wrong-elem", Containers, b'{"2":{"set":["i32",1,1]}}', None, R, "set element type"),
    ("map-wrong-key", Containers, b'{"3":{"map":["i32","i64",1,{"1":1}]}}', None, R,
     "map key/value types i32/i64 where str/i64"),
    ("map-unquoted-key", Containers, b'{"16":{"map":["i32","map",1,{1:["str","lst",0,{}]}]}}',
     None, R, "quoted i32 map key"),
    ("map-no-object", Containers, b'{"3":{"map":["str","i64",0]}}', None, R, "malformed"),
    ("map-too-many", Containers, b'{"3":{"map":["str","i64",1,{"a":1,"b":2}]}}', None, R,
     "closing the map of 1"),
    ("map-missing-colon", Containers, b'{"3":{"map":["str","i64",1,{"a",1}]}}', None, R,
     "':' after a map key"),
    ("struct-map-key", KeyedByStruct, b'{"1":{"map":["rec","i32",1,{{}:1}]}}', None, R,
     "cannot be decoded as a map key"),
    ("string-over-limit", AllTypes, b'{"7":{"str":"' + b"a" * 11 + b'"}}',
     Limits(max_string_size=10), L, "max_string_size=10"),
    ("escaped-string-over-limit", AllTypes, b'{"7":{"str":"' + b"\\u0061" * 11 + b'"}}',
     Limits(max_string_size=10), L, "max_string_size=10"),
    ("binary-over-limit", AllTypes, b'{"8":{"str":"' + b"A" * 16 + b'"}}',
     Limits(max_string_size=11), L, "max_string_size=11"),
    ("skipped-string-over-limit", Empty, b'{"7":{"str":"' + b"a" * 20 + b'"}}',
     Limits(max_string_size=10), L, "max_string_size"),
    ("key-over-limit", Containers, b'{"3":{"map":["str","i64",1,{"' + b"k" * 11 + b'":1}]}}',
     Limits(max_string_size=10), L, "max_string_size"),
    ("list-over-limit", Containers, b'{"1":{"lst":["i32",4,1,2,3,4]}}',
     Limits(max_container_size=3), L, "max_container_size=3"),
    ("map-over-limit", Containers, b'{"3":{"map":["str","i64",4,{}]}}',
     Limits(max_container_size=3), L, "max_container_size"),
    ("skipped-list-over-limit", Empty, b'{"1":{"lst":["i32",4,1,2,3,4]}}',
     Limits(max_container_size=3), L, "max_container_size"),
    ("huge-list-default-limits", Containers, b'{"1":{"lst":["i32",2147483647]}}', None, L,
     "max_container_size"),
    ("huge-list-big-limits", Containers, b'{"1":{"lst":["i32",2147483647,1]}}', BIG, R,
     "truncated"),
    ("huge-map-big-limits", Containers, b'{"3":{"map":["str","i64",2147483647,{}]}}', BIG, R,
     "truncated"),
    ("huge-skipped-set", Empty, b'{"1":{"set":["rec",2147483647,{}]}}', BIG, R, "truncated"),
    ("depth-bomb-lists", Empty, b'{"1":{"lst":' + b'["lst",1,' * 200 + b'["i8",0]' + b"]" * 200
     + b"}}", None, L, "max_depth=64"),
    ("depth-bomb-structs", Empty, b'{"1":{"rec":' * 200 + b"{}" + b"}}" * 200, None, L,
     "max_depth"),
    ("depth-bomb-known", Node, b'{"2":{"lst":["rec",1,' * 100 + b"{}" + b"]}}" * 100, None, L,
     "max_depth"),
    ("depth-bomb-100k", Empty, b'{"1":{"rec":' * 100_000, None, L, "max_depth"),
]
# fmt: on


@pytest.mark.parametrize(
    ("cls", "data", "limits", "error", "match"),
    [pytest.param(*row[1:], id=row[0]) for row in STRUCTS],
)
def test_malformed_struct(
    cls: type, data: bytes, limits: Limits | None, error: type, match: str
) -> None:
    codec = JSONCodecPy() if limits is None else JSONCodecPy(limits)
    t0 = time.perf_counter()
    with pytest.raises(error, match=match) as info:
        codec.decode_struct(cls, data)
    assert time.perf_counter() - t0 < 1.0
    assert type(info.value) in (RemoteProtocolError, LimitExceeded), type(info.value)
    if error is R:
        assert not isinstance(info.value, LimitExceeded), info.value
    # The same bytes as a message body: the same error class through decode_message.
    msg = b'[1,"m",1,0,' + data + b"]"
    with pytest.raises(error):
        codec.decode_message(msg, lambda n, t: cls)


# (id, bytes, limits, error, match)
# fmt: off
ENVELOPES: list[tuple[str, bytes, Limits | None, type, str]] = [
    ("bad-version", b'[2,"m",1,0,{}]', None, R, "bad JSON protocol version 2"),
    ("no-version", b'["m",1,0,{}]', None, R, "malformed"),
    ("not-array", b'{"1":{"i32":1}}', None, R, "malformed"),
    ("name-not-string", b"[1,5,1,0,{}]", None, R, "expected a string"),
    ("name-over-limit", b'[1,"' + b"n" * 20 + b'",1,0,{}]', Limits(max_string_size=10), L,
     "max_string_size"),
    ("name-bad-utf8", b'[1,"\xff",1,0,{}]', None, R, "UTF-8 in message name"),
    ("name-lone-surrogate", b'[1,"\\udfff",1,0,{}]', None, R, "unpaired"),
    ("type-0", b'[1,"m",0,0,{}]', None, R, "invalid message type 0"),
    ("type-5", b'[1,"m",5,0,{}]', None, R, "invalid message type 5"),
    ("seqid-range", b'[1,"m",1,2147483648,{}]', None, R, "seqid 2147483648 out of"),
    ("quoted-seqid", b'[1,"m",1,"0",{}]', None, R, "malformed"),
    ("no-body", b'[1,"m",1,0]', None, R, "malformed"),
    ("no-close", b'[1,"m",1,0,{}}', None, R, "closing the message"),
    ("extra-element", b'[1,"m",1,0,{},{}]', None, R, "closing the message"),
    ("trailing", b'[1,"m",1,0,{}]]', None, R, "1 trailing bytes"),
    ("empty", b"", None, R, "truncated"),
    ("http-get", b"GET / HTTP/1.1\r\n", None, R, "malformed"),
    ("binary-protocol", bytes.fromhex("80010001000000016d00000001"), None, R, "malformed"),
]
# fmt: on


@pytest.mark.parametrize(
    ("data", "limits", "error", "match"), [pytest.param(*r[1:], id=r[0]) for r in ENVELOPES]
)
def test_malformed_envelope(data: bytes, limits: Limits | None, error: type, match: str) -> None:
    codec = JSONCodecPy() if limits is None else JSONCodecPy(limits)
    calls: list[str] = []

    def resolve(name: str, mtype: MessageType) -> type:
        calls.append(name)
        return Empty

    with pytest.raises(error, match=match) as info:
        codec.decode_message(data, resolve)
    assert type(info.value) in (RemoteProtocolError, LimitExceeded)
    if error is R:
        assert not isinstance(info.value, LimitExceeded)
    if "closing" not in match and "trailing" not in match:
        assert calls == []  # the resolver never sees a broken envelope


@pytest.mark.parametrize(
    "make",
    [sample_all_types, sample_containers, lambda: Node(1, [Node(2, [Node(3)])]), Empty],
    ids=["all", "containers", "nested", "empty"],
)
def test_truncated_at_every_offset(codec: JSONCodecPy, make: Any) -> None:
    value = make()
    cls = type(value)
    body = codec.encode_struct(value)
    for cut in range(len(body)):
        with pytest.raises(RemoteProtocolError, match="truncated") as info:
            codec.decode_struct(cls, body[:cut])
        assert type(info.value) is RemoteProtocolError, (cut, info.value)
    msg = codec.encode_message("method", MessageType.REPLY, 5, value)
    for cut in range(len(msg)):
        for resolve in (lambda n, t: cls, lambda n, t: None):
            with pytest.raises(RemoteProtocolError, match="truncated") as info:
                codec.decode_message(msg[:cut], resolve)
            assert type(info.value) is RemoteProtocolError, (cut, info.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_input_fails_cleanly(data: Any) -> None:
    """Any corruption of a valid message decodes or fails as RemoteProtocolError, nothing else;
    and where scan_message finds a message, decoding it agrees about where it ends."""
    codec = JSONCodecPy(Limits(max_depth=8, max_container_size=1000))
    cls = data.draw(st.sampled_from([AllTypes, Containers, Node, Keys]))
    msg = bytearray(codec.encode_message("m", MessageType.CALL, 1, data.draw(struct_values(cls))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(msg) - 1))
        action = data.draw(st.sampled_from(["set", "delete", "insert"]))
        byte = data.draw(st.sampled_from(list(b'[]{}",:0123456789-.eE\\u') + [0, 0xFF, 0x80]))
        if action == "set":
            msg[i] = byte
        elif action == "delete":
            del msg[i]
        else:
            msg.insert(i, byte)
    for resolve in (lambda n, t: cls, lambda n, t: None):
        try:
            codec.decode_message(bytes(msg), resolve)
        except RemoteProtocolError:
            pass
    try:
        n = codec.scan_message(msg)
    except RemoteProtocolError:
        return
    if n != NEED_DATA:
        assert 0 < n <= len(msg)
        try:
            codec.decode_message(bytes(msg[:n]), lambda n, t: None)
        except RemoteProtocolError as exc:
            assert "trailing" not in str(exc)  # the scanner never stops inside a message


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (Containers, b'{"1":{"lst":["i32",2147483647'),
        (Containers, b'{"3":{"map":["str","i64",2147483647,{'),
        (Containers, b'{"6":{"lst":["rec",2147483647,{}'),
        (Empty, b'{"1":{"set":["lst",2147483647,'),
        (AllTypes, b'{"7":{"str":"' + b"x" * 64),
    ],
)
def test_huge_claims_fail_without_allocating(cls: type, data: bytes) -> None:
    codec = JSONCodecPy(BIG)
    codec.decode_struct(cls, b"{}")  # compile the plan first: only decoding is measured
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(RemoteProtocolError, match="truncated"):
            codec.decode_struct(cls, data)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 200_000, f"a {len(data)}-byte hostile input allocated {peak} bytes"


def test_depth_limit_is_exact() -> None:
    value = Node(1, [Node(2, None)])  # struct (1) > list (2) > struct (3)
    data = JSONCodecPy().encode_struct(value)
    assert JSONCodecPy(Limits(max_depth=3)).decode_struct(Node, data) == value
    with pytest.raises(LimitExceeded, match="max_depth=2"):
        JSONCodecPy(Limits(max_depth=2)).decode_struct(Node, data)
    with pytest.raises(LimitExceeded, match="max_depth=2"):  # skipped: the same limit
        JSONCodecPy(Limits(max_depth=2)).decode_struct(Empty, b'{"2":' + data[5:])


def test_extreme_nesting_without_a_depth_limit_is_a_protocol_error() -> None:
    codec = JSONCodecPy(Limits(max_depth=10**6))
    data = b'{"2":{"lst":["rec",1,' * 50_000 + b"{}" + b"]}}" * 50_000
    with pytest.raises(RemoteProtocolError, match="nesting too deep"):
        codec.decode_struct(Node, data)
    # The scanner does not recurse: it finds the end of any depth.
    msg = b'[1,"m",1,0,' + data + b"]"
    assert codec.scan_message(msg) == len(msg)


# --------------------------------------------------------------------------------------------
# scan_message
# --------------------------------------------------------------------------------------------

BODIES = [
    Empty(),
    Inner(1, "x"),
    sample_all_types(),
    sample_containers(),
    TApplicationException("err", 3),
    Node(1, [Node(2, [Node(3, [])])]),
    AllTypes(a_string='"]}[{\\' * 10),  # brackets and escapes inside a string
    AllTypes(a_string="\\"),  # a string ending in an escaped backslash
    Keys(lst={("]", "}"): {1}}),
]


def _messages(codec: JSONCodecPy) -> list[bytes]:
    return [
        codec.encode_message(f"m{i}", MessageType.CALL, i, body) for i, body in enumerate(BODIES)
    ]


def test_scan_whole_and_byte_by_byte(codec: JSONCodecPy) -> None:
    for msg in _messages(codec):
        assert codec.scan_message(msg) == len(msg)
        assert codec.scan_message(msg + b"[1,garbage") == len(msg)
        grown = bytearray()
        for i, byte in enumerate(msg):
            assert codec.scan_message(grown) == NEED_DATA, i
            grown.append(byte)  # would raise BufferError if scan kept a view of the buffer
        assert codec.scan_message(grown) == len(msg)


def test_scan_stream_of_messages(codec: JSONCodecPy) -> None:
    msgs = _messages(codec)
    stream = b"".join(msgs)
    pos = 0
    found = []
    while pos < len(stream):
        n = codec.scan_message(memoryview(stream), pos)
        assert n != NEED_DATA
        found.append(stream[pos : pos + n])
        pos += n
    assert found == msgs
    assert codec.scan_message(stream, len(stream)) == NEED_DATA
    for piece, body in zip(found, BODIES, strict=True):
        cls = type(body)
        assert codec.decode_message(piece, lambda n, t: None).body is None
        assert codec.decode_message(piece, lambda n, t, c=cls: c).body == body


def test_unframed_framer_with_json(codec: JSONCodecPy) -> None:
    """The buffered transport finds the same messages fed whole and one byte at a time."""
    msgs = _messages(codec)
    stream = b"".join(msgs)
    for chunk in (len(stream), 1, 7):
        framer = UnframedFramer(codec)
        got = []
        for i in range(0, len(stream), chunk):
            framer.feed(stream[i : i + chunk])
            while (m := framer.next_message()) is not None:
                got.append(m)
        assert got == msgs
        assert framer.buffered == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_scan_agrees_with_decode(data: Any) -> None:
    codec = JSONCodecPy()
    cls = data.draw(st.sampled_from(_DIFF_TYPES))
    value = data.draw(struct_values(cls))
    msg = codec.encode_message("m", MessageType.REPLY, 3, value)
    tail = data.draw(st.sampled_from([b"", b"[", b'[1,"n"', msg]))
    assert codec.scan_message(msg + tail) == len(msg)
    assert codec.decode_message(msg, lambda n, t: cls).body == as_decoded(value)
    cut = data.draw(st.integers(0, len(msg) - 1))
    assert codec.scan_message(msg[:cut]) == NEED_DATA


def test_scan_does_not_decode_values(codec: JSONCodecPy) -> None:
    good = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="ab", a_i32=5))
    for bad in (good.replace(b"ab", b"\xff\xfe"), good.replace(b":5", b":5e5")):
        assert codec.scan_message(bad) == len(bad)
        with pytest.raises(RemoteProtocolError):
            codec.decode_message(bad, lambda n, t: AllTypes)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"GET / HTTP/1.1\r\n", "starts with '\\['"),
        (bytes.fromhex("80010001"), "starts with"),
        (b'{"1":{"i32":1}}', "starts with"),
        (b"[1, ", "unexpected b' '"),  # whitespace is not in Apache's dialect
        (b'[1,"m",1,0,{"1":{"tf":true', "unexpected b'r'"),
        (b'[1,"m",1,0,{]', "unexpected b']'"),
        (b"[1,\x00", "unexpected"),
    ],
)
def test_scan_rejects_garbage_at_once(codec: JSONCodecPy, data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        codec.scan_message(data)
    assert not isinstance(info.value, LimitExceeded)


def test_scan_frame_limit() -> None:
    codec = JSONCodecPy(Limits(max_frame_size=100))
    small = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 10))
    big = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 200))
    assert codec.scan_message(small) == len(small)
    with pytest.raises(LimitExceeded, match="max_frame_size=100"):
        codec.scan_message(big)
    # Partial input over the limit fails without waiting for the rest.
    with pytest.raises(LimitExceeded, match="max_frame_size"):
        codec.scan_message(big[:150])
    results = []
    for cut in range(1, len(big)):
        try:
            results.append(codec.scan_message(big[:cut]))
        except LimitExceeded:
            results.append("limit")
    assert results[0] == NEED_DATA and results[-1] == "limit"
    assert set(results) == {NEED_DATA, "limit"}


def test_scan_string_and_depth_limits() -> None:
    plain = JSONCodecPy().encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 50))
    with pytest.raises(LimitExceeded, match="max_string_size=10"):
        JSONCodecPy(Limits(max_string_size=10)).scan_message(plain)
    with pytest.raises(LimitExceeded, match="max_string_size"):  # before the string ends
        JSONCodecPy(Limits(max_string_size=10)).scan_message(plain[:50])
    # Within the raw bound a binary value of max_string_size has (base64 is 4/3 longer).
    blob = JSONCodecPy().encode_message("m", MessageType.CALL, 1, AllTypes(a_binary=b"y" * 30))
    assert JSONCodecPy(Limits(max_string_size=30)).scan_message(blob) == len(blob)
    # Depth: each Thrift level is at most two JSON levels, so the bound is 2*max_depth+1.
    value = Node(1, [Node(2, [Node(3, [Node(4)])])])
    deep = JSONCodecPy().encode_message("m", MessageType.CALL, 1, value)
    with pytest.raises(LimitExceeded, match="max_depth=2"):
        JSONCodecPy(Limits(max_depth=2)).scan_message(deep)
    assert JSONCodecPy(Limits(max_depth=7)).scan_message(deep) == len(deep)
    assert JSONCodecPy(Limits(max_depth=7)).decode_message(deep, lambda n, t: Node).body == value


def test_scan_is_linear(codec: JSONCodecPy) -> None:
    value = Containers(structs=[Inner(i, "v\\" * 3) for i in range(20_000)])
    msg = codec.encode_message("m", MessageType.CALL, 1, value)
    t0 = time.perf_counter()
    assert codec.scan_message(msg) == len(msg)
    for cut in (len(msg) // 3, len(msg) // 2, len(msg) - 1):
        assert codec.scan_message(msg[:cut]) == NEED_DATA
    assert time.perf_counter() - t0 < 2.0


# --------------------------------------------------------------------------------------------
# The package surface
# --------------------------------------------------------------------------------------------


def test_registration() -> None:
    assert "json" in CODEC_NAMES and "simplejson" not in CODEC_NAMES
    assert DUMPS_PROTOCOLS == (*CODEC_NAMES, "simplejson")
    c = get_codec("json")
    assert type(c) is JSONCodecPy and c.name == "json" and c.protocol_id == 1
    limits = Limits(max_depth=3)
    assert get_codec("json", limits).limits is limits
    with pytest.raises(TypeError):
        get_codec("json", None, strict_write=False)
    with pytest.raises(ValueError, match="write-only"):
        get_codec("simplejson")
    with pytest.raises(ValueError, match="'binary', 'compact', 'json'"):
        get_codec("xml")
    # Servers, clients and the CLI take their choices from CODEC_NAMES.
    from swordfish.rpc.options import PROTOCOLS, check_choice

    assert "json" in PROTOCOLS and "simplejson" not in PROTOCOLS
    with pytest.raises(ValueError, match="unknown protocol 'simplejson'"):
        check_choice("protocol", "simplejson", PROTOCOLS)


def test_dumps_and_loads(codec: JSONCodecPy) -> None:
    value = sample_all_types()
    data = dumps(value, protocol="json")
    assert data == codec.encode_struct(value)
    assert loads(AllTypes, data, protocol="json") == value
    assert swordfish.loads(AllTypes, bytearray(data), "json", Limits()) == value
    assert swordfish.dumps(value, "simplejson") == SimpleJSONCodecPy().encode_struct(value)
    with pytest.raises(ValueError, match="write-only"):
        loads(AllTypes, b"{}", protocol="simplejson")


def test_json_needs_no_extension() -> None:
    """get_codec("json") is the same pure-Python codec with and without the C build, and JSON
    does not change what USING_EXTENSIONS means."""
    code = (
        "import swordfish.codec as c; "
        "print(type(c.get_codec('json')).__name__, c.USING_EXTENSIONS, c.CODEC_NAMES)"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, SWORDFISH_NO_EXTENSIONS="1")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split(None, 2) == ["JSONCodecPy", "False", "('binary', 'compact', 'json')\n"]
    import swordfish.codec as codec_mod

    assert codec_mod.USING_EXTENSIONS == (
        codec_mod.BinaryCodec is not codec_mod.BinaryCodecPy
        or codec_mod.CompactCodec is not codec_mod.CompactCodecPy
    )
    assert codec_mod.JSONCodec is JSONCodecPy


# --------------------------------------------------------------------------------------------
# simplejson (write-only)
# --------------------------------------------------------------------------------------------


def test_simplejson_exact(codec: JSONCodecPy) -> None:
    sj = SimpleJSONCodecPy()
    value = AllTypes(
        a_bool=True,
        a_i32=-5,
        a_double=0.1,
        a_string='q"\x01',
        a_binary=b"\x00\xff",
        a_uuid=uuid.UUID(int=1),
        a_struct=Inner(7, None),
    )
    assert sj.encode_struct(value) == (
        b'{"a_bool":1,"a_i32":-5,"a_double":0.1,"a_string":"q\\"\\u0001",'
        b'"a_binary":"AP8=","a_uuid":"00000000-0000-0000-0000-000000000001",'
        b'"a_struct":{"num":7}}'
    )
    assert sj.encode_struct(Empty()) == b"{}"
    assert sj.encode_struct(Containers(ints=[], strings={"a"}, counts={"k": 1}, bools=[True])) == (
        b'{"ints":[],"strings":["a"],"counts":{"k":1},"bools":[1]}'
    )
    assert sj.encode_struct(Keys(dbl={1.5: True}, tf={False: 3}, i64={-1: "x"})) == (
        b'{"dbl":{"1.5":1},"tf":{"0":3},"i64":{"-1":"x"}}'
    )
    specials = AllTypes(a_double=math.inf)
    assert sj.encode_struct(specials) == b'{"a_double":"Infinity"}'
    msg = sj.encode_message("méth", MessageType.REPLY, 7, Inner(1, "x"))
    assert msg == b'["m\xc3\xa9th",2,7,{"num":1,"text":"x"}]'


def test_simplejson_refuses_container_keys_and_reading() -> None:
    sj = SimpleJSONCodecPy()
    with pytest.raises(LocalProtocolError, match=r"Keys\.lst: .*simplejson cannot write"):
        sj.encode_struct(Keys(lst={("a",): set()}))
    assert sj.encode_struct(Keys(lst={})) == b'{"lst":{}}'  # nothing to refuse when empty
    with pytest.raises(LocalProtocolError, match=r"Containers\.set_keys"):
        dumps(Containers(set_keys={frozenset(): True}), protocol="simplejson")
    for call in (
        lambda: sj.decode_struct(Inner, b"{}"),
        lambda: sj.decode_message(b"[]", lambda n, t: None),
        lambda: sj.scan_message(b"[]"),
    ):
        with pytest.raises(ValueError, match="write-only"):
            call()


def _simple_comparable(value: Any) -> Any:
    """``value`` without what simplejson refuses (container map keys)."""
    if isinstance(value, Containers):
        if value.list_keys:
            value.list_keys = None
        if value.set_keys:
            value.set_keys = None
    if isinstance(value, Keys) and value.lst:
        value.lst = None
    return value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_simplejson_matches_apache(thrift: Any, data: Any) -> None:
    cls = data.draw(st.sampled_from(_DIFF_TYPES))
    value = _simple_comparable(data.draw(struct_values(cls)))
    ours = SimpleJSONCodecPy().encode_struct(value)

    def refuse(token: str) -> Any:
        raise AssertionError(f"bare {token} in the output")

    json.loads(ours, parse_constant=refuse)  # always strict JSON
    if not has_nonfinite(value):
        assert ours == with_cc_escaped(apache_encode(value, simple=True))


def test_simplejson_is_readable_json() -> None:
    value = sample_all_types()
    doc = json.loads(dumps(value, protocol="simplejson"))
    assert doc == {
        "a_bool": 1,
        "a_byte": -128,
        "a_i16": -32768,
        "a_i32": 2**31 - 1,
        "a_i64": -(2**63),
        "a_double": -1.5e300,
        "a_string": "héllo ✓ \U0001f600",
        "a_binary": "AP+AYmluYXJ5",
        "a_uuid": "12345678-1234-5678-1234-567812345678",
        "a_struct": {"num": 7, "text": "seven"},
        "a_enum": 42,
    }
