"""zlib transport: Apache TZlibTransport's wire format, bounded inflating, real sockets.

Wire facts under test (see docs/transports.md): each direction is one zlib stream (RFC 1950
header once, never finished), a sync flush (``00 00 ff ff``) after every message, and the
unframed protocol bytes inside. Apache's own TZlibTransport is the reference peer, driven with
its pure-Python protocols (its C-accelerated ones are known to lose data through zlib on
messages over ~4 KiB).
"""

from __future__ import annotations

import random
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import swordfish
from swordfish.aio import make_aio_client, make_aio_server, run
from swordfish.codec import get_codec
from swordfish.errors import LimitExceeded, RemoteProtocolError
from swordfish.framing import FramedFramer, ZlibFramer, make_framer
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException
from swordfish.protocol import Call, ClientConnection, ConnectionClosed, Reply, ServerConnection
from swordfish.protocol.events import NEED_DATA
from tests.codec.apache import protocol as apache_protocol
from tests.codec.apache import read_struct, write_struct
from tests.drivers.conftest import IDL, StoreHandler, closed_by_peer, raw_connect

MARK = b"\x00\x00\xff\xff"  # what a sync flush leaves at the end of the compressed data
PROTOCOLS = ("binary", "compact")


@pytest.fixture(scope="module")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


@pytest.fixture(params=PROTOCOLS)
def proto(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _drain(framer: Any) -> list[bytes]:
    out = []
    while (msg := framer.next_message()) is not None:
        out.append(msg)
    return out


def _exc_message(proto: str, text: str, seqid: int = 7) -> bytes:
    error = TApplicationException(text, 1)
    return get_codec(proto).encode_message("ping", MessageType.EXCEPTION, seqid, error)


def _text(n: int, seed: int = 1) -> str:
    """``n`` characters that compress only about 2:1, so big messages span many reads."""
    rng = random.Random(seed)
    return "".join(rng.choices("abcdefghijklmnop", k=n))


def _stream(*chunks: bytes, level: int = 6, finish: bool = False) -> bytes:
    """A zlib stream with a sync flush after each chunk (and Z_FINISH at the end if asked)."""
    c = zlib.compressobj(level)
    out = b"".join(c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH) for chunk in chunks)
    return out + (c.flush(zlib.Z_FINISH) if finish else b"")


# -- exact bytes --------------------------------------------------------------------------------

PING1 = b"\x80\x01\x00\x01\x00\x00\x00\x04ping\x00\x00\x00\x01\x00"  # binary CALL ping seqid 1
PING2 = b"\x80\x01\x00\x01\x00\x00\x00\x04ping\x00\x00\x00\x02\x00"
CPING = b"\x82\x21\x01\x04ping\x00"  # compact CALL ping seqid 1

# Level 0 stores instead of compressing, so the wire is fixed by RFC 1950/1951 alone:
# header 78 01; a stored block (00, LEN, ~LEN, data); the sync flush's empty stored block.
EXACT = [
    ("binary", [PING1], b"\x78\x01" + b"\x00\x11\x00\xee\xff" + PING1 + b"\x00" + MARK),
    (
        "binary",
        [PING1, PING2],
        b"\x78\x01"
        + (b"\x00\x11\x00\xee\xff" + PING1 + b"\x00" + MARK)
        + (b"\x00\x11\x00\xee\xff" + PING2 + b"\x00" + MARK),
    ),
    ("compact", [CPING], b"\x78\x01" + b"\x00\x09\x00\xf6\xff" + CPING + b"\x00" + MARK),
]


@pytest.mark.parametrize(("name", "payloads", "wire"), EXACT)
def test_wrap_exact_bytes_at_level_0(name: str, payloads: list[bytes], wire: bytes) -> None:
    framer = ZlibFramer(get_codec(name), level=0)
    assert b"".join(framer.wrap(p) for p in payloads) == wire


@pytest.mark.parametrize(("name", "payloads", "wire"), EXACT)
def test_read_exact_bytes_whole_and_one_byte_at_a_time(
    name: str, payloads: list[bytes], wire: bytes
) -> None:
    framer = ZlibFramer(get_codec(name))
    framer.feed(wire)
    assert _drain(framer) == payloads
    assert framer.buffered == 0

    framer = ZlibFramer(get_codec(name))
    got: list[bytes] = []
    for i in range(len(wire)):
        framer.feed(wire[i : i + 1])
        got.extend(_drain(framer))
        at_boundary = wire[: i + 1].endswith(MARK)
        assert (framer.buffered == 0) == at_boundary, i
    assert got == payloads


