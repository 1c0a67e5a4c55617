"""DetectingFramer: exact first bytes of every accepted combination, fed whole and byte by byte.

Each table row gives the wire bytes of two identical calls ``ping(seqid=7)`` with an empty
argument struct, what must be detected, and after exactly how many bytes: the framer must not
decide on fewer (never guess) and must not wait for more (as few bytes as needed). THeader
rows carry the strict binary call in header frames (written out by hand below), straight on
the stream, framed twice, and inside zlib.
"""

from __future__ import annotations

import zlib

import pytest

from swordfish.codec import get_codec
from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.framing import HeaderFramer, wire_format
from swordfish.framing.detect import MAX_SNIFF, Detected, DetectingFramer
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException
from swordfish.protocol import NEED_DATA, Call, ServerConnection
from tests.protocol.calc_spec import PING, SMALL

# One call "ping", seqid 7, empty args struct, in each protocol.
STRICT = bytes.fromhex("80010001 00000004") + b"ping" + bytes.fromhex("00000007 00")
OLD = bytes.fromhex("00000004") + b"ping" + bytes.fromhex("01 00000007 00")
COMPACT = bytes.fromhex("82 21 07 04") + b"ping" + b"\x00"
JSON = b'[1,"ping",1,7,{}]'
# STRICT in a THeader frame: length 31, magic, flags 0, seqid 7, one header word holding
# protocol id 0 (binary) and 0 transforms, padded.
HEADER = bytes.fromhex("0000001f 0fff 0000 00000007 0001 00000000") + STRICT
# COMPACT in a THeader frame (protocol id 2) with one info header k=v.
HEADER_COMPACT = bytes.fromhex("0000001b 0fff 0000 00000007 0002 02000101 016b0176") + COMPACT
PAYLOADS = {
    ("binary", False): STRICT,
    ("binary", True): OLD,
    ("compact", False): COMPACT,
    ("json", False): JSON,
    ("header", False): STRICT,
}


def framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def stored_zlib(payload: bytes) -> bytes:
    """A zlib stream at level 0, written by hand: header ``78 01``, one stored block, then
    the empty stored block of a sync flush (exact bytes, independent of the zlib build)."""
    n = len(payload)
    block = b"\x00" + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little") + payload
    return b"\x78\x01" + block + b"\x00\x00\x00\xff\xff"


def test_stored_zlib_is_what_zlib_inflates() -> None:
    assert zlib.decompressobj().decompress(stored_zlib(STRICT) + stored_zlib(STRICT)[2:]) == (
        STRICT * 2
    )


# (id, wire bytes of two calls, detected, bytes needed to decide)
TABLE = [
    ("buffered-binary", STRICT * 2, Detected("buffered", "binary"), 4),
    ("buffered-binary-old", OLD * 2, Detected("buffered", "binary", True), 5),
    ("buffered-compact", COMPACT * 2, Detected("buffered", "compact"), 2),
    ("buffered-json", JSON * 2, Detected("buffered", "json"), 4),
    ("framed-binary", framed(STRICT) * 2, Detected("framed", "binary"), 8),
    ("framed-binary-old", framed(OLD) * 2, Detected("framed", "binary", True), 9),
    ("framed-compact", framed(COMPACT) * 2, Detected("framed", "compact"), 6),
    ("framed-json", framed(JSON) * 2, Detected("framed", "json"), 8),
    # header 2 + stored block header 5 + what the inner check needs
    ("zlib-binary", stored_zlib(STRICT) + stored_zlib(STRICT)[2:], Detected("zlib", "binary"), 11),
    (
        "zlib-binary-old",
        stored_zlib(OLD) + stored_zlib(OLD)[2:],
        Detected("zlib", "binary", True),
        12,
    ),
    (
        "zlib-compact",
        stored_zlib(COMPACT) + stored_zlib(COMPACT)[2:],
        Detected("zlib", "compact"),
        9,
    ),
    ("zlib-json", stored_zlib(JSON) + stored_zlib(JSON)[2:], Detected("zlib", "json"), 11),
    # length word, then the magic
    ("header", HEADER * 2, Detected("buffered", "header"), 6),
    # framed twice: outer length, inner length, magic
    ("framed-header", framed(HEADER) * 2, Detected("framed", "header"), 10),
    (
        "zlib-header",
        stored_zlib(HEADER) + stored_zlib(HEADER)[2:],
        Detected("zlib", "header"),
        13,
    ),
]
IDS = [row[0] for row in TABLE]


