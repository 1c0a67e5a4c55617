"""Exact bytes for every type in both protocols, checked in both directions.

Each row gives a struct value and its expected binary and compact encodings (hex, spaces for
readability). Encoding must produce exactly these bytes; decoding them must give back an equal
value; scan_message must find the exact end of each enveloped message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from swordfish.codec import NEED_DATA
from swordfish.model import MessageType, TApplicationException

from .impls import factory_or_fail, impls_for
from .specs import AllTypes, Bools, Containers, Empty, Ids, Inner

U = uuid.UUID("01020304-0506-0708-090a-0b0c0d0e0f10")
UHEX = "0102030405060708090a0b0c0d0e0f10"

# (id, value factory, binary hex, compact hex)
# fmt: off
STRUCT_TABLE: list[tuple[str, Callable[[], Any], str, str]] = [
    ("empty", lambda: Empty(), "00", "00"),
    ("bool-true", lambda: AllTypes(a_bool=True), "02 0001 01 00", "11 00"),
    ("bool-false", lambda: AllTypes(a_bool=False), "02 0001 00 00", "12 00"),
    ("byte", lambda: AllTypes(a_byte=-1), "03 0002 ff 00", "23 ff 00"),
    ("i16", lambda: AllTypes(a_i16=-2), "06 0003 fffe 00", "34 03 00"),
    ("i16-max", lambda: AllTypes(a_i16=32767), "06 0003 7fff 00", "34 feff03 00"),
    ("i32", lambda: AllTypes(a_i32=1), "08 0004 00000001 00", "45 02 00"),
    ("i32-min", lambda: AllTypes(a_i32=-(2**31)), "08 0004 80000000 00", "45 ffffffff0f 00"),
    ("i64", lambda: AllTypes(a_i64=1), "0a 0005 0000000000000001 00", "56 02 00"),
    (
        "i64-max",
        lambda: AllTypes(a_i64=2**63 - 1),
        "0a 0005 7fffffffffffffff 00",
        "56 feffffffffffffffff01 00",
    ),
    (
        "i64-min",
        lambda: AllTypes(a_i64=-(2**63)),
        "0a 0005 8000000000000000 00",
        "56 ffffffffffffffffff01 00",
    ),
    (
        "double",
        lambda: AllTypes(a_double=1.0),
        "04 0006 3ff0000000000000 00",
        "67 000000000000f03f 00",
    ),
    (
        "double-neg",
        lambda: AllTypes(a_double=-2.5),
        "04 0006 c004000000000000 00",
        "67 00000000000004c0 00",
    ),
    ("string", lambda: AllTypes(a_string="hé"), "0b 0007 00000003 68c3a9 00", "78 03 68c3a9 00"),
    ("string-empty", lambda: AllTypes(a_string=""), "0b 0007 00000000 00", "78 00 00"),
    ("binary", lambda: AllTypes(a_binary=b"\x00\x01"), "0b 0008 00000002 0001 00", "88 02 0001 00"),
    ("uuid", lambda: AllTypes(a_uuid=U), f"10 0009 {UHEX} 00", f"9d {UHEX} 00"),
    (
        "struct",
        lambda: AllTypes(a_struct=Inner(1, "a")),
        "0c 000a 08 0001 00000001 0b 0002 00000001 61 00 00",
        "ac 15 02 18 01 61 00 00",
    ),
    ("enum", lambda: AllTypes(a_enum=42), "08 000b 0000002a 00", "b5 54 00"),
    (
        "two-fields-delta",
        lambda: AllTypes(a_bool=True, a_i32=1),
        "02 0001 01 08 0004 00000001 00",
        "11 35 02 00",
    ),
    # compact field ids: delta 1..15 in the high nibble, else type byte + zigzag varint i16.
    ("id-negative", lambda: Ids(neg=1), "08 fffd 00000001 00", "05 05 02 00"),
    ("id-delta-16-long", lambda: Ids(sixteen=1), "08 0010 00000001 00", "05 20 02 00"),
    ("id-300-long", lambda: Ids(big=1), "08 012c 00000001 00", "05 d804 02 00"),
    (
        "ids-mixed",
        lambda: Ids(neg=1, one=2, sixteen=3, seventeen=4, forty=5, big=6),
        "08 fffd 00000001 08 0001 00000002 08 0010 00000003 08 0011 00000004"
        " 08 0028 00000005 08 012c 00000006 00",
        "05 05 02  45 04  f5 06  15 08  05 50 0a  05 d804 0c  00",
    ),
    # bools: folded into the field type in compact, one byte (1/2) each inside containers.
    (
        "bools",
        lambda: Bools(yes=True, no=False, many=[True, False]),
        "02 0001 01  02 0002 00  0f 0003 02 00000002 01 00  00",
        "11 12 19 21 01 02 00",
    ),
    (
        "list-i32",
        lambda: Containers(ints=[1, -1]),
        "0f 0001 08 00000002 00000001 ffffffff 00",
        "19 25 02 01 00",
    ),
    ("list-empty", lambda: Containers(ints=[]), "0f 0001 08 00000000 00", "19 05 00"),
    (
        "list-15-long-header",
        lambda: Containers(ints=[0] * 15),
        "0f 0001 08 0000000f" + " 00000000" * 15 + " 00",
        "19 f5 0f" + " 00" * 15 + " 00",
    ),
    (
        "list-14-short-header",
        lambda: Containers(ints=[0] * 14),
        "0f 0001 08 0000000e" + " 00000000" * 14 + " 00",
        "19 e5" + " 00" * 14 + " 00",
    ),
    (
        "set-string",
        lambda: Containers(strings={"a"}),
        "0e 0002 0b 00000001 00000001 61 00",
        "2a 18 01 61 00",
    ),
    ("map-empty", lambda: Containers(counts={}), "0d 0003 0b 0a 00000000 00", "3b 00 00"),
    (
        "map-one",
        lambda: Containers(counts={"x": 1}),
        "0d 0003 0b 0a 00000001 00000001 78 0000000000000001 00",
        "3b 01 86 01 78 02 00",
    ),
    (
        "map-list-key",
        lambda: Containers(list_keys={(7,): "s"}),
        "0d 0008 0f 0b 00000001 08 00000001 00000007 00000001 73 00",
        "8b 01 98 15 0e 01 73 00",
    ),
    (
        "list-of-structs",
        lambda: Containers(structs=[Inner(num=3), Inner()]),
        "0f 0006 0c 00000002 08 0001 00000003 00 00 00",
        "69 2c 15 06 00 00 00",
    ),
    (
        "list-double",
        lambda: Containers(doubles=[0.5]),
        "0f 000b 04 00000001 3fe0000000000000 00",
        "b9 17 000000000000e03f 00",
    ),
    (
        "set-uuid",
        lambda: Containers(uuids={U}),
        f"0e 000d 10 00000001 {UHEX} 00",
        f"da 1d {UHEX} 00",
    ),
    (
        "list-byte",
        lambda: Containers(bytes_=[-1, 1]),
        "0f 000e 03 00000002 ff 01 00",
        "e9 23 ff 01 00",
    ),
    (
        "map-bool-values",
        lambda: Containers(set_keys={frozenset({5}): False}),
        "0d 0009 0e 02 00000001 06 00000001 0005 00 00",
        "9b 01 a1 14 0a 02 00",
    ),
    (
        "tapplicationexception",
        lambda: TApplicationException("no", 1),
        "0b 0001 00000002 6e6f 08 0002 00000001 00",
        "18 02 6e6f 15 02 00",
    ),
]
# fmt: on


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _rows(proto: str) -> list[Any]:
    col = 2 if proto == "binary" else 3
    return [
        pytest.param(p.values[0], row[1], _hex(row[col]), id=f"{p.id}-{row[0]}")
        for p in impls_for(proto)
        for row in STRUCT_TABLE
    ]


ROWS = _rows("binary") + _rows("compact")


@pytest.mark.parametrize(("impl_param", "make", "expected"), ROWS)
def test_struct_bytes(impl_param: Any, make: Callable[[], Any], expected: bytes) -> None:
    codec = factory_or_fail(impl_param)()
    value = make()
    assert codec.encode_struct(value).hex(" ") == expected.hex(" ")
    assert codec.decode_struct(type(value), expected) == value


# (id, name, type, seqid, strict binary, old-style binary, compact)
# fmt: off
ENVELOPES = [
    (
        "call",
        "ping",
        MessageType.CALL,
        1,
        "80010001 00000004 70696e67 00000001 00",
        "00000004 70696e67 01 00000001 00",
        "82 21 01 04 70696e67 00",
    ),
    (
        "reply-neg-seqid",
        "ping",
        MessageType.REPLY,
        -1,
        "80010002 00000004 70696e67 ffffffff 00",
        "00000004 70696e67 02 ffffffff 00",
        "82 41 ffffffff0f 04 70696e67 00",
    ),
    (
        "exception-seqid-300",
        "x",
        MessageType.EXCEPTION,
        300,
        "80010003 00000001 78 0000012c 00",
        "00000001 78 03 0000012c 00",
        "82 61 ac02 01 78 00",
    ),
    (
        "oneway-empty-name",
        "",
        MessageType.ONEWAY,
        0,
        "80010004 00000000 00000000 00",
        "00000000 04 00000000 00",
        "82 81 00 00 00",
    ),
    (
        "utf8-name",
        "é",
        MessageType.CALL,
        2**31 - 1,
        "80010001 00000002 c3a9 7fffffff 00",
        "00000002 c3a9 01 7fffffff 00",
        "82 21 ffffffff07 02 c3a9 00",
    ),
]
# fmt: on


def _envelope_rows() -> list[Any]:
    rows = []
    for p in impls_for("binary"):
        for e in ENVELOPES:
            rows.append(
                pytest.param(
                    p.values[0],
                    e[1],
                    e[2],
                    e[3],
                    {"strict_write": True},
                    _hex(e[4]),
                    id=f"{p.id}-strict-{e[0]}",
                )
            )
            rows.append(
                pytest.param(
                    p.values[0],
                    e[1],
                    e[2],
                    e[3],
                    {"strict_write": False},
                    _hex(e[5]),
                    id=f"{p.id}-old-{e[0]}",
                )
            )
    for p in impls_for("compact"):
        for e in ENVELOPES:
            rows.append(
                pytest.param(p.values[0], e[1], e[2], e[3], {}, _hex(e[6]), id=f"{p.id}-{e[0]}")
            )
    return rows


@pytest.mark.parametrize(
    ("impl_param", "name", "mtype", "seqid", "options", "expected"), _envelope_rows()
)
def test_envelope_bytes(
    impl_param: Any,
    name: str,
    mtype: MessageType,
    seqid: int,
    options: dict[str, Any],
    expected: bytes,
) -> None:
    codec = factory_or_fail(impl_param)(**options)
    assert codec.encode_message(name, mtype, seqid, Empty()).hex(" ") == expected.hex(" ")
    seen: list[tuple[str, MessageType]] = []

    def resolve(n: str, t: MessageType) -> type:
        seen.append((n, t))
        return Empty

    msg = codec.decode_message(expected, resolve)
    assert (msg.name, msg.mtype, msg.seqid, msg.body) == (name, mtype, seqid, Empty())
    assert type(msg.mtype) is MessageType
    assert seen == [(name, mtype)]
    assert codec.scan_message(expected) == len(expected)
    assert codec.scan_message(b"junk" + expected + b"more", 4) == len(expected)
    for cut in range(len(expected)):
        assert codec.scan_message(expected[:cut]) == NEED_DATA


@pytest.mark.parametrize("impl_param", impls_for("binary"))
def test_binary_reads_old_style_by_default_and_refuses_it_when_strict(impl_param: Any) -> None:
    from swordfish.errors import RemoteProtocolError

    factory = factory_or_fail(impl_param)
    old = _hex("00000004 70696e67 01 00000001 00")
    assert factory().decode_message(old, lambda n, t: Empty).name == "ping"
    strict = factory(strict_read=True)
    with pytest.raises(RemoteProtocolError, match="old-style"):
        strict.decode_message(old, lambda n, t: Empty)
    with pytest.raises(RemoteProtocolError, match="old-style"):
        strict.scan_message(old)
    assert strict.decode_message(_hex(ENVELOPES[0][4]), lambda n, t: Empty).seqid == 1