def test_one_stream_per_direction(proto: str) -> None:
    """Header once, a flush after every message, and each message decodable on arrival."""
    framer = ZlibFramer(get_codec(proto))
    m1, m2 = _exc_message(proto, "first", 1), _exc_message(proto, "second " * 50, 2)
    w1, w2 = framer.wrap(m1), framer.wrap(m2)
    cmf, flg = w1[0], w1[1]
    assert cmf == 0x78  # deflate, 32 KiB window
    assert (cmf * 256 + flg) % 31 == 0 and not flg & 0x20  # valid check bits, no dictionary
    assert w1.endswith(MARK) and w2.endswith(MARK)
    inflate = zlib.decompressobj()
    assert inflate.decompress(w1) == m1  # the flush makes m1 readable before m2 exists
    assert inflate.decompress(w2) == m2  # and m2 continues the same stream
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(w2)  # no header of its own: not a new stream


def test_make_framer_knows_zlib(proto: str) -> None:
    framer = make_framer("zlib", get_codec(proto))
    assert isinstance(framer, ZlibFramer)
    assert framer.name == "zlib"


@pytest.mark.parametrize("level", [-1, 10, True, 6.0])
def test_bad_level_is_refused(level: Any) -> None:
    with pytest.raises(ValueError, match="zlib level"):
        ZlibFramer(get_codec("binary"), level=level)


# -- reading ------------------------------------------------------------------------------------


def _messages(proto: str) -> list[bytes]:
    return [_exc_message(proto, _text(n, n), seqid) for seqid, n in enumerate((0, 1, 300, 70000))]


def test_many_messages_whole_and_byte_by_byte(proto: str) -> None:
    msgs = _messages(proto)
    writer = ZlibFramer(get_codec(proto))
    segments = [writer.wrap(m) for m in msgs]
    wire = b"".join(segments)
    assert len(wire) > 32768  # the 70 KB message compresses to more than one typical read

    reader = ZlibFramer(get_codec(proto))
    reader.feed(wire)
    assert _drain(reader) == msgs
    assert reader.buffered == 0

    reader = ZlibFramer(get_codec(proto))
    ends = {sum(len(s) for s in segments[: k + 1]) for k in range(len(segments))}
    got: list[bytes] = []
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        got.extend(_drain(reader))
        # A stop anywhere but at the end of a flush would read as truncated.
        assert (reader.buffered == 0) == (i + 1 in ends), i
    assert got == msgs


def test_several_messages_in_one_flush(proto: str) -> None:
    msgs = _messages(proto)[:3]
    reader = ZlibFramer(get_codec(proto))
    reader.feed(_stream(b"".join(msgs)))
    assert _drain(reader) == msgs
    assert reader.buffered == 0


def test_message_split_across_flushes(proto: str) -> None:
    msg = _exc_message(proto, "split me " * 40)
    wire = _stream(msg[:100], msg[100:])
    first = len(_stream(msg[:100]))
    reader = ZlibFramer(get_codec(proto))
    reader.feed(wire[:first])
    assert reader.next_message() is None
    assert reader.buffered == 100  # flushed, but only part of a message
    reader.feed(wire[first:])
    assert _drain(reader) == [msg]
    assert reader.buffered == 0


def test_empty_flush_is_no_message() -> None:
    reader = ZlibFramer(get_codec("binary"))
    reader.feed(_stream(b""))  # what a flush with nothing written puts on the wire
    assert reader.next_message() is None
    assert reader.buffered == 0


def test_finished_stream_is_a_clean_end(proto: str) -> None:
    """Apache's C++ TZlibTransport can end its stream with Z_FINISH (``finish()``)."""
    msgs = _messages(proto)[:2]
    reader = ZlibFramer(get_codec(proto))
    reader.feed(_stream(*msgs, finish=True))
    assert _drain(reader) == msgs
    assert reader.buffered == 0