def payload_of(d: Detected) -> bytes:
    return PAYLOADS[d.protocol, d.old_style]


def name_of(d: Detected) -> str:
    """The inner framer's name: the transport, or "header" for THeader framing."""
    return "header" if d.protocol == "header" else d.transport


def test_header_frames_are_what_header_framer_writes() -> None:
    binary, compact = get_codec("binary"), get_codec("compact")
    assert HeaderFramer(binary).wrap(STRICT, seqid=7) == HEADER
    assert HeaderFramer(compact).wrap(COMPACT, headers={"k": "v"}, seqid=7) == HEADER_COMPACT


def drain(framer: DetectingFramer) -> list[bytes]:
    out = []
    while (msg := framer.next_message()) is not None:
        out.append(msg)
    return out


@pytest.mark.parametrize(("name", "wire", "detected", "needed"), TABLE, ids=IDS)
def test_whole(name: str, wire: bytes, detected: Detected, needed: int) -> None:
    framer = DetectingFramer()
    assert framer.name == "detect" and framer.message_codec is None and framer.detected is None
    framer.feed(wire)
    assert drain(framer) == [payload_of(detected)] * 2
    assert framer.detected == detected
    assert framer.name == name_of(detected)
    assert framer.buffered == 0


@pytest.mark.parametrize(("name", "wire", "detected", "needed"), TABLE, ids=IDS)
def test_one_byte_at_a_time(name: str, wire: bytes, detected: Detected, needed: int) -> None:
    framer = DetectingFramer()
    got: list[bytes] = []
    for i in range(len(wire)):
        framer.feed(wire[i : i + 1])
        got.extend(drain(framer))
        if i + 1 < needed:
            assert framer.detected is None, f"decided after only {i + 1} bytes"
            assert framer.buffered == i + 1
        else:
            assert framer.detected == detected, f"still undecided after {i + 1} bytes"
    assert got == [payload_of(detected)] * 2
    assert framer.buffered == 0


@pytest.mark.parametrize(("name", "wire", "detected", "needed"), TABLE, ids=IDS)
def test_detected_with_only_that_combination_accepted(
    name: str, wire: bytes, detected: Detected, needed: int
) -> None:
    framer = DetectingFramer(protocols=[detected.protocol], transports=[detected.transport])
    framer.feed(wire)
    assert drain(framer) == [payload_of(detected)] * 2


PLAIN_TABLE = [row for row in TABLE if row[2].protocol != "header"]
PLAIN_IDS = [row[0] for row in PLAIN_TABLE]


@pytest.mark.parametrize(("name", "wire", "detected", "needed"), PLAIN_TABLE, ids=PLAIN_IDS)
def test_message_codec_decodes_and_answers_in_kind(
    name: str, wire: bytes, detected: Detected, needed: int
) -> None:
    framer = DetectingFramer()
    framer.feed(wire)
    message = framer.next_message()
    assert message is not None
    codec = framer.message_codec
    assert codec is not None and codec.name == detected.protocol
    decoded = codec.decode_message(message, lambda name, mtype: None)
    assert (decoded.name, decoded.mtype, decoded.seqid) == ("ping", MessageType.CALL, 7)
    # The answer goes out in the same protocol and framing (old-style callers get the
    # versioned envelope: see the module docstring).
    reply = codec.encode_message("ping", MessageType.EXCEPTION, 7, TApplicationException("x", 1))
    out = framer.wrap(reply)
    if detected.transport == "buffered":
        assert out == reply
    elif detected.transport == "framed":
        assert out == framed(reply)
    else:
        assert out[:1] == b"\x78" and zlib.decompressobj().decompress(out) == reply
    if detected.protocol == "binary":
        assert reply[:2] == b"\x80\x01"
    reference = get_codec(detected.protocol).encode_message(
        "ping", MessageType.EXCEPTION, 7, TApplicationException("x", 1)
    )
    assert reply == reference
    # A plain format has no headers, and drops what only THeader could carry.
    assert framer.message_headers is None
    again = framer.wrap(reply, codec=codec, headers={"k": "v"}, seqid=7)
    if detected.transport == "zlib":  # one stream: the second reply continues it
        inflate = zlib.decompressobj()
        assert inflate.decompress(out) + inflate.decompress(again) == reply * 2
    else:
        assert again == out


