"""Thrift without a connection: in-memory buffers and append-only record files.

``MemoryBuffer`` plays the part of Apache's ``TMemoryBuffer``: write structs or messages with any
protocol and framing into bytes you keep (test fixtures, Thrift embedded in another transport or
a database column), and read them back, from us or from any Thrift library.

``RecordWriter`` / ``RecordReader`` keep a log on disk -- calls to replay, events, snapshots --
one record per struct or message. On disk a record is exactly a framed-transport frame (a
big-endian i32 length, then the payload), so the boundaries can be found without the schema,
and the file is what Apache's ``TFramedTransport`` over a ``TFileObjectTransport`` reads and
writes. The reader streams: it holds at most one record plus one read chunk, and refuses a
length above ``max_frame_size`` before reading the record's body.

Nothing here knows a protocol's byte layout: encoding and decoding are the codecs'
(``swordfish.codec``), boundaries are the framers' (``swordfish.framing``). This module sits
beside the drivers in the layering because it does blocking file I/O, which the sans-IO layers
below must not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Literal, TypeVar

from .codec import get_codec
from .codec.base import NEED_DATA, BodyTypeResolver, Codec, Message
from .errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from .framing import TRANSPORTS, FramedFramer, Framer, ZlibFramer, make_framer
from .limits import Limits
from .model.application import TApplicationException
from .model.service import ServiceSpec
from .model.struct import Struct
from .model.ttype import MessageType

__all__ = ["BodyTypes", "MemoryBuffer", "RecordReader", "RecordWriter", "body_resolver"]

S = TypeVar("S", bound=Struct)

#: What ``read_message`` / ``messages`` accept to know the class of a message's body: a
#: ``BodyTypeResolver``, a ``ServiceSpec`` or a loaded service class (``calc.Calculator``), or
#: ``None`` to check the body is well-formed without decoding it (``Message.body`` is ``None``).
BodyTypes = BodyTypeResolver | ServiceSpec | type | None

_PathOrFile = str | os.PathLike[str] | IO[bytes]


def body_resolver(body_type: BodyTypes) -> BodyTypeResolver:
    """A ``BodyTypeResolver`` from any of ``BodyTypes``.

    For a service: calls and oneways decode as the method's ``args``, replies as its
    ``result``, exceptions as ``TApplicationException``; a multiplexed name
    (``"Service:method"``) is looked up without its prefix; unknown names are skipped.
    """
    if body_type is None:
        return lambda name, mtype: None
    spec = body_type if isinstance(body_type, ServiceSpec) else None
    if spec is None and isinstance(body_type, type):
        found = getattr(body_type, "__thrift_service__", None)
        if not isinstance(found, ServiceSpec):
            raise TypeError(f"{body_type.__name__} is not a Thrift service class")
        spec = found
    if spec is None:
        resolver: BodyTypeResolver = body_type  # type: ignore[assignment]
        return resolver
    methods = spec.methods

    def resolve(name: str, mtype: MessageType) -> type[Struct] | None:
        if mtype == MessageType.EXCEPTION:
            return TApplicationException
        method = methods.get(name) or methods.get(name.partition(":")[2])
        if method is None:
            return None
        return method.result if mtype == MessageType.REPLY else method.args

    return resolve


def _codec(protocol: str | Codec, limits: Limits | None) -> Codec:
    if isinstance(protocol, str):
        return get_codec(protocol, limits)
    if limits is not None and limits != protocol.limits:
        raise ValueError("limits given twice: pass them to the codec, or a protocol name")
    return protocol


class _StructFramer:
    """Boundaries of bare structs written back to back, with no framing.

    A struct has no length of its own; its end is where its stop field is. Rather than a second
    walker over each protocol's layout, this puts the codec's own envelope for an empty-named
    call in front and asks the codec's ``scan_message`` (the one the buffered transport uses)
    how long that message is. It works where a message is the envelope followed by the body
    (binary, compact); JSON closes the message after the body, so its bare structs need
    framing. Scans look at a window that doubles until the struct fits, so a struct costs
    about twice its size to find, not the size of everything after it.
    """

    name = "buffered"

    def __init__(self, codec: Codec, limits: Limits) -> None:
        empty = TApplicationException()
        body = codec.encode_struct(empty)
        message = codec.encode_message("", MessageType.CALL, 0, empty)
        if not message.endswith(body):
            raise LocalProtocolError(
                f"bare {codec.name} structs cannot be told apart without framing: "
                "use transport='framed'"
            )
        self._envelope = message[: len(message) - len(body)]
        self._codec = codec
        self._max = limits.max_frame_size
        self._buf = bytearray()
        self._pos = 0
        self._scanned_to = -1

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_message(self) -> bytes | None:
        buf, pos = self._buf, self._pos
        if pos == len(buf) or len(buf) == self._scanned_to:
            return None
        window = 256
        while True:
            end = min(len(buf), pos + window)
            length = self._codec.scan_message(self._envelope + buf[pos:end])
            if length != NEED_DATA:
                break
            if end == len(buf):
                self._scanned_to = end
                if end - pos > self._max:
                    raise LimitExceeded(f"struct exceeds max_frame_size ({self._max} bytes)")
                return None
            window *= 2
        self._scanned_to = -1
        self._pos = pos + length - len(self._envelope)
        return bytes(buf[pos : self._pos])

    def wrap(self, payload: bytes) -> bytes:
        return payload

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos


class _RestFramer:
    """For a bare struct that nothing delimits (JSON): everything held is one struct."""

    name = "buffered"

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> bytes | None:
        if not self._buf:
            return None
        rest, self._buf = bytes(self._buf), bytearray()
        return rest

    def wrap(self, payload: bytes) -> bytes:
        return payload

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _struct_framer(transport: str, codec: Codec, limits: Limits) -> Framer:
    if transport == "framed":
        return FramedFramer(limits)
    inner: Framer
    try:
        inner = _StructFramer(codec, limits)
    except LocalProtocolError:
        if transport == "zlib":
            raise
        inner = _RestFramer()
    return ZlibFramer(codec, limits, inner=inner) if transport == "zlib" else inner


class MemoryBuffer:
    """Structs or messages in memory, with any protocol and framing (Apache's TMemoryBuffer).

    data: bytes to read (from a file, a column, another library); writes append after them.
    protocol: "binary", "compact", "json", or a codec instance (e.g. old-style binary:
        ``get_codec("binary", strict_write=False)``).
    transport: "buffered" (nothing between records: what Apache's TMemoryBuffer holds after
        ``obj.write(protocol)``), "framed" (a 4-byte length before each) or "zlib".

    A buffer reads either structs or messages unless it is framed: with no framing their
    boundaries are found differently. Nothing marks where a bare (unframed) JSON struct ends,
    so a buffered JSON buffer reads everything left as one struct (zlib JSON structs need
    framing inside: not supported). A zlib buffer is one compressed stream, so it takes writes
    only when it started empty.
    """

    def __init__(
        self,
        data: bytes | bytearray | memoryview = b"",
        *,
        protocol: str | Codec = "binary",
        transport: str = "buffered",
        limits: Limits | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; choose one of: {TRANSPORTS}")
        self.codec = _codec(protocol, limits)
        self.limits = self.codec.limits if limits is None else limits
        self.transport = transport
        self._data = bytearray(data)
        self._wrapper = make_framer(transport, self.codec, self.limits)
        self._started_empty = not self._data
        self._reader: Framer | None = None
        self._reading = ""
        self._fed = 0

    # --- writing ----------------------------------------------------------------------------

    def write_struct(self, obj: Struct) -> None:
        """Append one struct (no envelope)."""
        self._append(self.codec.encode_struct(obj))

    def write_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> None:
        """Append one message: an envelope (name, type, seqid) and its body struct."""
        self._append(self.codec.encode_message(name, mtype, seqid, body))

    def _append(self, payload: bytes) -> None:
        if self.transport == "zlib" and not self._started_empty:
            raise LocalProtocolError("cannot append to a zlib stream this buffer did not start")
        self._data += self._wrapper.wrap(payload)

    def getvalue(self) -> bytes:
        """Everything in the buffer: the initial bytes and every write, read or not."""
        return bytes(self._data)

    # --- reading ----------------------------------------------------------------------------

    def read_struct(self, cls: type[S]) -> S:
        """The next struct, as a ``cls``. ``EOFError`` when none is left."""
        return self.codec.decode_struct(cls, self._next("struct", required=True) or b"")

    def read_message(self, body_type: BodyTypes = None) -> Message:
        """The next message (see ``BodyTypes``). ``EOFError`` when none is left."""
        payload = self._next("message", required=True) or b""
        return self.codec.decode_message(payload, body_resolver(body_type))

    def structs(self, cls: type[S]) -> Iterator[S]:
        """Every struct left, as ``cls`` instances."""
        while (payload := self._next("struct", required=False)) is not None:
            yield self.codec.decode_struct(cls, payload)

    def messages(self, body_type: BodyTypes = None) -> Iterator[Message]:
        """Every message left."""
        resolve = body_resolver(body_type)
        while (payload := self._next("message", required=False)) is not None:
            yield self.codec.decode_message(payload, resolve)

    @property
    def remaining(self) -> int:
        """Bytes not yet returned by a read."""
        held = 0 if self._reader is None else self._reader.buffered
        return held + len(self._data) - self._fed

    def _next(self, kind: str, *, required: bool) -> bytes | None:
        reader = self._reader
        if reader is None:
            if kind == "struct":
                reader = _struct_framer(self.transport, self.codec, self.limits)
            else:
                reader = make_framer(self.transport, self.codec, self.limits)
            self._reader, self._reading = reader, kind
        elif kind != self._reading and self.transport != "framed":
            raise LocalProtocolError(
                f"this {self.transport} buffer is read as {self._reading}s: without framing, "
                "structs and messages cannot be mixed"
            )
        if self._fed < len(self._data):
            reader.feed(bytes(self._data[self._fed :]))
            self._fed = len(self._data)
        payload = reader.next_message()
        if payload is None:
            if reader.buffered:
                raise RemoteProtocolError(
                    f"truncated {kind}: the buffer ends {reader.buffered} bytes into it"
                )
            if required:
                raise EOFError(f"no {kind} left in the buffer")
        return payload


# --- record files -------------------------------------------------------------------------------


class RecordWriter:
    """Appends framed records (structs or messages) to a file.

    file: a path (opened for appending, closed by ``close``) or a binary file object (left
        open). protocol: a name or a codec, as for ``MemoryBuffer``.

    Each record goes out in a single ``write`` call, so a crash leaves at most the last record
    cut short, which ``RecordReader`` reports (or skips, with ``truncated="stop"``). Writes are
    buffered by the file object: ``flush()`` hands them to the OS (add ``os.fsync`` on
    ``fileno()`` for durability).
    """

    def __init__(
        self,
        file: _PathOrFile,
        *,
        protocol: str | Codec = "binary",
        limits: Limits | None = None,
    ) -> None:
        self.codec = _codec(protocol, limits)
        self._framer = FramedFramer(self.codec.limits if limits is None else limits)
        self._owned = isinstance(file, (str, os.PathLike))
        self._file: IO[bytes] = open(file, "ab") if isinstance(file, (str, os.PathLike)) else file

    def write_struct(self, obj: Struct) -> None:
        self.write_payload(self.codec.encode_struct(obj))

    def write_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> None:
        self.write_payload(self.codec.encode_message(name, mtype, seqid, body))

    def write_payload(self, payload: bytes) -> None:
        """Append one record of already encoded bytes (``LocalProtocolError`` above
        ``max_frame_size``: a reader would refuse it)."""
        self._file.write(self._framer.wrap(payload))

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        if self._file.closed:
            return
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordReader:
    """Streams the records of a file written by ``RecordWriter`` (or any framed stream).

    file: a path (opened and closed by each iteration) or a binary file object (read from its
        current position, left open).
    truncated: what a record cut short by the end of the file means. "raise" (default): a
        ``RemoteProtocolError`` giving its offset, after every whole record before it was
        yielded. "stop": end quietly after the last whole record, as for a log whose writer
        died mid-write. Either way ``end_offset`` then says where the whole records end (pass
        it to ``os.truncate`` before appending again).
    chunk_size: bytes per read; memory stays within one record plus one chunk.

    A length prefix above ``max_frame_size`` is refused (``LimitExceeded``) before its record
    is read: raise the limit to read bigger records.
    """

    def __init__(
        self,
        file: _PathOrFile,
        *,
        protocol: str | Codec = "binary",
        limits: Limits | None = None,
        truncated: Literal["raise", "stop"] = "raise",
        chunk_size: int = 64 * 1024,
    ) -> None:
        if truncated not in ("raise", "stop"):
            raise ValueError(f"truncated must be 'raise' or 'stop', got {truncated!r}")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.codec = _codec(protocol, limits)
        self.limits = self.codec.limits if limits is None else limits
        self._file = file
        self._truncated = truncated
        self._chunk_size = chunk_size
        #: Offset just past the last whole record read (from where reading started).
        self.end_offset = 0

    def payloads(self) -> Iterator[bytes]:
        """Each record's bytes, undecoded."""
        if isinstance(self._file, (str, os.PathLike)):
            with open(self._file, "rb") as f:
                yield from self._read(f)
        else:
            yield from self._read(self._file)

    def structs(self, cls: type[S]) -> Iterator[S]:
        """Each record decoded as a ``cls`` struct."""
        for payload in self.payloads():
            yield self.codec.decode_struct(cls, payload)

    def messages(self, body_type: BodyTypes = None) -> Iterator[Message]:
        """Each record decoded as a message (see ``BodyTypes``)."""
        resolve = body_resolver(body_type)
        for payload in self.payloads():
            yield self.codec.decode_message(payload, resolve)

    def __iter__(self) -> Iterator[bytes]:
        return self.payloads()

    def _read(self, f: IO[bytes]) -> Iterator[bytes]:
        framer = FramedFramer(self.limits)
        self.end_offset = 0
        while True:
            while (payload := framer.next_message()) is not None:
                self.end_offset += 4 + len(payload)
                yield payload
            chunk = f.read(self._chunk_size)
            if not chunk:
                break
            framer.feed(chunk)
        if framer.buffered and self._truncated == "raise":
            raise RemoteProtocolError(
                f"truncated record at offset {self.end_offset}: the file ends "
                f"{framer.buffered} bytes into it"
            )
