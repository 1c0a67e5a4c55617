"""Malformed input of every class gives the right error, early, without big allocations.

Tables give hostile bytes per protocol. Every error must be a ``RemoteProtocolError`` (a
``LimitExceeded`` for limit violations): never IndexError, struct.error, UnicodeDecodeError or
RecursionError leaking out, and never a partial result.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from swordfish.errors import LimitExceeded, RemoteProtocolError
from swordfish.limits import Limits
from swordfish.model import MessageType

from .impls import factory_or_fail, impls_for
from .specs import (
    AllTypes,
    Containers,
    Empty,
    Inner,
    Node,
    T,
    define,
    sample_all_types,
    sample_containers,
)

KeyedByStruct = define("KeyedByStruct", [(1, "m", T.map(T.struct(Inner), T.I32))])
SetOfStructs = define("SetOfStructs", [(1, "s", T.map(T.set(T.struct(Inner)), T.I32))])

R, L = RemoteProtocolError, LimitExceeded
BIG = Limits(max_string_size=2**31 - 1, max_container_size=2**31 - 1, max_frame_size=2**31 - 1)

# (id, class, hex, limits, error, match)
# fmt: off
BINARY_STRUCTS: list[tuple[str, type, str, Limits | None, type, str]] = [
    ("neg-string", AllTypes, "0b 0007 ffffffff 00", None, R, "negative string length"),
    ("neg-binary", AllTypes, "0b 0008 80000000 00", None, R, "negative string length"),
    ("neg-list", Containers, "0f 0001 08 ffffffff 00", None, R, "negative list size"),
    ("neg-set", Containers, "0e 0002 0b ffffffff 00", None, R, "negative set size"),
    ("neg-map", Containers, "0d 0003 0b 0a ffffffff 00", None, R, "negative map size"),
    ("neg-skipped-string", Empty, "0b 0009 fffffffe 00", None, R, "negative string length"),
    ("neg-skipped-list", Empty, "0f 0009 08 ffffffff 00", None, R, "negative list size"),
    ("string-over-limit", AllTypes, "0b 0007 0000000b" + "61" * 11 + "00",
     Limits(max_string_size=10), L, "max_string_size"),
    ("skipped-string-over-limit", Empty, "0b 0007 0000000b" + "61" * 11 + "00",
     Limits(max_string_size=10), L, "max_string_size"),
    ("list-over-limit", Containers, "0f 0001 08 00000004" + "00000000" * 4 + "00",
     Limits(max_container_size=3), L, "max_container_size"),
    ("map-over-limit", Containers, "0d 0003 0b 0a 00000004 00",
     Limits(max_container_size=3), L, "max_container_size"),
    ("huge-list-default-limits", Containers, "0f 0001 08 7fffffff 00", None, L,
     "max_container_size"),
    ("huge-list-in-8-bytes", Containers, "0f 0001 08 7fffffff 00", BIG, R, "truncated"),
    ("huge-set-of-structs", Containers, "0f 0006 0c 7fffffff 00", BIG, R, "truncated"),
    ("huge-map", Containers, "0d 0003 0b 0a 7fffffff 00", BIG, R, "truncated"),
    ("huge-skipped-map", Empty, "0d 0003 0b 0a 7fffffff 00", BIG, R, "truncated"),
    ("huge-string", AllTypes, "0b 0007 7fffffff 00", BIG, R, "truncated"),
    ("huge-string-default", AllTypes, "0b 0007 7fffffff 00", None, L, "max_string_size"),
    ("bad-utf8", AllTypes, "0b 0007 00000001 ff 00", None, R, r"UTF-8 in AllTypes\.a_string"),
    ("bad-utf8-nested", Containers, "0f 0006 0c 00000001 0b 0002 00000002 c328 00 00",
     None, R, r"UTF-8 in Inner\.text"),
    ("bad-utf8-set", Containers, "0e 0002 0b 00000001 00000001 80 00", None, R, "UTF-8"),
    ("list-wrong-elem", Containers, "0f 0001 0b 00000001 00000000 00", None, R,
     "element type STRING"),
    ("set-wrong-elem", Containers, "0e 0002 08 00000001 00000000 00", None, R, "element type"),
    ("map-wrong-key", Containers, "0d 0003 08 0a 00000001 00000000 0000000000000000 00",
     None, R, "key/value types"),
    ("map-wrong-value", Containers, "0d 0003 0b 08 00000001 00000000 00000000 00",
     None, R, "key/value types"),
    ("invalid-type", Empty, "05 0063 00 00", None, R, "invalid type id 5"),
    ("invalid-type-stop-in-list", Empty, "0f 0063 00 00000001 00 00", None, R,
     "invalid type id 0"),
    ("invalid-type-in-map", Empty, "0d 0063 11 08 00000001 00 00", None, R, "invalid type"),
    ("void-type", Empty, "01 0063 00", None, R, "invalid type id 1"),
    ("trailing", Empty, "00 00", None, R, "trailing"),
    ("trailing-after-fields", Inner, "08 0001 00000001 00 ff", None, R, "trailing"),
    ("struct-map-key", KeyedByStruct, "0d 0001 0c 08 00000001 00 00000001 00", None, R,
     "map key"),
    ("struct-in-set-key", SetOfStructs, "0d 0001 0e 08 00000001 0c 00000001 00 00000001 00",
     None, R, "map key"),
    ("depth-bomb-skipped-structs", Empty, "0c 0063" * 200 + "00" * 201, None, L, "max_depth"),
    ("depth-bomb-skipped-lists", Empty, "0f 0063" + "0f 00000001" * 200 + "00", None, L,
     "max_depth"),
    ("depth-bomb-100k", Empty, "0c 0001" * 100_000, None, L, "max_depth"),
    ("empty-input", Inner, "", None, R, "truncated"),
]
# fmt: on

# fmt: off
COMPACT_STRUCTS: list[tuple[str, type, str, Limits | None, type, str]] = [
    ("neg-string", AllTypes, "78 ffffffff0f 00", None, R, "negative string length"),
    ("neg-skipped-string", Empty, "78 80808080 08 00", None, R, "negative string length"),
    ("neg-list", Containers, "19 f5 ffffffff0f 00", None, R, "negative list size"),
    ("neg-map", Containers, "3b ffffffff0f 00", None, R, "negative map size"),
    ("neg-skipped-map", Empty, "3b ffffffff0f 00", None, R, "negative map size"),
    ("string-over-limit", AllTypes, "78 0b" + "61" * 11 + "00",
     Limits(max_string_size=10), L, "max_string_size"),
    ("list-over-limit", Containers, "19 45 00 00 00 00 00",
     Limits(max_container_size=3), L, "max_container_size"),
    ("huge-list-default-limits", Containers, "19 f5 ffffffff07 00", None, L,
     "max_container_size"),
    ("huge-list-in-8-bytes", Containers, "19 f5 ffffffff07 00", BIG, R, "truncated"),
    ("huge-map", Containers, "3b ffffffff07 86 00", BIG, R, "truncated"),
    ("huge-skipped-list", Empty, "19 f5 ffffffff07 00", BIG, R, "truncated"),
    ("huge-string", AllTypes, "78 ffffffff07 00", BIG, R, "truncated"),
    ("varint-i32-6-bytes", AllTypes, "45 ffffffffff01 00", None, R, "varint longer than 5"),
    ("varint-i32-overflow", AllTypes, "45 ffffffff1f 00", None, R, "overflows 32"),
    ("varint-i64-11-bytes", AllTypes, "56" + "ff" * 10 + "01 00", None, R,
     "varint longer than 10"),
    ("varint-i64-overflow", AllTypes, "56" + "ff" * 9 + "7f 00", None, R, "overflows 64"),
    ("varint-skipped-i64", Empty, "56" + "ff" * 10 + "01 00", None, R, "varint longer"),
    ("varint-field-id", AllTypes, "05 ffffffffff01 00", None, R, "varint longer"),
    ("i16-out-of-range", AllTypes, "34 808004 00", None, R, "i16 value"),
    ("long-list-size-varint", Containers, "19 f5 ffffffffff01 00", None, R, "varint longer"),
    ("bad-utf8", AllTypes, "78 01 ff 00", None, R, r"UTF-8 in AllTypes\.a_string"),
    ("list-wrong-elem", Containers, "19 18 01 61 00", None, R, "element type BINARY"),
    ("map-wrong-kv", Containers, "3b 01 55 02 02 00", None, R, "key/value types"),
    ("invalid-type", Empty, "fe 00", None, R, "invalid compact type id 14"),
    ("stop-type-with-delta", Empty, "10 00", None, R, "invalid compact type id 0"),
    ("invalid-elem-type", Empty, "19 1e 00", None, R, "invalid compact type id 14"),
    ("trailing", Empty, "00 00", None, R, "trailing"),
    ("struct-map-key", KeyedByStruct, "1b 01 c5 00 02 00", None, R, "map key"),
    ("depth-bomb-skipped-structs", Empty, "fc" + "1c" * 200 + "00" * 202, None, L,
     "max_depth"),
    ("depth-bomb-skipped-lists", Empty, "f9" + "19" * 200, None, L, "max_depth"),
    ("depth-bomb-100k", Empty, "1c" * 100_000, None, L, "max_depth"),
    ("empty-input", Inner, "", None, R, "truncated"),
]
# fmt: on


def _rows(proto: str, table: list[tuple[str, type, str, Limits | None, type, str]]) -> list[Any]:
    return [
        pytest.param(p.values[0], *row[1:], id=f"{p.id}-{row[0]}")
        for p in impls_for(proto)
        for row in table
    ]


@pytest.mark.parametrize(
    ("impl_param", "cls", "hexdata", "limits", "error", "match"),
    _rows("binary", BINARY_STRUCTS) + _rows("compact", COMPACT_STRUCTS),
)
def test_malformed_struct(
    impl_param: Any, cls: type, hexdata: str, limits: Limits | None, error: type, match: str
) -> None:
    factory = factory_or_fail(impl_param)
    codec = factory() if limits is None else factory(limits)
    data = bytes.fromhex(hexdata.replace(" ", ""))
    t0 = time.perf_counter()
    with pytest.raises(error, match=match) as info:
        codec.decode_struct(cls, data)
    assert time.perf_counter() - t0 < 1.0
    if error is R:
        assert not isinstance(info.value, LimitExceeded), info.value
    assert type(info.value) in (RemoteProtocolError, LimitExceeded)
    # Same bytes as a message body: same error class through decode_message.
    envelope = codec.encode_message("m", MessageType.CALL, 1, Empty())[:-1]
    with pytest.raises(error):
        codec.decode_message(envelope + data, lambda n, t: cls)


# (id, hex, limits, error, match)
# fmt: off
BINARY_ENVELOPES: list[tuple[str, str, Limits | None, type, str]] = [
    ("bad-version", "80020001 00000001 6d 00000001 00", None, R, "bad version"),
    ("bad-version-ffff", "ffff0001 00000001 6d 00000001 00", None, R, "bad version"),
    ("neg-name", "80010001 ffffffff 00000001 00", None, R, "negative message name"),
    ("name-over-limit", "80010001 7fffffff 00", None, L, "max_string_size"),
    ("name-truncated", "80010001 00000010 6d 00", BIG, R, "truncated"),
    ("bad-type-0", "80010000 00000001 6d 00000001 00", None, R, "invalid message type 0"),
    ("bad-type-5", "80010005 00000001 6d 00000001 00", None, R, "invalid message type 5"),
    ("old-bad-type", "00000001 6d 09 00000001 00", None, R, "invalid message type 9"),
    ("name-bad-utf8", "80010001 00000001 ff 00000001 00", None, R, "UTF-8 in message name"),
    ("http-get", "47455420 2f20 48545450 2f312e31 0d0a", None, L, "max_string_size"),
    ("trailing", "80010001 00000001 6d 00000001 00 00", None, R, "trailing"),
    ("empty", "", None, R, "truncated"),
]
# fmt: on
# fmt: off
COMPACT_ENVELOPES: list[tuple[str, str, Limits | None, type, str]] = [
    ("bad-protocol-id", "81 21 01 01 6d 00", None, R, "bad protocol id"),
    ("binary-bytes", "80010001 00000001 6d 00000001 00", None, R, "bad protocol id"),
    ("bad-version", "82 22 01 01 6d 00", None, R, "bad version 2"),
    ("bad-type-0", "82 01 01 01 6d 00", None, R, "invalid message type 0"),
    ("bad-type-7", "82 e1 01 01 6d 00", None, R, "invalid message type 7"),
    ("seqid-varint-long", "82 21 ffffffffff01 01 6d 00", None, R, "varint longer"),
    ("neg-name", "82 21 01 ffffffff0f 00", None, R, "negative message name"),
    ("name-over-limit", "82 21 01 ffffffff07 00", None, L, "max_string_size"),
    ("name-bad-utf8", "82 21 01 01 ff 00", None, R, "UTF-8 in message name"),
    ("trailing", "82 21 01 01 6d 00 00", None, R, "trailing"),
    ("empty", "", None, R, "truncated"),
]
# fmt: on


def _env_rows(proto: str, table: list[tuple[str, str, Limits | None, type, str]]) -> list[Any]:
    return [
        pytest.param(p.values[0], *row[1:], id=f"{p.id}-{row[0]}")
        for p in impls_for(proto)
        for row in table
    ]


@pytest.mark.parametrize(
    ("impl_param", "hexdata", "limits", "error", "match"),
    _env_rows("binary", BINARY_ENVELOPES) + _env_rows("compact", COMPACT_ENVELOPES),
)
def test_malformed_envelope(
    impl_param: Any, hexdata: str, limits: Limits | None, error: type, match: str
) -> None:
    factory = factory_or_fail(impl_param)
    codec = factory() if limits is None else factory(limits)
    data = bytes.fromhex(hexdata.replace(" ", ""))
    calls: list[str] = []

    def resolve(name: str, mtype: MessageType) -> type:
        calls.append(name)
        return Empty

    with pytest.raises(error, match=match) as info:
        codec.decode_message(data, resolve)
    if error is R:
        assert not isinstance(info.value, LimitExceeded)
    if match != "trailing":
        assert calls == []  # the resolver never sees a broken envelope
    # scan_message agrees (except for what only decoding checks: UTF-8, trailing, truncation).
    if match not in ("trailing", "truncated", "UTF-8 in message name"):
        with pytest.raises(error, match=match):
            codec.scan_message(data)


@pytest.mark.parametrize("make", [sample_all_types, sample_containers], ids=["all", "cont"])
def test_truncated_at_every_offset(codec: Any, make: Any) -> None:
    value = make()
    body = codec.encode_struct(value)
    for cut in range(len(body)):
        with pytest.raises(RemoteProtocolError, match="truncated") as info:
            codec.decode_struct(type(value), body[:cut])
        assert not isinstance(info.value, LimitExceeded)
    msg = codec.encode_message("method", MessageType.REPLY, 5, value)
    for cut in range(len(msg)):
        with pytest.raises(RemoteProtocolError, match="truncated"):
            codec.decode_message(msg[:cut], lambda n, t: type(value))
        with pytest.raises(RemoteProtocolError, match="truncated"):
            codec.decode_message(msg[:cut], lambda n, t: None)


@pytest.mark.parametrize(
    ("proto", "hexdata"),
    [
        ("binary", "0f 0001 08 7fffffff 00"),
        ("binary", "0d 0001 0b 0b 7fffffff 00"),
        ("binary", "0b 0007 7fffffff"),
        ("compact", "19 f5 ffffffff07 00"),
        ("compact", "1b ffffffff07 88 00"),
        ("compact", "78 ffffffff07"),
    ],
)
def test_huge_claims_fail_without_allocating(codec: Any, proto: str, hexdata: str) -> None:
    if codec.name != proto:
        return  # the other protocol's bytes; its own rows cover it
    factory = type(codec)
    big = factory(BIG)
    data = bytes.fromhex(hexdata.replace(" ", ""))
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        for cls in (Containers, AllTypes, Empty):
            with pytest.raises(RemoteProtocolError):
                big.decode_struct(cls, data)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 1_000_000, f"decoding a hostile 8-byte input allocated {peak} bytes"


def test_recursion_over_max_depth(make_codec: Any) -> None:
    root = Node(0, [])
    node = root
    for i in range(100):
        child = Node(i, [])
        node.children.append(child)
        node = child
    codec = make_codec()
    data = codec.encode_struct(root)  # encoding has no depth limit below recursion
    with pytest.raises(LimitExceeded, match="max_depth"):
        codec.decode_struct(Node, data)
    assert make_codec(Limits(max_depth=250)).decode_struct(Node, data) == root


def test_depth_limit_is_exact(make_codec: Any) -> None:
    # Node(children=[Node()]): struct (1) > list (2) > struct (3).
    value = Node(1, [Node(2, None)])
    data = make_codec().encode_struct(value)
    assert make_codec(Limits(max_depth=3)).decode_struct(Node, data) == value
    with pytest.raises(LimitExceeded):
        make_codec(Limits(max_depth=2)).decode_struct(Node, data)


def test_bool_bytes_other_than_canonical(codec: Any) -> None:
    # Binary reads any non-zero byte as true (as Apache does); compact folds bools into the
    # field type, where 1 is true and 2 false.
    if codec.name == "binary":
        assert codec.decode_struct(AllTypes, bytes.fromhex("02000105 00")).a_bool is True
    else:
        assert codec.decode_struct(AllTypes, bytes.fromhex("12 00")).a_bool is False


def test_errors_leave_no_partial_state(codec: Any) -> None:
    good = codec.encode_struct(sample_containers())
    with pytest.raises(RemoteProtocolError):
        codec.decode_struct(Containers, good[:-3])
    assert codec.decode_struct(Containers, good) == sample_containers()