HEADER_ROWS = [row for row in TABLE if row[2].protocol == "header"]


@pytest.mark.parametrize(
    ("name", "wire", "detected", "needed"), HEADER_ROWS, ids=[r[0] for r in HEADER_ROWS]
)
def test_header_connection_answers_with_header_frames(
    name: str, wire: bytes, detected: Detected, needed: int
) -> None:
    """Replies on a detected THeader connection are what the THeader server framing of that
    transport writes, with the codec, headers and seqid the engine passes."""
    framer = DetectingFramer()
    framer.feed(wire)
    assert framer.next_message() == STRICT
    codec = framer.message_codec
    assert codec is not None and codec.name == "binary" and framer.message_headers == {}
    reference = wire_format("header", detected.transport).new_framer(server=True)
    assert isinstance(reference, HeaderFramer)
    reference.feed(wire)
    assert reference.next_message() == STRICT
    reply = codec.encode_message("ping", MessageType.EXCEPTION, 7, TApplicationException("x", 1))
    got = framer.wrap(reply, codec=codec, headers={"r": "1"}, seqid=7)
    assert got == reference.wrap(reply, codec=codec, headers={"r": "1"}, seqid=7)
    unwrapped = wire_format("header", detected.transport).new_framer()
    unwrapped.feed(got)
    assert unwrapped.next_message() == reply
    assert isinstance(unwrapped, HeaderFramer) and unwrapped.message_headers == {"r": "1"}


def test_header_codec_and_headers_follow_each_frame() -> None:
    framer = DetectingFramer()
    for i in range(len(HEADER_COMPACT)):  # one byte at a time
        framer.feed(HEADER_COMPACT[i : i + 1])
        message = framer.next_message()
        assert (message is None) == (i + 1 < len(HEADER_COMPACT))
    assert message == COMPACT
    assert framer.detected == Detected("buffered", "header")
    assert framer.message_codec is not None and framer.message_codec.name == "compact"
    assert framer.message_headers == {"k": "v"}
    # The next frame names binary and carries no headers.
    framer.feed(HEADER)
    assert framer.next_message() == STRICT
    assert framer.message_codec.name == "binary" and framer.message_headers == {}


def test_header_transforms_deflate_replies() -> None:
    framer = DetectingFramer(header_transforms=("zlib",))
    framer.feed(HEADER)
    assert framer.next_message() == STRICT
    out = framer.wrap(STRICT, codec=get_codec("binary"), seqid=7)
    assert out[14:17] == b"\x00\x01\x01"  # protocol 0, one transform: zlib
    reader = HeaderFramer(get_codec("binary"))
    reader.feed(out)
    assert reader.next_message() == STRICT


# --- through the protocol engine -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "wire", "detected", "needed"), TABLE, ids=IDS)
def test_engine_serves_a_detected_connection_fed_byte_by_byte(
    name: str, wire: bytes, detected: Detected, needed: int
) -> None:
    """The engine reads ``message_codec`` / ``message_headers`` only once a message is
    out, so the undecided framer (codec ``None``) is never asked for them; replies come out
    in the caller's own format."""
    framer = DetectingFramer()
    engine = ServerConnection(SMALL, get_codec("binary"), framer)
    calls: list[Call] = []
    for i in range(len(wire)):
        engine.receive_data(wire[i : i + 1])
        while (event := engine.next_event()) is not NEED_DATA:
            assert isinstance(event, Call)
            calls.append(event)
    assert [(c.method.name, c.seqid) for c in calls] == [("ping", 7)] * 2
    codec = calls[0].codec
    assert codec is not None and codec.name == (
        "binary" if detected.protocol == "header" else detected.protocol
    )
    if detected.protocol == "header":
        assert calls[0].headers == {}
    else:
        assert calls[0].headers is None
    out = engine.send_reply(calls[0], PING.result())  # type: ignore[misc]
    # What a client of that format reads back.
    reader: object
    if detected.protocol == "header":
        reader = wire_format("header", detected.transport).new_framer()
    else:
        reader = wire_format(detected.protocol, detected.transport).new_framer()
    reader.feed(out)  # type: ignore[attr-defined]
    message = reader.next_message()  # type: ignore[attr-defined]
    decoded = codec.decode_message(message, lambda n, t: PING.result)
    assert (decoded.name, decoded.mtype, decoded.seqid) == ("ping", MessageType.REPLY, 7)


