"""Framed transport: exact bytes, any chunking, limits before buffering."""

from __future__ import annotations

import pytest

from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.framing import FramedFramer, make_framer
from swordfish.limits import Limits

CASES = [
    # (payloads, wire bytes)
    ([b"abc"], b"\x00\x00\x00\x03abc"),
    ([b""], b"\x00\x00\x00\x00"),
    ([b"x", b"yz"], b"\x00\x00\x00\x01x\x00\x00\x00\x02yz"),
    ([b"\x00" * 300], b"\x00\x00\x01\x2c" + b"\x00" * 300),
]


@pytest.mark.parametrize(("payloads", "wire"), CASES)
def test_wrap_exact_bytes(payloads: list[bytes], wire: bytes) -> None:
    framer = FramedFramer()
    assert b"".join(framer.wrap(p) for p in payloads) == wire


def _drain(framer: FramedFramer) -> list[bytes]:
    out = []
    while (msg := framer.next_message()) is not None:
        out.append(msg)
    return out


@pytest.mark.parametrize(("payloads", "wire"), CASES)
def test_read_whole(payloads: list[bytes], wire: bytes) -> None:
    framer = FramedFramer()
    framer.feed(wire)
    assert _drain(framer) == payloads
    assert framer.buffered == 0


@pytest.mark.parametrize(("payloads", "wire"), CASES)
def test_read_one_byte_at_a_time(payloads: list[bytes], wire: bytes) -> None:
    framer = FramedFramer()
    got: list[bytes] = []
    for i in range(len(wire)):
        framer.feed(wire[i : i + 1])
        got.extend(_drain(framer))
        consumed = sum(4 + len(p) for p in got)
        assert framer.buffered == i + 1 - consumed
    assert got == payloads
    assert framer.buffered == 0


def test_negative_length_is_an_error() -> None:
    framer = FramedFramer()
    framer.feed(b"\xff\xff\xff\xfe")
    with pytest.raises(RemoteProtocolError, match="negative frame length"):
        framer.next_message()


def test_huge_length_refused_before_body_arrives() -> None:
    framer = FramedFramer(Limits(max_frame_size=1024))
    framer.feed(b"\x00\x00\x04\x01")  # 1025 > 1024, no body yet
    with pytest.raises(LimitExceeded, match="exceeds max_frame_size"):
        framer.next_message()


def test_exactly_at_limit_is_accepted() -> None:
    framer = FramedFramer(Limits(max_frame_size=4))
    framer.feed(b"\x00\x00\x00\x04abcd")
    assert framer.next_message() == b"abcd"


def test_outgoing_over_limit_is_local_error() -> None:
    framer = FramedFramer(Limits(max_frame_size=4))
    with pytest.raises(LocalProtocolError):
        framer.wrap(b"12345")


def test_many_messages_compact_buffer() -> None:
    framer = FramedFramer()
    payload = b"p" * 1000
    wire = framer.wrap(payload) * 200
    got = []
    for i in range(0, len(wire), 777):
        framer.feed(wire[i : i + 777])
        got.extend(_drain(framer))
    assert got == [payload] * 200
    assert framer.buffered == 0


def test_make_framer_names() -> None:
    from swordfish.codec import get_codec

    codec = get_codec("binary")
    assert make_framer("framed", codec).name == "framed"
    assert make_framer("buffered", codec).name == "buffered"
    with pytest.raises(ValueError, match="buffered, framed"):
        make_framer("carrier-pigeon", codec)
