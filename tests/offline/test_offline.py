"""swordfish.offline: memory buffers and record files, exact bytes, Apache interop both ways.

Apache's side is code generated at test time by the ``thrift`` compiler (``Point.write(proto)``,
``Point.read(proto)``) over Apache's own TMemoryBuffer / TFramedTransport /
TFileObjectTransport, so agreement is not our codec agreeing with itself.
"""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from swordfish.codec import get_codec
from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.idl.loader import loads as load_idl
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException
from swordfish.offline import MemoryBuffer, RecordReader, RecordWriter, body_resolver

IDL = """\
namespace py sf_offline_gen

struct Point {
  1: i32 x,
  2: i32 y,
  3: string label,
  4: list<i64> tags,
  5: binary blob,
}

service Recorder {
  void record(1: Point p),
  i32 count(1: string label),
}
"""

PROTOCOLS = ("binary", "compact", "json")
TRANSPORTS = ("buffered", "framed", "zlib")

# TApplicationException(message="hi", type=1) as a bare struct.
HI_BINARY = bytes.fromhex("0b 0001 00000002 6869 08 0002 00000001 00")
HI_COMPACT = bytes.fromhex("18 02 6869 15 02 00")
HI_JSON = b'{"1":{"str":"hi"},"2":{"i32":1}}'
# ... and as the body of a call "ping", seqid 7.
PING_BINARY = bytes.fromhex("80010001 00000004") + b"ping" + bytes.fromhex("00000007") + HI_BINARY
PING_COMPACT = bytes.fromhex("82 21 07 04") + b"ping" + HI_COMPACT
PING_JSON = b'[1,"ping",1,7,' + HI_JSON + b"]"
HI = {"binary": HI_BINARY, "compact": HI_COMPACT, "json": HI_JSON}
PING = {"binary": PING_BINARY, "compact": PING_COMPACT, "json": PING_JSON}


def hi() -> TApplicationException:
    return TApplicationException("hi", 1)


def framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


# --- exact bytes -------------------------------------------------------------------------------

EXACT = [
    (proto, transport, kind)
    for proto in PROTOCOLS
    for transport in ("buffered", "framed")
    for kind in ("struct", "message")
]


@pytest.mark.parametrize(("proto", "transport", "kind"), EXACT)
def test_exact_bytes_written_and_read(proto: str, transport: str, kind: str) -> None:
    one = HI[proto] if kind == "struct" else PING[proto]
    record = framed(one) if transport == "framed" else one
    buf = MemoryBuffer(protocol=proto, transport=transport)
    for _ in range(2 if (proto, transport, kind) != ("json", "buffered", "struct") else 1):
        if kind == "struct":
            buf.write_struct(hi())
        else:
            buf.write_message("ping", MessageType.CALL, 7, hi())
    count = len(buf.getvalue()) // len(record)
    assert buf.getvalue() == record * count
    for chunks in ("whole", "grown"):
        if chunks == "whole":
            reader = MemoryBuffer(record * count, protocol=proto, transport=transport)
        else:  # written into the same buffer a piece at a time while reading
            reader = MemoryBuffer(protocol=proto, transport=transport)
        got: list[Any] = []
        if kind == "struct":
            if chunks == "grown":
                reader.write_struct(hi())
                got.append(reader.read_struct(TApplicationException))
                for _ in range(count - 1):
                    reader.write_struct(hi())
            got.extend(reader.structs(TApplicationException))
            assert got == [hi()] * count
        else:
            if chunks == "grown":
                reader.write_message("ping", MessageType.CALL, 7, hi())
                got.append(reader.read_message(lambda n, t: TApplicationException))
                for _ in range(count - 1):
                    reader.write_message("ping", MessageType.CALL, 7, hi())
            got.extend(reader.messages(lambda n, t: TApplicationException))
            assert [(m.name, m.mtype, m.seqid, m.body) for m in got] == [
                ("ping", MessageType.CALL, 7, hi())
            ] * count
        assert reader.remaining == 0


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_round_trip_every_protocol_and_transport(proto: str, transport: str) -> None:
    items = [TApplicationException("x" * n, n % 7) for n in (0, 1, 300, 70_000)]
    kinds = ["message"] if (proto, transport) == ("json", "zlib") else ["struct", "message"]
    for kind in kinds:
        buf = MemoryBuffer(protocol=proto, transport=transport)
        single = proto == "json" and transport == "buffered" and kind == "struct"
        for i, item in enumerate(items[-1:] if single else items):
            if kind == "struct":
                buf.write_struct(item)
            else:
                buf.write_message("m", MessageType.ONEWAY, i, item)
        reader = MemoryBuffer(buf.getvalue(), protocol=proto, transport=transport)
        if kind == "struct":
            assert list(reader.structs(TApplicationException)) == (items[-1:] if single else items)
        else:
            assert [m.body for m in reader.messages(lambda n, t: TApplicationException)] == items
        with pytest.raises(EOFError):
            reader.read_message() if kind == "message" else reader.read_struct(
                TApplicationException
            )


