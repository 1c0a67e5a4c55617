"""Apache THeader framing: info headers, the zlib transform and a protocol id per message.

Wire format of one header frame (big-endian; what Apache's THeaderTransport writes)::

    i32  length of everything after this field
    u16  magic 0x0FFF
    u16  flags (echoed from the last frame received; 0 until then)
    i32  sequence id (the message's seqid)
    u16  header length / 4
         header: varint protocol id (0 binary, 2 compact)
                 varint transform count, then that many varint transform ids (1 = zlib)
                 info headers: varint type 1 (key/value), varint count, then count pairs of
                 varint-length-prefixed UTF-8 key and value; any other type ends the list
                 zero padding to a multiple of 4 bytes
    ...  payload: the message in that protocol, zlib-deflated when transform 1 is listed

A framer that accepts non-header peers (``accept_plain=True``, what a server uses) also
recognises, from the first bytes, unframed and framed binary (``80 01``) and compact (``82``
then version 1) messages, and answers them in their own format; anything else is a
``RemoteProtocolError``. Apache re-detects on every message; here the first message fixes the
connection's format and a later message in another format is refused (a peer that switches
format mid-connection is broken, and replies could not be framed to match).

After ``next_message()`` returns a payload, ``message_codec`` is the codec its protocol id
names and ``message_headers`` its info headers: the engines decode each message with that
codec and answer with the same one (see ``framing.base.MessageFramer``). ``wrap`` takes the
codec in use (its ``protocol_id`` goes in the header), the info headers to send and the
message's seqid.

Transforms: ``transforms=("zlib",)`` deflates every outgoing payload. A server also deflates
its replies once a peer has sent it a deflated message, so a client alone decides to
compress. Inflating is bounded: at most ``max_frame_size`` bytes come
out of one payload, so a zlib bomb ends in ``LimitExceeded`` without being allocated.

``outer``: header frames can travel inside another framing, the way Apache composes
``THeaderTransport`` over ``TFramedTransport`` ("framed twice": an outer length, then the
header frame with its own length) or over ``TZlibTransport`` (header frames inside one zlib
stream). The outer framer's messages are treated as a byte stream that the header frames are
cut from, and every frame written goes through ``outer.wrap``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping

from ..codec import get_codec
from ..codec.base import NEED_DATA, Codec
from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer

__all__ = [
    "HEADER_MAGIC",
    "PROTOCOL_BINARY",
    "PROTOCOL_COMPACT",
    "TRANSFORM_ZLIB",
    "TRANSFORMS",
    "HeaderFramer",
    "StreamFramer",
]

#: The u16 after a header frame's length.
HEADER_MAGIC = 0x0FFF
#: Protocol ids in the header.
PROTOCOL_BINARY = 0
PROTOCOL_COMPACT = 2
#: Transform ids.
TRANSFORM_ZLIB = 1
#: Transform names accepted by ``HeaderFramer(transforms=...)``.
TRANSFORMS: dict[str, int] = {"zlib": TRANSFORM_ZLIB}
_INFO_KEY_VALUE = 1

_PREFIX = struct.Struct(">iHHiH")  # length, magic, flags, seqid, header words
_I32 = struct.Struct(">i")
_FIXED = 10  # bytes of a header frame after its length field, before the header
_MAX_HEADER = 0xFFFF * 4

# What the connection's peer turned out to speak (fixed by its first message).
_HEADER = "header"
_FRAMED_BINARY = "framed binary"
_FRAMED_COMPACT = "framed compact"
_UNFRAMED_BINARY = "unframed binary"
_UNFRAMED_COMPACT = "unframed compact"


_SMALL_VARINTS = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _is_binary(b0: int, b1: int) -> bool:
    return b0 == 0x80 and b1 == 0x01


def _is_compact(b0: int, b1: int) -> bool:
    return b0 == 0x82 and b1 & 0x1F == 1


class _Reader:
    """Varints and strings out of a header, never past its end."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def varint(self, what: str) -> int:
        data, pos, end = self.data, self.pos, self.end
        if pos < end and data[pos] < 0x80:  # one byte: nearly every id, count and length
            self.pos = pos + 1
            return data[pos]
        value = shift = 0
        while True:
            if pos >= end:
                raise RemoteProtocolError(f"THeader: {what} runs past the end of the header")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 28:
                raise RemoteProtocolError(f"THeader: {what} is a varint longer than 5 bytes")
        if value > 0x7FFFFFFF:
            raise RemoteProtocolError(f"THeader: {what} {value} does not fit an i32")
        self.pos = pos
        return value

    def string(self, what: str, limits: Limits) -> str:
        size = self.varint(f"{what} length")
        if size > limits.max_string_size:
            raise LimitExceeded(
                f"THeader: {what} of {size} bytes exceeds max_string_size "
                f"({limits.max_string_size} bytes)"
            )
        start = self.pos
        if size > self.end - start:
            raise RemoteProtocolError(
                f"THeader: {what} of {size} bytes runs past the end of the header"
            )
        self.pos = start + size
        try:
            return self.data[start : start + size].decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError(f"THeader: {what} is not valid UTF-8") from None