def test_engine_carries_header_codec_and_headers() -> None:
    framer = DetectingFramer()
    engine = ServerConnection(SMALL, get_codec("binary"), framer)
    engine.receive_data(HEADER_COMPACT)
    call = engine.next_event()
    assert isinstance(call, Call)
    assert call.codec is not None and call.codec.name == "compact"
    assert call.headers == {"k": "v"}
    out = engine.send_reply(call, PING.result(), {"r": "1"})  # type: ignore[misc]
    reader = HeaderFramer(get_codec("binary"))
    reader.feed(out)
    message = reader.next_message()
    assert message is not None and reader.message_headers == {"r": "1"}
    assert reader.message_codec.name == "compact"


def test_real_zlib_levels_detected() -> None:
    for level in (1, 6, 9):
        for payload, protocol in ((STRICT, "binary"), (COMPACT, "compact"), (JSON, "json")):
            deflate = zlib.compressobj(level)
            wire = b"".join(
                deflate.compress(payload) + deflate.flush(zlib.Z_SYNC_FLUSH) for _ in range(3)
            )
            for chunk in (len(wire), 1):
                framer = DetectingFramer()
                got: list[bytes] = []
                for i in range(0, len(wire), chunk):
                    framer.feed(wire[i : i + chunk])
                    got.extend(drain(framer))
                assert got == [payload] * 3
                assert framer.detected == Detected("zlib", protocol)


def test_codec_options_reach_the_detected_codec() -> None:
    framer = DetectingFramer(codec_options={"binary": {"strict_read": True}})
    framer.feed(STRICT)
    assert framer.next_message() == STRICT
    assert getattr(framer.message_codec, "strict_read", None) is True


def test_feed_after_detection_goes_to_the_inner_framer() -> None:
    framer = DetectingFramer()
    framer.feed(framed(COMPACT)[:7])
    assert framer.next_message() is None
    assert framer.detected == Detected("framed", "compact")
    assert framer.buffered == 7
    framer.feed(framed(COMPACT)[7:])
    assert framer.next_message() == COMPACT


# --- waiting: prefixes that must not decide anything yet ----------------------------------------

WAITING = [
    b"\x80",
    b"\x80\x01\x00",
    b"\x82",
    b"[1,",
    b"\x00",
    b"\x00\x00\x00",
    b"\x00\x00\x00\x04",  # a frame of 4 bytes can hold a compact message's signature
    b"\x00\x00\x00\x20",  # frame length or old-style name length: the next byte decides
    b"\x00\x00\x00\x20\x00\x00\x00",  # framed old-style binary, name length unread
    b"\x78",
    b"\x78\x9c",
    b"\x78\x01\x00\x11",  # inside the stored block's header
    b"\x00\x00\x00\x1f\x0f",  # half of the THeader magic
    b"\x00\x00\x00\x23\x00\x00\x00\x1f\x0f",  # framed twice, half of the magic
]


@pytest.mark.parametrize("prefix", WAITING, ids=[p.hex() for p in WAITING])
def test_waits_instead_of_guessing(prefix: bytes) -> None:
    for chunk in (len(prefix), 1):
        framer = DetectingFramer()
        for i in range(0, len(prefix), chunk):
            framer.feed(prefix[i : i + chunk])
            assert framer.next_message() is None
        assert framer.detected is None
        assert framer.buffered == len(prefix)


# --- refusals -----------------------------------------------------------------------------------