def test_framed_buffer_mixes_structs_and_messages() -> None:
    buf = MemoryBuffer(protocol="compact", transport="framed")
    buf.write_struct(hi())
    buf.write_message("ping", MessageType.CALL, 7, hi())
    assert buf.getvalue() == framed(HI_COMPACT) + framed(PING_COMPACT)
    assert buf.read_struct(TApplicationException) == hi()
    assert buf.read_message().name == "ping"


def test_unframed_buffer_refuses_to_mix() -> None:
    buf = MemoryBuffer(PING_BINARY + HI_BINARY)
    assert buf.read_message().seqid == 7
    with pytest.raises(LocalProtocolError, match="cannot be mixed"):
        buf.read_struct(TApplicationException)


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_truncated_buffer(transport: str) -> None:
    data = HI_BINARY * 2 if transport == "buffered" else framed(HI_BINARY) * 2
    buf = MemoryBuffer(data[:-3], transport=transport)
    assert buf.read_struct(TApplicationException) == hi()
    with pytest.raises(RemoteProtocolError, match="truncated struct"):
        buf.read_struct(TApplicationException)


def test_old_style_binary_codec_instance() -> None:
    buf = MemoryBuffer(protocol=get_codec("binary", strict_write=False))
    buf.write_message("ping", MessageType.CALL, 7, hi())
    assert buf.getvalue() == bytes.fromhex("00000004") + b"ping" + b"\x01\x00\x00\x00\x07" + (
        HI_BINARY
    )
    assert buf.read_message(lambda n, t: TApplicationException).body == hi()


def test_zlib_buffer_given_data_takes_no_writes() -> None:
    first = MemoryBuffer(transport="zlib")
    first.write_struct(hi())
    again = MemoryBuffer(first.getvalue(), transport="zlib")
    assert again.read_struct(TApplicationException) == hi()
    with pytest.raises(LocalProtocolError, match="zlib"):
        again.write_struct(hi())


def test_struct_limits_apply_to_bare_structs() -> None:
    limits = Limits(max_frame_size=100)
    buf = MemoryBuffer(protocol="compact", limits=limits)
    big = TApplicationException("x" * 200, 1)
    buf2 = MemoryBuffer(protocol="compact")
    buf2.write_struct(big)
    reader = MemoryBuffer(buf2.getvalue(), protocol="compact", limits=limits)
    with pytest.raises(LimitExceeded):
        reader.read_struct(TApplicationException)
    assert buf.limits is limits


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="transport"):
        MemoryBuffer(transport="header")
    with pytest.raises(ValueError, match="protocol"):
        MemoryBuffer(protocol="xml")
    with pytest.raises(ValueError, match="limits given twice"):
        MemoryBuffer(protocol=get_codec("binary"), limits=Limits(max_frame_size=10))
    with pytest.raises(TypeError, match="not a Thrift service"):
        body_resolver(int)


# --- record files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorder() -> ModuleType:
    return load_idl(IDL, "recorder")


def test_records_round_trip_by_path(tmp_path: Path, recorder: ModuleType) -> None:
    path = tmp_path / "calls.log"
    points = [
        recorder.Point(x=i, y=-i, label=f"p{i}", tags=[i, i * 2], blob=b"\x00" * i)
        for i in range(5)
    ]
    with RecordWriter(path, protocol="compact") as log:
        for seqid, p in enumerate(points):
            log.write_message("record", MessageType.CALL, seqid, recorder.Recorder.record_args(p=p))
    with RecordWriter(path, protocol="compact") as log:  # appending keeps what was there
        log.write_message(
            "Recorder:count", MessageType.CALL, 99, recorder.Recorder.count_args("p1")
        )
    reader = RecordReader(path, protocol="compact")
    got = list(reader.messages(recorder.Recorder))
    assert [m.body.p for m in got[:-1]] == points
    assert (got[-1].name, got[-1].seqid, got[-1].body.label) == ("Recorder:count", 99, "p1")
    assert reader.end_offset == path.stat().st_size
    # The bytes are frames: each record is its length and the codec's encoding.
    raw = list(RecordReader(path))
    assert path.read_bytes() == b"".join(framed(r) for r in raw)
    assert raw[0] == get_codec("compact").encode_message(
        "record", MessageType.CALL, 0, recorder.Recorder.record_args(p=points[0])
    )


