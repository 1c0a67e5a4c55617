"""THeader framing: exact bytes, detection of plain peers, limits, malformed input, zlib.

Frames are tables of exact bytes (written out by hand from the format in
swordfish/framing/header.py, and checked against what Apache's Python THeaderTransport
writes for the same message in ``test_matches_apache_bytes``). Every decoder is fed whole and
one byte at a time.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from typing import Any

import pytest

from swordfish.codec import get_codec
from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.framing import FramedFramer, HeaderFramer, ZlibFramer, wire_format
from swordfish.framing.header import StreamFramer
from swordfish.limits import Limits
from swordfish.model import MessageType
from tests.protocol.calc_spec import ping_args

BINARY = get_codec("binary")
COMPACT = get_codec("compact")

# "ping" CALL seqid 7 with an empty args struct, in each protocol.
PING_BIN = bytes.fromhex("80010001 00000004 70696e67 00000007 00")
PING_CPT = bytes.fromhex("82 21 07 04 70696e67 00")

# (id, protocol codec, wrap kwargs, transforms, expected frame)
FRAMES = [
    (
        "binary-no-headers",
        BINARY,
        {"seqid": 7},
        (),
        # len 0x1b | magic | flags | seqid 7 | 1 word | proto 0, 0 transforms, 2 pad | payload
        bytes.fromhex("0000001f 0fff 0000 00000007 0001 00000000") + PING_BIN,
    ),
    (
        "binary-one-header",
        BINARY,
        {"seqid": 7, "headers": {"k": "v"}},
        (),
        # header: proto 0, 0 transforms, type 1, 1 pair, "k", "v" = 8 bytes, no padding
        bytes.fromhex("00000023 0fff 0000 00000007 0002 00 00 01 01 016b 0176") + PING_BIN,
    ),
    (
        "compact-utf8-headers",
        COMPACT,
        {"seqid": 7, "headers": {"é": "ü", "a": ""}},
        (),
        # proto 2, 0 transforms, type 1, 2 pairs, 02 c3a9, 02 c3bc, 01 61, 00, then 3 pad
        bytes.fromhex("00000023 0fff 0000 00000007 0004 02 00 01 02 02c3a9 02c3bc 0161 00 000000")
        + PING_CPT,
    ),
    (
        "binary-zlib",
        BINARY,
        {"seqid": 7},
        ("zlib",),
        # proto 0, 1 transform: zlib (1), 1 pad; payload deflated (zlib.compress)
        struct.pack(">i", 14 + len(zlib.compress(PING_BIN)))
        + bytes.fromhex("0fff 0000 00000007 0001 00 01 01 00")
        + zlib.compress(PING_BIN),
    ),
]
FRAME_IDS = [f[0] for f in FRAMES]


def _drain(framer: Any) -> list[bytes]:
    out = []
    while (message := framer.next_message()) is not None:
        out.append(message)
    return out


def _feed_bytewise(framer: Any, data: bytes) -> list[tuple[bytes, int, dict[str, str]]]:
    got = []
    for i in range(len(data)):
        framer.feed(data[i : i + 1])
        while (message := framer.next_message()) is not None:
            got.append((message, framer.message_codec.protocol_id, framer.message_headers))
    return got


def _payload(codec: Any) -> bytes:
    return PING_BIN if codec is BINARY else PING_CPT


@pytest.mark.parametrize(
    ("codec", "kwargs", "transforms", "frame"), [f[1:] for f in FRAMES], ids=FRAME_IDS
)
def test_wrap_exact_bytes(
    codec: Any, kwargs: dict[str, Any], transforms: Any, frame: bytes
) -> None:
    framer = HeaderFramer(codec, transforms=transforms)
    assert framer.wrap(_payload(codec), **kwargs) == frame


@pytest.mark.parametrize(
    ("codec", "kwargs", "transforms", "frame"), [f[1:] for f in FRAMES], ids=FRAME_IDS
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_read_exact_bytes(
    codec: Any, kwargs: dict[str, Any], transforms: Any, frame: bytes, bytewise: bool
) -> None:
    want = (_payload(codec), codec.protocol_id, dict(kwargs.get("headers") or {}))
    data = frame * 3
    framer = HeaderFramer(BINARY)  # the codec the frame names wins over our default
    if bytewise:
        got = _feed_bytewise(framer, data)
    else:
        framer.feed(data)
        got = []
        while (message := framer.next_message()) is not None:
            got.append((message, framer.message_codec.protocol_id, framer.message_headers))
    assert got == [want] * 3
    assert framer.buffered == 0


def test_message_headers_are_a_fresh_dict_per_message() -> None:
    frame = FRAMES[1][4]
    framer = HeaderFramer(BINARY)
    framer.feed(frame * 2)
    framer.next_message()
    first = framer.message_headers
    framer.next_message()
    assert first == framer.message_headers and first is not framer.message_headers


def test_framed_twice_exact_bytes() -> None:
    """Over "framed" a header frame gets a second length, as THeaderTransport over
    TFramedTransport writes it."""
    frame = FRAMES[1][4]
    wire = wire_format("header", "framed")
    framer = wire.new_framer()
    data = framer.wrap(PING_BIN, headers={"k": "v"}, seqid=7)
    assert data == struct.pack(">i", len(frame)) + frame
    reader = wire.new_framer(server=True)
    assert _feed_bytewise(reader, data * 2) == [(PING_BIN, 0, {"k": "v"})] * 2


def test_header_frames_inside_a_zlib_stream() -> None:
    wire = wire_format("header-compact", "zlib")
    writer, reader = wire.new_framer(), wire.new_framer(server=True)
    data = b"".join(writer.wrap(PING_CPT, headers={"n": str(i)}, seqid=7) for i in range(5))
    assert data[:2] == b"\x78\x9c"  # one zlib stream: its header comes once
    got = _feed_bytewise(reader, data)
    assert got == [(PING_CPT, 2, {"n": str(i)}) for i in range(5)]
    # Inside the stream are the plain header frames, back to back.
    plain = HeaderFramer(COMPACT)
    frames = b"".join(plain.wrap(PING_CPT, headers={"n": str(i)}, seqid=7) for i in range(5))
    assert zlib.decompressobj().decompress(data) == frames


def test_matches_apache_bytes() -> None:
    """Apache's THeaderTransport (in memory) writes exactly our frames, framed twice too."""
    from thrift.protocol.THeaderProtocol import THeaderProtocol
    from thrift.Thrift import TMessageType
    from thrift.transport.THeaderTransport import (
        THeaderClientType,
        THeaderSubprotocolID,
        THeaderTransformID,
    )
    from thrift.transport.TTransport import TFramedTransport, TMemoryBuffer

    for codec, pid in (
        (BINARY, THeaderSubprotocolID.BINARY),
        (COMPACT, THeaderSubprotocolID.COMPACT),
    ):
        for framed in (False, True):
            for zipped in (False, True):
                buf = TMemoryBuffer()
                inner = TFramedTransport(buf) if framed else buf
                proto = THeaderProtocol(inner, [THeaderClientType.HEADERS], pid)
                proto.set_header(b"trace", b"abc")
                if zipped:
                    proto.add_transform(THeaderTransformID.ZLIB)
                proto.writeMessageBegin("ping", TMessageType.CALL, 7)
                proto.writeStructBegin("ping_args")
                proto.writeFieldStop()
                proto.writeStructEnd()
                proto.writeMessageEnd()
                proto.trans.flush()
                wire = wire_format(
                    "header" if codec is BINARY else "header-compact",
                    "framed" if framed else "buffered",
                    header_transforms=("zlib",) if zipped else (),
                )
                ours = wire.new_framer().wrap(_payload(codec), headers={"trace": "abc"}, seqid=7)
                assert ours == buf.getvalue(), (codec.name, framed, zipped)