ONLY_BINARY_FRAMED = {"protocols": ["binary"], "transports": ["framed"]}
BUFFERED = {"transports": ["buffered"]}
NO_HEADER = {"protocols": ["binary", "compact", "json"]}
# (id, first bytes, constructor options, error type, words in the message, refused after N bytes)
REFUSALS = [
    (
        "http",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        {},
        RemoteProtocolError,
        ["47 45 54 20", "an HTTP request"],
        1,
    ),
    ("tls", b"\x16\x03\x01\x00\xa5\x01\x00", {}, RemoteProtocolError, ["TLS handshake"], 1),
    (
        "theader-not-accepted",
        bytes.fromhex("0000001c 0fff 0000 00000001 0001 0000"),
        NO_HEADER,
        RemoteProtocolError,
        ["00 00 00 1c 0f", "header over buffered", "accepts binary, compact, json over"],
        5,
    ),
    (
        "framed-theader-not-accepted",
        framed(HEADER),
        NO_HEADER,
        RemoteProtocolError,
        ["00 00 00 23 00", "header over framed"],
        8,  # the inner length is too long for an old-style name in this frame
    ),
    (
        "theader-frame-too-short",
        bytes.fromhex("00000009 0fff 0000 00000001"),
        {},
        RemoteProtocolError,
        ["00 00 00 09 0f", "not a Thrift message"],
        5,
    ),
    (
        "only-header-refuses-binary",
        STRICT,
        {"protocols": ["header"]},
        RemoteProtocolError,
        ["binary over buffered", "accepts header over buffered, framed, zlib"],
        1,
    ),
    (
        "huge-frame",
        bytes.fromhex("01000001 80010001"),
        {},
        LimitExceeded,
        ["16777217 bytes", "max_frame_size (16777216 bytes)"],
        4,
    ),
    (
        "huge-frame-first-byte",
        b"\x7f",
        {},
        LimitExceeded,
        ["at least 2130706432 bytes"],
        1,
    ),
    (
        "compact-not-accepted",
        COMPACT,
        ONLY_BINARY_FRAMED,
        RemoteProtocolError,
        ["82", "compact over buffered", "accepts binary over framed"],
        1,
    ),
    (
        "buffered-not-accepted",
        STRICT,
        ONLY_BINARY_FRAMED,
        RemoteProtocolError,
        ["80 01 00 01", "binary over buffered"],
        1,
    ),
    (
        "framed-not-accepted",
        framed(STRICT),
        BUFFERED,
        RemoteProtocolError,
        [
            "00 00 00 11 80",
            "binary over framed",
            "accepts binary, compact, json, header over buffered",
        ],
        5,
    ),
    (
        "json-not-accepted",
        framed(JSON),
        {"protocols": ["binary", "compact"]},
        RemoteProtocolError,
        ["json over framed"],
        5,
    ),
    (
        "zlib-not-accepted",
        stored_zlib(STRICT),
        {"transports": ["buffered", "framed"]},
        RemoteProtocolError,
        ["78 01", "over zlib"],
        1,
    ),
    (
        "old-style-refused",
        OLD,
        {"old_style": False},
        RemoteProtocolError,
        ["binary (old-style) over buffered", "binary (strict)"],
        4,
    ),
    (
        "bad-binary-version",
        bytes.fromhex("80020001"),
        {},
        RemoteProtocolError,
        ["80 02", "not a Thrift message"],
        2,
    ),
    (
        "compact-bad-version",
        bytes.fromhex("8222"),
        {},
        RemoteProtocolError,
        ["82 22"],
        2,
    ),
    (
        "empty-old-style-name",
        bytes.fromhex("00000000 01 00000007 00"),
        BUFFERED,
        RemoteProtocolError,
        ["00 00 00 00"],
        4,
    ),
    (
        "frame-too-small",
        bytes.fromhex("00000003 80 01 00"),
        {"transports": ["framed"]},
        RemoteProtocolError,
        ["00 00 00 03"],
        4,
    ),
    (
        "corrupt-zlib",
        bytes.fromhex("789c ffffffff"),
        {},
        RemoteProtocolError,
        ["78 9c ff"],
        3,
    ),
]
REFUSAL_IDS = [row[0] for row in REFUSALS]


@pytest.mark.parametrize(
    ("name", "wire", "options", "error", "words", "after"), REFUSALS, ids=REFUSAL_IDS
)
def test_refused_whole(
    name: str,
    wire: bytes,
    options: dict[str, object],
    error: type[Exception],
    words: list[str],
    after: int,
) -> None:
    framer = DetectingFramer(**options)  # type: ignore[arg-type]
    framer.feed(wire)
    with pytest.raises(error) as info:
        framer.next_message()
    for word in words:
        assert word in str(info.value)
    # The error sticks, and nothing is held for a refused connection.
    with pytest.raises(error):
        framer.next_message()
    framer.feed(b"more")
    assert framer.buffered == 0
    with pytest.raises(LocalProtocolError):
        framer.wrap(b"x")