def test_bytes_after_a_finished_stream_are_an_error() -> None:
    msg = _exc_message("binary", "last")
    reader = ZlibFramer(get_codec("binary"))
    reader.feed(_stream(msg, finish=True) + b"junk")
    assert reader.next_message() == msg  # what came before the end is still delivered
    with pytest.raises(RemoteProtocolError, match="4 bytes after the end of the zlib stream"):
        reader.next_message()


# -- hostile and broken input -------------------------------------------------------------------

CORRUPT = [
    (b"\xff" * 16, "incorrect header check"),
    (b"\x78\x9c\x07", "invalid block type"),  # BTYPE 11 is reserved
    (b"\x78\x9c\x00\x05\x00\x00\x00", "invalid stored block lengths"),  # NLEN != ~LEN
    (b"\x78\x9d", "incorrect header check"),  # check bits wrong
    (b"\x79\x9c", "incorrect header check"),  # not deflate (CM 9)
]


@pytest.mark.parametrize(("wire", "why"), CORRUPT)
def test_corrupt_stream_is_a_remote_protocol_error(wire: bytes, why: str) -> None:
    reader = ZlibFramer(get_codec("binary"))
    reader.feed(wire)
    with pytest.raises(RemoteProtocolError, match=f"corrupt zlib stream: .*{why}") as info:
        reader.next_message()
    assert not isinstance(info.value, zlib.error)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(RemoteProtocolError) as again:
        reader.next_message()  # the stream cannot recover: the same error, every time
    assert again.value is info.value


def test_corrupt_stream_moves_the_engine_to_error(store: ModuleType) -> None:
    codec = get_codec("binary")
    conn = ServerConnection(store.Store.__thrift_service__, codec, ZlibFramer(codec))
    conn.receive_data(b"\x78\x9c\x07garbage")
    with pytest.raises(RemoteProtocolError, match="corrupt zlib stream"):
        conn.next_event()
    assert conn.state.value == "error"


def test_valid_zlib_around_invalid_thrift_is_refused() -> None:
    reader = ZlibFramer(get_codec("binary"))
    reader.feed(_stream(b"\x80\x02\x00\x01" + b"\x00" * 16))  # wrong binary version
    with pytest.raises(RemoteProtocolError):
        reader.next_message()


def test_truncated_anywhere_is_closed_mid_message(store: ModuleType, proto: str) -> None:
    spec = store.Store.__thrift_service__
    codec = get_codec(proto)
    client = ClientConnection(spec, codec, ZlibFramer(codec))
    wire = client.send_call("echo", spec.methods["echo"].args(text="hello " * 30))[1]
    for cut in range(1, len(wire) + 1):
        server = ServerConnection(spec, codec, ZlibFramer(codec))
        server.receive_data(wire[:cut])
        events = []
        while (event := server.next_event()) is not NEED_DATA:
            events.append(event)
        server.receive_data(b"")
        if cut < len(wire):
            # The call itself may already be whole (only the flush marker is missing), but
            # the peer stopped inside a flush: that is a truncated stream, not a clean close.
            with pytest.raises(RemoteProtocolError, match="closed in the middle of a message"):
                server.next_event()
        else:
            assert [type(e) for e in events] == [Call]
            assert isinstance(server.next_event(), ConnectionClosed)


def test_message_over_max_frame_size_is_refused(proto: str) -> None:
    limits = Limits(max_frame_size=4096)
    msg = _exc_message(proto, _text(5000))
    reader = ZlibFramer(get_codec(proto, limits), limits)
    reader.feed(_stream(msg))
    with pytest.raises(LimitExceeded, match="max_frame_size"):
        reader.next_message()


def test_whole_message_just_over_max_frame_size_is_refused(proto: str) -> None:
    """Arriving complete in one flush does not let a message past the framer's limit, even
    with a codec built with looser limits (whose scan would accept it)."""
    msg = _exc_message(proto, _text(4000))
    limits = Limits(max_frame_size=len(msg) - 1)
    reader = ZlibFramer(get_codec(proto), limits)
    reader.feed(_stream(msg))
    with pytest.raises(LimitExceeded, match=f"message of {len(msg)} bytes exceeds"):
        reader.next_message()


def test_message_exactly_at_max_frame_size_is_accepted(proto: str) -> None:
    msg = _exc_message(proto, _text(4000))
    limits = Limits(max_frame_size=len(msg))
    reader = ZlibFramer(get_codec(proto, limits), limits)
    reader.feed(_stream(msg))
    assert _drain(reader) == [msg]