# -- plain peers of a server -----------------------------------------------------------------

PLAIN = [
    ("unframed-binary", PING_BIN, BINARY, PING_BIN),
    ("framed-binary", struct.pack(">i", len(PING_BIN)) + PING_BIN, BINARY, None),
    ("unframed-compact", PING_CPT, COMPACT, PING_CPT),
    ("framed-compact", struct.pack(">i", len(PING_CPT)) + PING_CPT, COMPACT, None),
]


@pytest.mark.parametrize(
    ("data", "codec", "_unused"), [p[1:] for p in PLAIN], ids=[p[0] for p in PLAIN]
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_server_detects_plain_peers_and_answers_in_kind(
    data: bytes, codec: Any, _unused: Any, bytewise: bool
) -> None:
    framer = HeaderFramer(BINARY, accept_plain=True, transforms=("zlib",))
    if bytewise:
        got = _feed_bytewise(framer, data * 2)
    else:
        framer.feed(data * 2)
        got = [
            (m, framer.message_codec.protocol_id, framer.message_headers) for m in _drain(framer)
        ]
    payload = _payload(codec)
    assert got == [(payload, codec.protocol_id, {})] * 2
    # The reply goes out in the peer's own format (no header, no transform, no headers).
    assert framer.wrap(payload, codec=codec, headers={"x": "y"}, seqid=7) == data


def test_client_refuses_plain_replies() -> None:
    framer = HeaderFramer(BINARY)
    framer.feed(struct.pack(">i", len(PING_BIN)) + PING_BIN)
    with pytest.raises(RemoteProtocolError, match="expected a THeader frame"):
        framer.next_message()


def test_undetectable_input_is_refused() -> None:
    framer = HeaderFramer(BINARY, accept_plain=True)
    framer.feed(b"\x00\x00\x00\x10GET / HTTP/1.1\r\n")
    with pytest.raises(RemoteProtocolError, match="could not detect"):
        framer.next_message()


def test_a_peer_may_not_switch_format() -> None:
    framer = HeaderFramer(BINARY, accept_plain=True)
    framer.feed(PING_BIN + FRAMES[0][4])
    assert framer.next_message() == PING_BIN
    with pytest.raises(RemoteProtocolError, match="switched from unframed binary to header"):
        framer.next_message()


def test_server_compresses_replies_to_a_compressing_peer() -> None:
    server = HeaderFramer(BINARY, accept_plain=True)
    assert server.wrap(PING_BIN, seqid=7) == FRAMES[0][4]
    server.feed(FRAMES[3][4])
    assert server.next_message() == PING_BIN
    assert server.wrap(PING_BIN, seqid=7) == FRAMES[3][4]


def test_flags_are_echoed() -> None:
    frame = bytearray(FRAMES[0][4])
    frame[6:8] = b"\x00\x05"
    server = HeaderFramer(BINARY, accept_plain=True)
    server.feed(bytes(frame))
    assert server.next_message() == PING_BIN
    assert server.wrap(PING_BIN, seqid=7) == bytes(frame)


def test_unknown_info_header_type_ends_the_list() -> None:
    # type 1 with k=v, then type 9 (unknown): what follows it is skipped, as Apache does.
    framer = HeaderFramer(BINARY)
    framer.feed(_frame(bytes.fromhex("00 00 01 01 016b 0176 09 05 ff 01 01 016c 0177")))
    assert framer.next_message() == PING_BIN
    assert framer.message_headers == {"k": "v"}


# -- limits and malformed input --------------------------------------------------------------


def _frame(header: bytes, payload: bytes = PING_BIN, words: int | None = None) -> bytes:
    header += bytes(-len(header) % 4)
    words = len(header) // 4 if words is None else words
    return (
        struct.pack(">iHHiH", 10 + len(header) + len(payload), 0x0FFF, 0, 7, words)
        + header
        + payload
    )


MALFORMED = [
    ("negative-length", b"\xff\xff\xff\xf0" + bytes(20), RemoteProtocolError, "negative frame"),
    ("short-frame", b"\x00\x00\x00\x02\x0f\xff", RemoteProtocolError, "too short"),
    (
        "short-header-frame",
        b"\x00\x00\x00\x06\x0f\xff\x00\x00\x00\x00",
        RemoteProtocolError,
        "too short",
    ),
    (
        "header-longer-than-frame",
        _frame(b"\x00\x00", words=100),
        RemoteProtocolError,
        "larger than",
    ),
    ("unknown-protocol", _frame(b"\x05\x00"), RemoteProtocolError, "unknown protocol id 5"),
    ("unknown-transform", _frame(b"\x00\x01\x03"), RemoteProtocolError, "unknown transform 3"),
    ("too-many-transforms", _frame(b"\x00\x7f"), RemoteProtocolError, "transforms cannot fit"),
    (
        "long-varint",
        _frame(b"\x00\x00\x01\xff\xff\xff\xff\xff\x01"),
        RemoteProtocolError,
        "longer than 5",
    ),
    (
        "truncated-varint",
        _frame(b"\x00\x00\x01\x01\x81\x81\x81\x81"),
        RemoteProtocolError,
        "past the end",
    ),
    ("string-past-header", _frame(b"\x00\x00\x01\x01\x10ab"), RemoteProtocolError, "past the end"),
    ("pairs-cannot-fit", _frame(b"\x00\x00\x01\x40"), RemoteProtocolError, "cannot fit"),
    (
        "bad-utf8-key",
        _frame(b"\x00\x00\x01\x01\x01\xff\x00"),
        RemoteProtocolError,
        "not valid UTF-8",
    ),
    ("corrupt-zlib", _frame(b"\x00\x01\x01", b"not zlib"), RemoteProtocolError, "corrupt zlib"),
    (
        "truncated-zlib",
        _frame(b"\x00\x01\x01", zlib.compress(PING_BIN)[:-3]),
        RemoteProtocolError,
        "truncated zlib",
    ),
    (
        "zlib-trailing-bytes",
        _frame(b"\x00\x01\x01", zlib.compress(PING_BIN) + b"x"),
        RemoteProtocolError,
        "after the zlib",
    ),
]


@pytest.mark.parametrize(
    ("data", "error", "match"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_malformed_input(data: bytes, error: type[Exception], match: str, bytewise: bool) -> None:
    framer = HeaderFramer(BINARY, accept_plain=True)
    with pytest.raises(error, match=match):
        if bytewise:
            _feed_bytewise(framer, data)
        else:
            framer.feed(data)
            framer.next_message()


SMALL = Limits(max_frame_size=1000, max_string_size=8, max_container_size=2)


def test_frame_length_refused_before_buffering() -> None:
    framer = HeaderFramer(BINARY, SMALL)
    framer.feed(struct.pack(">i", 1001))  # only the length: no body needed to refuse it
    with pytest.raises(LimitExceeded, match="exceeds max_frame_size"):
        framer.next_message()


def test_header_string_and_count_limits() -> None:
    framer = HeaderFramer(BINARY, SMALL)
    framer.feed(_frame(b"\x00\x00\x01\x01\x09" + b"k" * 9 + b"\x00"))
    with pytest.raises(LimitExceeded, match="max_string_size"):
        framer.next_message()
    framer = HeaderFramer(BINARY, SMALL)
    framer.feed(_frame(b"\x00\x00\x01\x03" + b"\x01a\x01b" * 3))
    with pytest.raises(LimitExceeded, match="max_container_size"):
        framer.next_message()


def test_unframed_plain_message_limit() -> None:
    framer = HeaderFramer(BINARY, Limits(max_frame_size=64), accept_plain=True)
    # A binary call whose name claims 1000 bytes: it never completes within the limit.
    framer.feed(bytes.fromhex("80010001 000003e8") + b"a" * 100)
    with pytest.raises(LimitExceeded):
        framer.next_message()


def test_zlib_bomb_is_refused_without_inflating_it() -> None:
    limits = Limits(max_frame_size=1 << 20)
    bomb = zlib.compress(bytes(200 << 20), 9)  # 200 MiB of zeros in ~200 KiB
    frame = _frame(b"\x00\x01\x01", bomb)
    assert len(frame) < limits.max_frame_size  # the compressed frame itself is acceptable
    framer = HeaderFramer(BINARY, limits)
    framer.feed(frame)
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="inflates beyond"):
            framer.next_message()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"inflating the bomb allocated {peak} bytes"


def test_outgoing_limits() -> None:
    framer = HeaderFramer(BINARY, Limits(max_frame_size=40))
    with pytest.raises(LocalProtocolError, match="exceeds max_frame_size"):
        framer.wrap(bytes(100))
    with pytest.raises(LocalProtocolError, match="must be str"):
        HeaderFramer(BINARY).wrap(PING_BIN, headers={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(LocalProtocolError, match="bytes of headers"):
        HeaderFramer(BINARY, Limits(max_frame_size=1 << 24)).wrap(
            PING_BIN, headers={"k": "v" * 300_000}
        )


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown THeader transform 'snappy'"):
        HeaderFramer(BINARY, transforms=("snappy",))
    with pytest.raises(ValueError, match="unknown THeader transform"):
        wire_format("header", "buffered", header_transforms=("lz4",))
    with pytest.raises(ValueError, match="apply to the THeader protocols"):
        wire_format("binary", "buffered", header_transforms=("zlib",))


def test_buffered_counts_partial_frames_and_outer_bytes() -> None:
    frame = FRAMES[0][4]
    framer = HeaderFramer(BINARY)
    framer.feed(frame[:-1])
    assert framer.next_message() is None and framer.buffered == len(frame) - 1
    framer.feed(frame[-1:])
    assert framer.next_message() == PING_BIN and framer.buffered == 0
    twice = HeaderFramer(BINARY, outer=FramedFramer())
    twice.feed(struct.pack(">i", len(frame)) + frame[:5])
    assert twice.next_message() is None and twice.buffered == 9


def test_stream_framer_hands_out_bounded_pieces() -> None:
    stream = StreamFramer(Limits(max_frame_size=4))
    stream.feed(b"abcdefghij")
    assert _drain(stream) == [b"abcd", b"efgh", b"ij"]
    assert stream.wrap(b"xyz") == b"xyz" and stream.buffered == 0


def test_zlib_outer_stream_is_bounded() -> None:
    """Header frames in a zlib stream: an oversized frame is refused from its length, and the
    200 MiB of zeros behind it are never inflated."""
    limits = Limits(max_frame_size=1 << 16)
    outer = ZlibFramer(BINARY, limits, inner=StreamFramer(limits))
    framer = HeaderFramer(BINARY, limits, outer=outer)
    deflate = zlib.compressobj(9)
    data = deflate.compress(struct.pack(">i", (1 << 16) + 1) + bytes(200 << 20))
    data += deflate.flush(zlib.Z_SYNC_FLUSH)
    framer.feed(data)
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="exceeds max_frame_size"):
            framer.next_message()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"allocated {peak} bytes"


def test_engine_level_encode_with_message_codec() -> None:
    """The codec the frame names decodes the payload (a sanity check of the pairing)."""
    framer = HeaderFramer(BINARY)
    framer.feed(FRAMES[2][4])
    payload = framer.next_message()
    assert payload is not None
    message = framer.message_codec.decode_message(payload, lambda n, t: ping_args)
    assert (message.name, message.mtype, message.seqid) == ("ping", MessageType.CALL, 7)
