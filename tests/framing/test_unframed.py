"""Unframed ("buffered") transport: boundaries found by the codec's scan."""

from __future__ import annotations

import pytest

from swordfish.codec import get_codec
from swordfish.errors import LimitExceeded, RemoteProtocolError
from swordfish.framing import UnframedFramer
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException


@pytest.fixture(params=["binary", "compact"])
def codec_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _messages(codec_name: str) -> list[bytes]:
    codec = get_codec(codec_name)
    return [
        codec.encode_message("ping", MessageType.EXCEPTION, 7, TApplicationException("x" * n, 1))
        for n in (0, 1, 200, 5000)
    ]


def _drain(framer: UnframedFramer) -> list[bytes]:
    out = []
    while (msg := framer.next_message()) is not None:
        out.append(msg)
    return out


def test_whole_stream(codec_name: str) -> None:
    msgs = _messages(codec_name)
    framer = UnframedFramer(get_codec(codec_name))
    framer.feed(b"".join(msgs))
    assert _drain(framer) == msgs
    assert framer.buffered == 0


def test_one_byte_at_a_time(codec_name: str) -> None:
    msgs = _messages(codec_name)[:3]
    framer = UnframedFramer(get_codec(codec_name))
    wire = b"".join(msgs)
    got: list[bytes] = []
    for i in range(len(wire)):
        framer.feed(wire[i : i + 1])
        got.extend(_drain(framer))
    assert got == msgs


def test_wrap_is_identity(codec_name: str) -> None:
    assert UnframedFramer(get_codec(codec_name)).wrap(b"abc") == b"abc"


def test_garbage_is_an_error() -> None:
    framer = UnframedFramer(get_codec("binary"))
    framer.feed(b"\x80\x02\x00\x01" + b"\x00" * 16)  # wrong version
    with pytest.raises(RemoteProtocolError):
        framer.next_message()


def test_incomplete_message_over_limit_is_refused(codec_name: str) -> None:
    limits = Limits(max_frame_size=1024)
    codec = get_codec(codec_name, limits)
    framer = UnframedFramer(codec, limits)
    big = get_codec(codec_name).encode_message(
        "m", MessageType.EXCEPTION, 1, TApplicationException("y" * 4000, 1)
    )
    with pytest.raises(LimitExceeded):
        for i in range(0, 3000, 100):
            framer.feed(big[i : i + 100])
            framer.next_message()