def _zeros_bomb(prefix: bytes, mib: int) -> bytes:
    """``prefix`` then ``mib`` MiB of zeros, compressed ~1000:1 (deflate's limit is ~1032:1).

    After a full flush the compressor starts afresh, so compressing the same MiB again gives
    the same bytes: the bomb is that chunk repeated, built in milliseconds.
    """
    c = zlib.compressobj(9)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(1 << 20)
    chunk = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == chunk
    return head + chunk * mib


def _bomb_prefix(length: int) -> bytes:
    """A binary EXCEPTION message whose string field announces ``length`` bytes (within
    max_string_size): with zeros after it, the message ends only after ``length`` zeros."""
    return b"\x80\x01\x00\x03\x00\x00\x00\x04ping\x00\x00\x00\x01\x0b\x00\x01" + length.to_bytes(
        4, "big"
    )


def test_zlib_bomb_is_refused_after_bounded_inflating() -> None:
    prefix = _bomb_prefix(8 << 20)
    bomb = _zeros_bomb(prefix, 1024)  # 1 GiB once inflated
    assert len(bomb) < 1_100_000
    assert zlib.decompressobj().decompress(bomb[:4096], 1 << 30).startswith(prefix)
    limits = Limits(max_frame_size=1 << 20)
    reader = ZlibFramer(get_codec("binary", limits), limits)
    tracemalloc.start()
    try:
        reader.feed(bomb)
        with pytest.raises(LimitExceeded, match="max_frame_size"):
            reader.next_message()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Inflating it all would take 1 GiB; the framer stops after max_frame_size and change.
    assert peak < 4 * (1 << 20) + 2 * len(bomb), peak
    assert reader.buffered <= (1 << 20) + 16 + len(bomb)


