"""scan_message: the length of a complete message, NEED_DATA, or an early error.

The unframed transport calls it each time bytes arrive, so it is fed here whole, one byte at
a time (into a growing bytearray, as the framer does), and across message boundaries.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from swordfish.codec import NEED_DATA
from swordfish.errors import LimitExceeded, RemoteProtocolError
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException

from .specs import AllTypes, Containers, Empty, Inner, Node, sample_all_types, sample_containers

BODIES = [
    Empty(),
    Inner(1, "x"),
    sample_all_types(),
    sample_containers(),
    TApplicationException("err", 3),
    Node(1, [Node(2, [Node(3, [])])]),
]


def _messages(codec: Any) -> list[bytes]:
    return [
        codec.encode_message(f"m{i}", MessageType.CALL, i, body) for i, body in enumerate(BODIES)
    ]


def test_whole_and_byte_by_byte(codec: Any) -> None:
    for msg in _messages(codec):
        assert codec.scan_message(msg) == len(msg)
        assert codec.scan_message(msg + b"\x00garbage") == len(msg)
        grown = bytearray()
        for i, byte in enumerate(msg):
            assert codec.scan_message(grown) == NEED_DATA, i
            grown.append(byte)  # would raise BufferError if scan kept a view of the buffer
        assert codec.scan_message(grown) == len(msg)


def test_stream_of_messages(codec: Any) -> None:
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
    for piece in found:
        assert codec.decode_message(piece, lambda n, t: None).body is None


def test_scan_does_not_decode_values(codec: Any) -> None:
    # A string field with invalid UTF-8 is well-formed framing: scan returns its length, only
    # decoding (with the struct type) rejects it.
    good = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="ab"))
    bad = good.replace(b"ab", b"\xff\xfe")
    assert codec.scan_message(bad) == len(bad)
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        codec.decode_message(bad, lambda n, t: AllTypes)


def test_invalid_prefix_raises_at_once(codec: Any) -> None:
    garbage = b"\x80\x02\x00\x01" if codec.name == "binary" else b"\x81"
    with pytest.raises(RemoteProtocolError):
        codec.scan_message(garbage)
    with pytest.raises(RemoteProtocolError):
        codec.scan_message(b"GET / HTTP/1.1\r\n")


def test_frame_limit_on_complete_message(make_codec: Any) -> None:
    codec = make_codec(Limits(max_frame_size=100))
    small = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 10))
    big = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 200))
    assert codec.scan_message(small) == len(small)
    with pytest.raises(LimitExceeded, match="max_frame_size"):
        codec.scan_message(big)


def test_frame_limit_before_the_data_arrives(make_codec: Any) -> None:
    codec = make_codec(Limits(max_frame_size=1000))
    big = codec.encode_message("m", MessageType.CALL, 1, AllTypes(a_string="x" * 5000))
    # The string header alone says the message cannot fit: fail without waiting for 5000 bytes.
    header = big[:40]
    with pytest.raises(LimitExceeded, match="max_frame_size"):
        codec.scan_message(header)
    # A declared container that cannot fit either.
    many = codec.encode_message("m", MessageType.CALL, 1, Containers(ints=list(range(2000))))
    with pytest.raises(LimitExceeded, match="max_frame_size"):
        codec.scan_message(many[:30])


def test_frame_limit_when_partial_data_exceeds_it(make_codec: Any) -> None:
    codec = make_codec(Limits(max_frame_size=64))
    msg = codec.encode_message("m", MessageType.CALL, 1, Containers(ints=list(range(100))))
    # NEED_DATA while below the limit, LimitExceeded once the partial message is over it.
    results = []
    for cut in range(1, len(msg)):
        try:
            results.append(codec.scan_message(msg[:cut]))
        except LimitExceeded:
            results.append("limit")
    assert NEED_DATA in results and results[-1] == "limit"


def test_scan_respects_other_limits(make_codec: Any) -> None:
    codec = make_codec(Limits(max_string_size=4, max_depth=3))
    msg = make_codec().encode_message("m", MessageType.CALL, 1, AllTypes(a_string="hello"))
    with pytest.raises(LimitExceeded, match="max_string_size"):
        codec.scan_message(msg)
    deep = make_codec().encode_message("m", MessageType.CALL, 1, Node(1, [Node(2, [Node(3)])]))
    with pytest.raises(LimitExceeded, match="max_depth"):
        codec.scan_message(deep)


def test_scan_is_linear(codec: Any) -> None:
    value = Containers(structs=[Inner(i, "v") for i in range(20_000)])
    msg = codec.encode_message("m", MessageType.CALL, 1, value)
    t0 = time.perf_counter()
    assert codec.scan_message(msg) == len(msg)
    for cut in (len(msg) // 3, len(msg) // 2, len(msg) - 1):
        assert codec.scan_message(msg[:cut]) == NEED_DATA
    assert time.perf_counter() - t0 < 2.0


def test_start_beyond_data(codec: Any) -> None:
    assert codec.scan_message(b"", 0) == NEED_DATA
    assert codec.scan_message(b"abc", 3) == NEED_DATA