@pytest.mark.parametrize(
    ("name", "wire", "options", "error", "words", "after"), REFUSALS, ids=REFUSAL_IDS
)
def test_refused_as_soon_as_certain(
    name: str,
    wire: bytes,
    options: dict[str, object],
    error: type[Exception],
    words: list[str],
    after: int,
) -> None:
    framer = DetectingFramer(**options)  # type: ignore[arg-type]
    for i in range(after - 1):
        framer.feed(wire[i : i + 1])
        assert framer.next_message() is None, f"refused after only {i + 1} bytes"
    framer.feed(wire[after - 1 : after])
    with pytest.raises(error):
        framer.next_message()


def test_huge_length_refused_before_buffering() -> None:
    limits = Limits(max_frame_size=100)
    framer = DetectingFramer(limits, transports=["framed"])
    framer.feed(bytes.fromhex("00000065"))  # 101
    with pytest.raises(LimitExceeded, match="101 bytes exceeds max_frame_size"):
        framer.next_message()
    ok = DetectingFramer(limits, transports=["framed"])
    ok.feed(framed(STRICT))
    assert ok.next_message() == STRICT


def test_old_style_name_longer_than_max_string_size_refused() -> None:
    limits = Limits(max_string_size=3)
    framer = DetectingFramer(limits, transports=["buffered"])
    framer.feed(OLD[:4])  # a 4-byte name
    with pytest.raises(RemoteProtocolError, match="00 00 00 04"):
        framer.next_message()


def test_json_prefix_as_frame_length_waits_for_fifth_byte() -> None:
    # With the largest allowed max_frame_size, '[1,"' is also a plausible frame length
    # (0x5b312c22): the byte after it (a name, not a message start) settles it.
    limits = Limits(max_frame_size=0x7FFFFFFF)
    framer = DetectingFramer(limits)
    framer.feed(JSON[:4])
    assert framer.next_message() is None and framer.detected is None
    framer.feed(JSON[4:])
    assert framer.next_message() == JSON
    assert framer.detected == Detected("buffered", "json")


def test_two_confirmed_candidates_are_refused_as_ambiguous() -> None:
    limits = Limits(max_frame_size=0x7FFFFFFF)
    framer = DetectingFramer(limits, protocols=["json"])
    framer.feed(b'[1,"[1,"')  # json named '[1,...', or a frame holding json
    with pytest.raises(RemoteProtocolError, match="ambiguous.*json over buffered or json over"):
        framer.next_message()


def test_undetectable_after_max_sniff() -> None:
    # A zlib stream of empty stored blocks never inflates to anything.
    framer = DetectingFramer()
    framer.feed(b"\x78\x01")
    empty_block = b"\x00\x00\x00\xff\xff"
    for _ in range(MAX_SNIFF // len(empty_block) - 1):
        framer.feed(empty_block)
        assert framer.next_message() is None
    framer.feed(empty_block * 2)
    with pytest.raises(RemoteProtocolError, match=f"within {MAX_SNIFF} bytes"):
        framer.next_message()


def test_finished_zlib_stream_before_a_message_refused() -> None:
    framer = DetectingFramer()
    framer.feed(zlib.compress(b"\x80"))
    with pytest.raises(RemoteProtocolError):
        framer.next_message()


def test_wrap_before_detection_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="not detected"):
        DetectingFramer().wrap(STRICT)


@pytest.mark.parametrize(
    "options",
    [
        {"protocols": ["thrift"]},
        {"protocols": []},
        {"transports": ["header"]},
        {"transports": "http"},
        {"protocols": ["binary"], "codec_options": {"compact": {}}},
        {"codec_options": {"header": {}}},
        {"protocols": ["binary"], "header_transforms": ["zlib"]},
        {"header_transforms": ["snappy"]},
    ],
)
def test_bad_configuration(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DetectingFramer(**options)  # type: ignore[arg-type]


def test_single_name_as_string_accepted() -> None:
    framer = DetectingFramer(protocols="compact", transports="framed")
    assert framer.accepts == "compact over framed"