def test_records_by_file_object_and_structs(recorder: ModuleType) -> None:
    f = io.BytesIO()
    writer = RecordWriter(f, protocol="json")
    for i in range(3):
        writer.write_struct(recorder.Point(x=i))
    writer.close()
    assert not f.closed  # not ours to close
    f.seek(0)
    assert [p.x for p in RecordReader(f, protocol="json").structs(recorder.Point)] == [0, 1, 2]


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 10])
def test_truncated_last_record(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "log"
    with RecordWriter(path) as log:
        for _ in range(3):
            log.write_struct(hi())
    whole = path.read_bytes()
    path.write_bytes(whole[:-cut])
    record = len(whole) // 3
    reader = RecordReader(path)
    got = []
    with pytest.raises(RemoteProtocolError, match=f"truncated record at offset {2 * record}"):
        for s in reader.structs(TApplicationException):
            got.append(s)
    assert got == [hi(), hi()]
    stopping = RecordReader(path, truncated="stop")
    assert list(stopping.structs(TApplicationException)) == [hi(), hi()]
    assert stopping.end_offset == 2 * record
    # Recovery: cut the partial record off and keep appending.
    with open(path, "r+b") as f:
        f.truncate(stopping.end_offset)
    with RecordWriter(path) as log:
        log.write_struct(hi())
    assert len(list(RecordReader(path))) == 3


def test_huge_length_refused_before_reading_the_record(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(framed(HI_BINARY) + b"\x7f\xff\xff\xff" + b"\x00" * 10)
    reader = RecordReader(path, truncated="stop")
    got = []
    with pytest.raises(LimitExceeded):
        for payload in reader:
            got.append(payload)
    assert got == [HI_BINARY]
    with pytest.raises(LocalProtocolError):
        RecordWriter(io.BytesIO(), limits=Limits(max_frame_size=4)).write_struct(hi())


def test_reading_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    blob = TApplicationException("y" * 4000, 1)
    with RecordWriter(path) as log:
        for _ in range(2000):  # about 8 MB
            log.write_struct(blob)
    reader = RecordReader(path, chunk_size=16 * 1024)
    tracemalloc.start()
    try:
        count = sum(1 for _ in reader.payloads())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2000
    assert peak < 512 * 1024, f"peak {peak} bytes while streaming an 8 MB file"


def test_reader_arguments() -> None:
    with pytest.raises(ValueError, match="truncated"):
        RecordReader("x", truncated="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        RecordReader("x", chunk_size=0)


# --- Apache interop -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apache(tmp_path_factory: pytest.TempPathFactory, require: Any) -> Iterator[SimpleNamespace]:
    require.module("thrift")
    compiler = require.binary("thrift")
    out = tmp_path_factory.mktemp("gen")
    idl = out / "recorder.thrift"
    idl.write_text(IDL)
    done = subprocess.run(
        [compiler, "--gen", "py", "-out", str(out), str(idl)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(out))
    try:
        yield SimpleNamespace(
            ttypes=importlib.import_module("sf_offline_gen.ttypes"),
            Recorder=importlib.import_module("sf_offline_gen.Recorder"),
        )
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n.startswith("sf_offline_gen")]:
            del sys.modules[name]


def _apache_protocol(proto: str, trans: Any) -> Any:
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol
    from thrift.protocol.TCompactProtocol import TCompactProtocol
    from thrift.protocol.TJSONProtocol import TJSONProtocol

    return {"binary": TBinaryProtocol, "compact": TCompactProtocol, "json": TJSONProtocol}[proto](
        trans
    )


def _apache_points(apache: SimpleNamespace) -> list[Any]:
    Point = apache.ttypes.Point
    return [Point(x=i, y=i * 3, label=f"ü{i}", tags=[i, -i], blob=bytes([i]) * 3) for i in range(4)]


def _same(ours: Any, theirs: Any) -> bool:
    return all(getattr(ours, f) == getattr(theirs, f) for f in ("x", "y", "label", "tags", "blob"))


@pytest.mark.parametrize("proto", ["binary", "compact"])
def test_apache_memory_buffer_structs_read_by_us(
    apache: SimpleNamespace, recorder: ModuleType, proto: str
) -> None:
    from thrift.transport.TTransport import TFramedTransport, TMemoryBuffer

    points = _apache_points(apache)
    plain = TMemoryBuffer()
    for p in points:
        p.write(_apache_protocol(proto, plain))
    ours = list(MemoryBuffer(plain.getvalue(), protocol=proto).structs(recorder.Point))
    assert len(ours) == 4 and all(_same(a, b) for a, b in zip(ours, points, strict=True))

    sink = TMemoryBuffer()
    frames = TFramedTransport(sink)
    for p in points:
        p.write(_apache_protocol(proto, frames))
        frames.flush()
    got = MemoryBuffer(sink.getvalue(), protocol=proto, transport="framed")
    ours = list(got.structs(recorder.Point))
    assert all(_same(a, b) for a, b in zip(ours, points, strict=True)) and len(ours) == 4


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_our_memory_buffer_read_by_apache(
    apache: SimpleNamespace, recorder: ModuleType, proto: str
) -> None:
    from thrift.transport.TTransport import TMemoryBuffer

    Point = apache.ttypes.Point
    ours = [recorder.Point(x=i, y=7, label="é", tags=[1, 2, i], blob=b"\xff" * i) for i in range(3)]
    buf = MemoryBuffer(protocol=proto)
    for p in ours if proto != "json" else ours[:1]:
        buf.write_struct(p)
    theirs_buf = TMemoryBuffer(buf.getvalue())
    for p in ours if proto != "json" else ours[:1]:
        theirs = Point()
        theirs.read(_apache_protocol(proto, theirs_buf))
        assert _same(p, theirs)
    assert theirs_buf.read(1) == b""


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_apache_json_struct_read_by_us(
    apache: SimpleNamespace, recorder: ModuleType, proto: str
) -> None:
    from thrift.transport.TTransport import TMemoryBuffer

    point = _apache_points(apache)[1]
    buf = TMemoryBuffer()
    point.write(_apache_protocol(proto, buf))
    assert _same(MemoryBuffer(buf.getvalue(), protocol=proto).read_struct(recorder.Point), point)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_messages_both_ways_with_apache(
    apache: SimpleNamespace, recorder: ModuleType, proto: str
) -> None:
    from thrift.Thrift import TMessageType
    from thrift.transport.TTransport import TMemoryBuffer

    Recorder = apache.Recorder
    sink = TMemoryBuffer()
    for seqid, p in enumerate(_apache_points(apache)):
        out = _apache_protocol(proto, sink)
        out.writeMessageBegin("record", TMessageType.CALL, seqid)
        Recorder.record_args(p=p).write(out)
        out.writeMessageEnd()
    got = list(MemoryBuffer(sink.getvalue(), protocol=proto).messages(recorder.Recorder))
    assert [m.seqid for m in got] == [0, 1, 2, 3]
    assert all(_same(m.body.p, p) for m, p in zip(got, _apache_points(apache), strict=True))

    ours = MemoryBuffer(protocol=proto)
    for seqid in range(3):
        ours.write_message(
            "count", MessageType.CALL, seqid, recorder.Recorder.count_args(f"l{seqid}")
        )
    source = TMemoryBuffer(ours.getvalue())
    for seqid in range(3):
        inp = _apache_protocol(proto, source)
        assert inp.readMessageBegin() == ("count", TMessageType.CALL, seqid)
        args = Recorder.count_args()
        args.read(inp)
        inp.readMessageEnd()
        assert args.label == f"l{seqid}"


@pytest.mark.parametrize("proto", ["binary", "compact"])
def test_record_file_with_apache_file_transport(
    apache: SimpleNamespace, recorder: ModuleType, proto: str, tmp_path: Path
) -> None:
    from thrift.transport.TTransport import TFileObjectTransport, TFramedTransport

    Point = apache.ttypes.Point
    path = tmp_path / "points.log"
    with open(path, "wb") as f:
        frames = TFramedTransport(TFileObjectTransport(f))
        for p in _apache_points(apache):
            p.write(_apache_protocol(proto, frames))
            frames.flush()
    with RecordWriter(path, protocol=proto) as log:
        log.write_struct(recorder.Point(x=100, label="ours"))
    ours = list(RecordReader(path, protocol=proto).structs(recorder.Point))
    assert all(_same(a, b) for a, b in zip(ours[:4], _apache_points(apache), strict=True))
    assert (ours[4].x, ours[4].label) == (100, "ours")
    with open(path, "rb") as f:
        frames = TFramedTransport(TFileObjectTransport(f))
        theirs = []
        for _ in range(5):
            p = Point()
            p.read(_apache_protocol(proto, frames))
            theirs.append(p)
    assert (theirs[4].x, theirs[4].label) == (100, "ours")
    assert all(_same(a, b) for a, b in zip(theirs[:4], _apache_points(apache), strict=True))