class StreamFramer:
    """Passes bytes through, in pieces of at most ``max_frame_size``: the inner framer of a
    ``ZlibFramer`` whose decompressed stream carries header frames (``HeaderFramer`` cuts the
    frames itself)."""

    name = "stream"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._chunk = limits.max_frame_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> bytes | None:
        buf = self._buf
        if not buf:
            return None
        piece = bytes(buf[: self._chunk])
        del buf[: len(piece)]
        return piece

    def wrap(self, payload: bytes) -> bytes:
        return payload

    @property
    def buffered(self) -> int:
        return len(self._buf)


class HeaderFramer:
    """THeader framing (Apache ``THeaderTransport``) for one connection.

    codec: what we write with unless ``wrap`` is told otherwise (its ``protocol_id`` goes in
        the header); incoming messages are decoded with the codec their header names.
    transforms: transform names ("zlib") applied to every payload we send.
    accept_plain: also accept non-header peers (framed or unframed binary/compact), detected
        from the first bytes, and answer them in their format. Servers set it; clients expect
        header frames only.
    outer: a framer whose messages carry the header frames (framed twice, or a zlib stream).
    """

    name = "header"

    def __init__(
        self,
        codec: Codec,
        limits: Limits = DEFAULT_LIMITS,
        *,
        transforms: Iterable[str] = (),
        accept_plain: bool = False,
        outer: Framer | None = None,
    ) -> None:
        ids: list[int] = []
        for name in transforms:
            if name not in TRANSFORMS:
                raise ValueError(
                    f"unknown THeader transform {name!r}; choose from: {', '.join(TRANSFORMS)}"
                )
            if TRANSFORMS[name] not in ids:
                ids.append(TRANSFORMS[name])
        self._transforms = ids
        self._codec = codec
        self._limits = limits
        self._max_frame_size = limits.max_frame_size
        self._accept_plain = accept_plain
        self._outer = outer
        self._codecs: dict[int, Codec] = {codec.protocol_id: codec}
        self._buf = bytearray()
        self._pos = 0
        self._scanned_to = -1  # buffer length when an unframed scan last needed more bytes
        self._kind: str | None = None
        self._flags = 0
        #: The codec of the message ``next_message`` returned last.
        self.message_codec: Codec = codec
        #: The info headers of the message ``next_message`` returned last.
        self.message_headers: dict[str, str] = {}

    # -- reading -------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._outer is not None:
            self._outer.feed(data)
            return
        self._append(data)

    def _append(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_message(self) -> bytes | None:
        outer = self._outer
        while True:
            message = self._parse()
            if message is not None or outer is None:
                return message
            piece = outer.next_message()
            if piece is None:
                return None
            self._append(piece)

    def _codec_for(self, protocol_id: int) -> Codec:
        codec = self._codecs.get(protocol_id)
        if codec is None:
            if protocol_id == PROTOCOL_BINARY:
                codec = get_codec("binary", self._limits)
            elif protocol_id == PROTOCOL_COMPACT:
                codec = get_codec("compact", self._limits)
            else:
                raise RemoteProtocolError(f"THeader: unknown protocol id {protocol_id}")
            self._codecs[protocol_id] = codec
        return codec

    def _set_kind(self, kind: str) -> None:
        if self._kind is None:
            if kind != _HEADER and not self._accept_plain:
                raise RemoteProtocolError(f"expected a THeader frame, got a {kind} message")
            self._kind = kind
        elif kind != self._kind:
            raise RemoteProtocolError(
                f"THeader: the peer switched from {self._kind} to {kind} messages"
            )

    def _parse(self) -> bytes | None:
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < 4:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        if _is_binary(b0, b1):
            return self._unframed(_UNFRAMED_BINARY, PROTOCOL_BINARY)
        if _is_compact(b0, b1):
            return self._unframed(_UNFRAMED_COMPACT, PROTOCOL_COMPACT)
        (length,) = _I32.unpack_from(buf, pos)
        if length < 0:
            raise RemoteProtocolError(f"THeader: negative frame length {length}")
        if length > self._max_frame_size:
            raise LimitExceeded(
                f"frame of {length} bytes exceeds max_frame_size ({self._max_frame_size} bytes)"
            )
        if length < 4:
            raise RemoteProtocolError(f"THeader: frame of {length} bytes is too short")
        if available < 8:
            return None
        c0, c1 = buf[pos + 4], buf[pos + 5]
        if (c0 << 8) | c1 == HEADER_MAGIC:
            self._set_kind(_HEADER)
            if length < _FIXED:
                raise RemoteProtocolError(f"THeader: header frame of {length} bytes is too short")
            if available >= 14:
                words = (buf[pos + 12] << 8) | buf[pos + 13]
                if _FIXED + words * 4 > length:
                    raise RemoteProtocolError(
                        f"THeader: header of {words * 4} bytes is larger than its "
                        f"{length}-byte frame"
                    )
            if available < 4 + length:
                return None
            frame = bytes(buf[pos + 4 : pos + 4 + length])
            self._consume(pos + 4 + length)
            return self._header_message(frame)
        if _is_binary(c0, c1):
            kind, protocol_id = _FRAMED_BINARY, PROTOCOL_BINARY
        elif _is_compact(c0, c1):
            kind, protocol_id = _FRAMED_COMPACT, PROTOCOL_COMPACT
        else:
            raise RemoteProtocolError(
                f"could not detect the client's transport: first bytes "
                f"{bytes(buf[pos : pos + 8]).hex()}"
            )
        self._set_kind(kind)
        if available < 4 + length:
            return None
        message = bytes(buf[pos + 4 : pos + 4 + length])
        self._consume(pos + 4 + length)
        self.message_codec = self._codec_for(protocol_id)
        self.message_headers = {}
        return message

    def _unframed(self, kind: str, protocol_id: int) -> bytes | None:
        self._set_kind(kind)
        buf = self._buf
        if len(buf) == self._scanned_to:
            return None
        codec = self._codec_for(protocol_id)
        length = codec.scan_message(buf, self._pos)
        if length == NEED_DATA:
            if len(buf) - self._pos > self._max_frame_size:
                raise LimitExceeded(
                    f"message exceeds max_frame_size ({self._max_frame_size} bytes)"
                )
            self._scanned_to = len(buf)
            return None
        self._scanned_to = -1
        start = self._pos
        message = bytes(buf[start : start + length])
        self._consume(start + length)
        self.message_codec = codec
        self.message_headers = {}
        return message

    def _consume(self, end: int) -> None:
        if end > 65536 and end * 2 > len(self._buf):
            del self._buf[:end]
            end = 0
        self._pos = end

    def _header_message(self, frame: bytes) -> bytes:
        (self._flags,) = struct.unpack_from(">H", frame, 2)
        words = (frame[8] << 8) | frame[9]
        end = _FIXED + words * 4
        reader = _Reader(frame, _FIXED, end)
        codec = self._codec_for(reader.varint("protocol id"))
        count = reader.varint("transform count")
        if count > end - reader.pos:
            raise RemoteProtocolError(f"THeader: {count} transforms cannot fit in the header")
        transforms = []
        for _ in range(count):
            transform = reader.varint("transform id")
            if transform != TRANSFORM_ZLIB:
                raise RemoteProtocolError(f"THeader: unknown transform {transform}")
            transforms.append(transform)
        headers: dict[str, str] = {}
        limits = self._limits
        while reader.pos < end:
            kind = reader.varint("info header type")
            if kind != _INFO_KEY_VALUE:
                break  # padding (0) or a type we do not know: the rest is skipped (as Apache)
            pairs = reader.varint("info header count")
            if pairs > limits.max_container_size:
                raise LimitExceeded(
                    f"THeader: {pairs} info headers exceed max_container_size "
                    f"({limits.max_container_size})"
                )
            if pairs * 2 > end - reader.pos:
                raise RemoteProtocolError(f"THeader: {pairs} info headers cannot fit in the header")
            for _ in range(pairs):
                key = reader.string("info header key", limits)
                headers[key] = reader.string(f"value of info header {key!r}", limits)
        payload = frame[end:]
        for transform in reversed(transforms):
            if transform == TRANSFORM_ZLIB:
                payload = self._inflate(payload)
                # Answer a compressing peer in kind: its replies are compressed too.
                if TRANSFORM_ZLIB not in self._transforms and self._accept_plain:
                    self._transforms.append(TRANSFORM_ZLIB)
        self.message_codec = codec
        self.message_headers = headers
        return payload

    def _inflate(self, data: bytes) -> bytes:
        limit = self._max_frame_size
        inflate = zlib.decompressobj()
        try:
            # max_length bounds what is allocated: a bomb stops at limit + 1 bytes.
            out = inflate.decompress(data, limit + 1)
        except zlib.error as exc:
            raise RemoteProtocolError(f"THeader: corrupt zlib payload: {exc}") from None
        if len(out) > limit or inflate.unconsumed_tail:
            raise LimitExceeded(
                f"THeader: zlib payload inflates beyond max_frame_size ({limit} bytes)"
            )
        if not inflate.eof:
            raise RemoteProtocolError("THeader: truncated zlib payload")
        if inflate.unused_data:
            raise RemoteProtocolError(
                f"THeader: {len(inflate.unused_data)} bytes after the zlib payload"
            )
        return out

    # -- writing -------------------------------------------------------------------------------

    def wrap(
        self,
        payload: bytes,
        *,
        codec: Codec | None = None,
        headers: Mapping[str, str] | None = None,
        seqid: int = 0,
    ) -> bytes:
        """The bytes for one message: a header frame, or the plain peer's own format."""
        kind = self._kind
        if kind is None or kind == _HEADER:
            data = self._header_frame(payload, codec or self._codec, headers, seqid)
        elif kind == _FRAMED_BINARY or kind == _FRAMED_COMPACT:
            self._check_size(len(payload))
            data = _I32.pack(len(payload)) + payload
        else:
            data = payload
        outer = self._outer
        return data if outer is None else outer.wrap(data)

    def _check_size(self, size: int) -> None:
        if size > self._max_frame_size:
            raise LocalProtocolError(
                f"outgoing frame of {size} bytes exceeds max_frame_size "
                f"({self._max_frame_size} bytes)"
            )

    def _header_frame(
        self, payload: bytes, codec: Codec, headers: Mapping[str, str] | None, seqid: int
    ) -> bytes:
        transforms = self._transforms
        header = bytearray(_varint(codec.protocol_id))
        header += _varint(len(transforms))
        for transform in transforms:
            header += _varint(transform)
            payload = zlib.compress(payload)
        if headers:
            header += _varint(_INFO_KEY_VALUE)
            header += _varint(len(headers))
            for key, value in headers.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise LocalProtocolError(
                        f"THeader info headers must be str: {key!r}: {value!r}"
                    )
                for text in (key, value):
                    raw = text.encode("utf-8")
                    header += _varint(len(raw))
                    header += raw
        header += bytes(-len(header) % 4)
        if len(header) > _MAX_HEADER:
            raise LocalProtocolError(
                f"THeader: {len(header)} bytes of headers exceed the format's {_MAX_HEADER}"
            )
        length = _FIXED + len(header) + len(payload)
        self._check_size(length)
        prefix = _PREFIX.pack(length, HEADER_MAGIC, self._flags, seqid, len(header) // 4)
        return prefix + bytes(header) + payload

    @property
    def buffered(self) -> int:
        outer = self._outer
        mine = len(self._buf) - self._pos
        return mine if outer is None else mine + outer.buffered