def test_bomb_of_valid_messages_is_inflated_in_bounded_steps() -> None:
    """64 MiB of valid 1 MiB messages from ~70 KB: each is inflated only when asked for."""
    msg = _exc_message("binary", "a" * (1 << 20))
    c = zlib.compressobj(9)
    head = c.flush(zlib.Z_FULL_FLUSH)  # the zlib header (and an empty block)
    chunk = c.compress(msg) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(msg) + c.flush(zlib.Z_FULL_FLUSH) == chunk
    wire = head + chunk * 64
    assert len(wire) < 200_000
    limits = Limits(max_frame_size=2 << 20)
    reader = ZlibFramer(get_codec("binary", limits), limits)
    reader.feed(wire)
    count = 0
    tracemalloc.start()
    try:
        while (got := reader.next_message()) is not None:
            assert got == msg
            count += 1
            del got
            assert reader.buffered <= (2 << 20) + 16 + len(wire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 64
    assert reader.buffered == 0
    assert peak < 12 * (1 << 20), peak  # a few messages' worth, not 64 of them


def test_output_bound_never_strands_a_message(proto: str) -> None:
    """Whatever max_frame_size cuts the inflate output at, and wherever the input stops,
    every message zlib can already produce comes out (zlib may hold the rest of a match
    with no input left; the framer asks for it)."""
    msg = _exc_message(proto, "a" * 600)
    wire = _stream(msg * 3)  # identical messages: long matches span message boundaries
    for cut in range(len(wire) - 8, len(wire) + 1):
        ready = len(zlib.decompressobj().decompress(wire[:cut])) // len(msg)
        for limit in range(len(msg), 3 * len(msg)):
            limits = Limits(max_frame_size=limit)
            reader = ZlibFramer(get_codec(proto, limits), limits)
            reader.feed(wire[:cut])
            assert _drain(reader) == [msg] * ready, (cut, limit)


# -- Apache's TZlibTransport --------------------------------------------------------------------


@pytest.fixture(scope="module")
def apache(require: Any) -> SimpleNamespace:
    thrift = require.module("thrift")
    from thrift.transport import TSocket, TTransport, TZlibTransport

    return SimpleNamespace(
        thrift=thrift,
        TMemoryBuffer=TTransport.TMemoryBuffer,
        TTransportException=TTransport.TTransportException,
        TZlibTransport=TZlibTransport.TZlibTransport,
        TFramedTransport=TTransport.TFramedTransport,
        TSocket=TSocket.TSocket,
        TServerSocket=TSocket.TServerSocket,
    )


def _calls(store: ModuleType) -> list[tuple[str, int, Any]]:
    """(method, seqid, args) for calls of many shapes, one over 64 KiB."""
    spec = store.Store.__thrift_service__
    shape = store.Shape(
        name="poly",
        points=[store.Point(x=i, y=-i) for i in range(50)],
        tags={"a": 1, "b": -(2**63)},
        ids={1, 2, 3},
        blob=bytes(range(256)),
        weight=2.5,
        filled=True,
        tiny=-128,
    )
    return [
        ("ping", 1, spec.methods["ping"].args()),
        ("add", 2, spec.methods["add"].args(a=2, b=-3)),
        ("roundtrip", 3, spec.methods["roundtrip"].args(shape=shape)),
        ("echo", 4, spec.methods["echo"].args(text=_text(100_000) + "é✓")),
        ("echo_binary", 5, spec.methods["echo_binary"].args(data=bytes(70_000))),
        ("echo", 6, spec.methods["echo"].args(text="small again")),
    ]


def _apache_write(apache: SimpleNamespace, proto: str, calls: list[Any]) -> tuple[bytes, list[int]]:
    """Apache writes and flushes each call; returns the wire and where each flush ended."""
    mem = apache.TMemoryBuffer()
    ztrans = apache.TZlibTransport(mem)
    p = apache_protocol(apache.thrift, proto, ztrans)
    ends = []
    for name, seqid, args in calls:
        p.writeMessageBegin(name, int(MessageType.CALL), seqid)
        write_struct(p, args)
        p.writeMessageEnd()
        ztrans.flush()  # what generated Apache clients do after each call
        ends.append(len(mem.getvalue()))
    return bytes(mem.getvalue()), ends


def test_apache_bytes_are_read(apache: SimpleNamespace, store: ModuleType, proto: str) -> None:
    calls = _calls(store)
    wire, ends = _apache_write(apache, proto, calls)
    assert wire[:2] == b"\x78\xda"  # Apache compresses at level 9 by default
    assert all(wire[:end].endswith(MARK) for end in ends)
    codec = get_codec(proto)
    spec = store.Store.__thrift_service__

    def check(payloads: list[bytes]) -> None:
        assert len(payloads) == len(calls)
        for payload, (name, seqid, args) in zip(payloads, calls, strict=True):
            assert payload == codec.encode_message(name, MessageType.CALL, seqid, args)
            got = codec.decode_message(payload, lambda n, t: spec.methods[n].args)
            assert (got.name, got.mtype, got.seqid, got.body) == (
                name,
                MessageType.CALL,
                seqid,
                args,
            )

    reader = ZlibFramer(codec)
    reader.feed(wire)
    check(_drain(reader))
    assert reader.buffered == 0

    reader = ZlibFramer(codec)
    got: list[bytes] = []
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        got.extend(_drain(reader))
        assert (reader.buffered == 0) == (i + 1 in ends), i
    check(got)


def test_our_bytes_are_read_by_apache(
    apache: SimpleNamespace, store: ModuleType, proto: str
) -> None:
    calls = _calls(store)
    codec = get_codec(proto)
    spec = store.Store.__thrift_service__
    writer = ZlibFramer(codec)
    wire = b"".join(
        writer.wrap(codec.encode_message(name, MessageType.CALL, seqid, args))
        for name, seqid, args in calls
    )
    ztrans = apache.TZlibTransport(apache.TMemoryBuffer(wire))
    p = apache_protocol(apache.thrift, proto, ztrans)
    for name, seqid, args in calls:
        assert p.readMessageBegin() == (name, int(MessageType.CALL), seqid)
        assert read_struct(p, spec.methods[name].args) == args
        p.readMessageEnd()


def test_level_9_is_byte_identical_to_apache(
    apache: SimpleNamespace, store: ModuleType, proto: str
) -> None:
    calls = _calls(store)
    wire, _ = _apache_write(apache, proto, calls)
    codec = get_codec(proto)
    writer = ZlibFramer(codec, level=9)
    ours = b"".join(
        writer.wrap(codec.encode_message(name, MessageType.CALL, seqid, args))
        for name, seqid, args in calls
    )
    assert ours == wire


def test_framed_inside_zlib_with_apache(apache: SimpleNamespace, store: ModuleType) -> None:
    """Not a registered transport, but the framer composes: Apache's
    TFramedTransport(TZlibTransport(t)) puts frames inside the zlib stream."""
    calls = _calls(store)[:4]
    codec = get_codec("binary")
    mem = apache.TMemoryBuffer()
    framed = apache.TFramedTransport(apache.TZlibTransport(mem))
    p = apache_protocol(apache.thrift, "binary", framed)
    for name, seqid, args in calls:
        p.writeMessageBegin(name, int(MessageType.CALL), seqid)
        write_struct(p, args)
        p.writeMessageEnd()
        framed.flush()
    expected = [codec.encode_message(n, MessageType.CALL, s, a) for n, s, a in calls]
    reader = ZlibFramer(codec, inner=FramedFramer())
    reader.feed(bytes(mem.getvalue()))
    assert _drain(reader) == expected
    writer = ZlibFramer(codec, inner=FramedFramer())
    wire = b"".join(writer.wrap(m) for m in expected)
    back = apache.TFramedTransport(apache.TZlibTransport(apache.TMemoryBuffer(wire)))
    for m in expected:
        assert back.read(len(m)) == m  # one frame, whole


def test_apache_caps_inflated_bytes_per_connection(apache: SimpleNamespace) -> None:
    """Peer fact for docs/transports.md: Apache's Python TZlibTransport counts every byte it
    inflates over the life of the connection against ``max_decompressed_size`` (default
    16,384,000), so it refuses a long-lived stream, not just one big message."""
    msg = _exc_message("binary", "z" * 30_000)
    writer = ZlibFramer(get_codec("binary"))
    wire = b"".join(writer.wrap(msg) for _ in range(4))
    ztrans = apache.TZlibTransport(apache.TMemoryBuffer(wire), 9, 100_000)
    with pytest.raises(apache.TTransportException, match="exceeds maximum allowed size"):
        ztrans.readAll(len(msg) * 4)  # 120,064 bytes in four messages: over 100,000 in all
    fresh = apache.TZlibTransport(apache.TMemoryBuffer(wire), 9, 200_000)
    assert fresh.readAll(len(msg) * 4) == msg * 4


# -- real sockets: both drivers, and Apache's socket-level objects ------------------------------


def _exercise_sync(c: Any, store: ModuleType) -> None:
    assert c.ping() is None
    assert c.add(2, 3) == 5
    big = _text(1_000_000)  # many reads, many inflate steps
    assert c.echo(big) == big
    assert c.echo_binary(bytes(300_000)) == bytes(300_000)
    assert [s.name for s in c.many(200)][-1] == "s199"
    with pytest.raises(store.NotFound):
        c.get("missing")
    assert c.add(40, 2) == 42  # the streams stayed in step after all of that


async def _exercise_aio(c: Any, store: ModuleType) -> None:
    import asyncio

    assert await c.ping() is None
    # Pipelined: the server answers in turn on one stream per direction.
    assert await asyncio.gather(*(c.add(i, i) for i in range(30))) == [2 * i for i in range(30)]
    big = _text(1_000_000)
    assert await c.echo(big) == big
    with pytest.raises(store.Invalid):
        await c.get("bad")
    assert await c.add(40, 2) == 42


@pytest.fixture
def sync_server(store: ModuleType, proto: str) -> Iterator[Any]:
    server = swordfish.make_server(
        store.Store, StoreHandler(store), port=0, protocol=proto, transport="zlib", model="threaded"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=2)


def test_sync_client_and_aio_client_against_sync_server(
    store: ModuleType, proto: str, sync_server: Any
) -> None:
    with swordfish.make_client(
        store.Store, port=sync_server.port, protocol=proto, transport="zlib", timeout=10
    ) as c:
        _exercise_sync(c, store)

    async def main() -> None:
        c = await make_aio_client(
            store.Store, port=sync_server.port, protocol=proto, transport="zlib", timeout=10
        )
        try:
            await _exercise_aio(c, store)
        finally:
            await c.close()

    run(main())


def test_sync_client_and_aio_client_against_aio_server(store: ModuleType, proto: str) -> None:
    import asyncio

    async def main() -> None:
        server = await make_aio_server(
            store.Store, StoreHandler(store), port=0, protocol=proto, transport="zlib"
        )
        try:
            c = await make_aio_client(
                store.Store, port=server.port, protocol=proto, transport="zlib", timeout=10
            )
            try:
                await _exercise_aio(c, store)
            finally:
                await c.close()

            def sync_side() -> None:
                with swordfish.make_client(
                    store.Store, port=server.port, protocol=proto, transport="zlib", timeout=10
                ) as sc:
                    _exercise_sync(sc, store)

            await asyncio.to_thread(sync_side)
        finally:
            await server.stop()

    run(main())


def _raw_round_trip(port: int, store: ModuleType, proto: str) -> None:
    """Two pipelined calls in one write; the replies must be zlib on the wire."""
    spec = store.Store.__thrift_service__
    codec = get_codec(proto)
    conn = ClientConnection(spec, codec, ZlibFramer(codec))
    data = conn.send_call("add", spec.methods["add"].args(a=1, b=2))[1]
    data += conn.send_call("echo", spec.methods["echo"].args(text="zlib " * 1000))[1]
    sock = raw_connect(port)
    try:
        sock.sendall(data)
        received = b""
        results: list[Any] = []
        while len(results) < 2:
            chunk = sock.recv(65536)
            assert chunk, "server closed early"
            received += chunk
            conn.receive_data(chunk)
            while isinstance(event := conn.next_event(), Reply):
                results.append(event.result.success)
        assert results == [3, "zlib " * 1000]
        assert received[:1] == b"\x78" and received.endswith(MARK)
        assert len(received) < 1000  # 5 KB of text went back compressed
        inflate = zlib.decompressobj()
        assert inflate.decompress(received).startswith(
            codec.encode_message("add", MessageType.REPLY, 1, spec.methods["add"].result(success=3))
        )
        # A bomb (48 MiB of zeros behind a 16 MiB string, over the default max_frame_size)
        # gets its connection closed; the server lives on.
        bomb_sock = raw_connect(port)
        try:
            try:
                bomb_sock.sendall(_zeros_bomb(_bomb_prefix(16 << 20), 48))
            except OSError:
                pass  # closed while we were still sending: that is the point
            assert closed_by_peer(bomb_sock)
        finally:
            bomb_sock.close()
        with swordfish.make_client(
            store.Store, port=port, protocol=proto, transport="zlib", timeout=10
        ) as c:
            assert c.add(1, 1) == 2
    finally:
        sock.close()


def test_servers_speak_zlib_on_the_wire(store: ModuleType, proto: str, sync_server: Any) -> None:
    _raw_round_trip(sync_server.port, store, proto)

    async def main() -> None:
        import asyncio

        server = await make_aio_server(
            store.Store, StoreHandler(store), port=0, protocol=proto, transport="zlib"
        )
        try:
            await asyncio.to_thread(_raw_round_trip, server.port, store, proto)
        finally:
            await server.stop()

    run(main())


def _apache_client_session(
    apache: SimpleNamespace, port: int, store: ModuleType, proto: str
) -> None:
    """Apache's TSocket + TZlibTransport + pure protocol, writing calls by hand; the replies
    are checked byte for byte against what Swordfish's codec encodes for them."""
    spec = store.Store.__thrift_service__
    codec = get_codec(proto)
    sock = apache.TSocket("127.0.0.1", port)
    sock.setTimeout(10_000)
    ztrans = apache.TZlibTransport(sock)
    ztrans.open()
    p = apache_protocol(apache.thrift, proto, ztrans)
    big = _text(200_000)
    handler = StoreHandler(store)
    try:
        for seqid, (name, kwargs) in enumerate(
            [
                ("add", {"a": 2, "b": 3}),
                ("echo", {"text": big}),
                ("many", {"n": 40}),
                ("echo", {"text": "after"}),
            ],
            start=1,
        ):
            method = spec.methods[name]
            p.writeMessageBegin(name, int(MessageType.CALL), seqid)
            write_struct(p, method.args(**kwargs))
            p.writeMessageEnd()
            ztrans.flush()
            result = method.result(success=getattr(handler, name)(**kwargs))
            expected = codec.encode_message(name, MessageType.REPLY, seqid, result)
            assert ztrans.readAll(len(expected)) == expected
        # And once through Apache's own decoding, for a struct-valued reply.
        shape = store.Shape(name="s", points=[store.Point(x=1, y=2)], ids={7})
        p.writeMessageBegin("roundtrip", int(MessageType.CALL), 99)
        write_struct(p, spec.methods["roundtrip"].args(shape=shape))
        p.writeMessageEnd()
        ztrans.flush()
        assert p.readMessageBegin() == ("roundtrip", int(MessageType.REPLY), 99)
        assert read_struct(p, spec.methods["roundtrip"].result).success == shape
        p.readMessageEnd()
    finally:
        ztrans.close()


def test_apache_zlib_client_against_our_servers(
    apache: SimpleNamespace, store: ModuleType, proto: str, sync_server: Any
) -> None:
    _apache_client_session(apache, sync_server.port, store, proto)

    async def main() -> None:
        import asyncio

        server = await make_aio_server(
            store.Store, StoreHandler(store), port=0, protocol=proto, transport="zlib"
        )
        try:
            await asyncio.to_thread(_apache_client_session, apache, server.port, store, proto)
        finally:
            await server.stop()

    run(main())


class ApacheZlibServer:
    """Apache's server-side objects by hand: TServerSocket, TZlibTransport on each accepted
    socket (what TZlibTransportFactory gives a TSimpleServer) and a pure-Python protocol.
    The processor is a few lines reading args and writing results through Apache's protocol
    API; it serves ``connections`` connections one after another, then stops."""

    def __init__(
        self, apache: SimpleNamespace, store: ModuleType, proto: str, connections: int
    ) -> None:
        self.apache, self.store, self.proto = apache, store, proto
        self.handler = StoreHandler(store)
        self.listener = apache.TServerSocket(host="127.0.0.1", port=0)
        self.listener.listen()
        self.port: int = self.listener.handle.getsockname()[1]
        self.errors: list[BaseException] = []
        self.served = 0
        self.thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self.thread.start()

    def _serve(self, connections: int) -> None:
        apache, spec = self.apache, self.store.Store.__thrift_service__
        try:
            for _ in range(connections):
                client = self.listener.accept()
                client.setTimeout(10_000)
                ztrans = apache.TZlibTransport(client)
                p = apache_protocol(apache.thrift, self.proto, ztrans)
                try:
                    while True:
                        try:
                            name, _, seqid = p.readMessageBegin()
                        except apache.TTransportException:
                            break  # the client hung up between calls
                        method = spec.methods[name]
                        args = read_struct(p, method.args)
                        p.readMessageEnd()
                        kwargs = {n: getattr(args, n) for n in method.args._sf_names}
                        result = method.result(success=getattr(self.handler, name)(**kwargs))
                        p.writeMessageBegin(name, int(MessageType.REPLY), seqid)
                        write_struct(p, result)
                        p.writeMessageEnd()
                        ztrans.flush()
                        self.served += 1
                finally:
                    client.close()
        except BaseException as exc:  # reported by stop(), in the test's thread
            self.errors.append(exc)

    def stop(self) -> None:
        self.thread.join(10)
        alive = self.thread.is_alive()
        if alive:  # wake a blocked accept()
            self.listener.handle.shutdown(socket.SHUT_RDWR)
            self.thread.join(5)
        self.listener.close()
        assert not alive, "the Apache server did not finish its connections"
        assert not self.errors, self.errors


def test_our_clients_against_apache_zlib_server(
    apache: SimpleNamespace, store: ModuleType, proto: str
) -> None:
    server = ApacheZlibServer(apache, store, proto, connections=2)
    try:
        with swordfish.make_client(
            store.Store, port=server.port, protocol=proto, transport="zlib", timeout=10
        ) as c:
            assert c.add(2, 3) == 5
            big = _text(300_000)
            assert c.echo(big) == big
            assert len(c.many(100)) == 100
            assert c.echo("after") == "after"

        async def main() -> None:
            ac = await make_aio_client(
                store.Store, port=server.port, protocol=proto, transport="zlib", timeout=10
            )
            try:
                assert await ac.add(20, 22) == 42
                assert await ac.echo(big) == big
            finally:
                await ac.close()

        run(main())
    finally:
        server.stop()
    assert server.served == 6
