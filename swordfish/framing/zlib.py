"""The zlib transport: each direction of a connection is one continuous zlib stream.

This is what Apache Thrift's TZlibTransport puts on the wire: a zlib header (RFC 1950) once,
then deflate data that is never finished; after each message the writer does a sync flush
(Apache's C++ library does a full flush; both end in the empty stored block ``00 00 ff ff``)
so the reader can inflate everything sent so far. Inside the stream the protocol bytes travel
unframed, exactly as on the "buffered" transport, so message boundaries come from the codec's
``scan_message`` in an inner ``UnframedFramer``.

Inflating is the dangerous part: deflate reaches about 1000:1, so a megabyte on the wire can
become a gigabyte. The framer therefore inflates lazily, only when the inner framer has no
whole message left, and never more than ``max_frame_size`` (plus a few bytes of slack) beyond
what the inner framer already holds; the compressed rest waits in ``unconsumed_tail``. A stream
that keeps expanding without completing a message thus ends in ``LimitExceeded`` after at most
``max_frame_size`` bytes, and a stream of many small valid messages is inflated in bounded steps
as they are consumed.
"""

from __future__ import annotations

import zlib

from ..codec.base import Codec
from ..errors import LimitExceeded, ProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer
from .unframed import UnframedFramer

__all__ = ["ZlibFramer"]

# What a sync or full flush leaves at the end of the compressed data: an empty stored block.
_FLUSH_MARK = b"\x00\x00\xff\xff"
# Room above max_frame_size for an inner framer's own header (a framed length prefix, say), so
# the inner framer can see a whole oversized message, or a whole maximal one with its header.
_SLACK = 16


class ZlibFramer:
    """Apache TZlibTransport framing: one zlib stream per direction around unframed messages.

    level: deflate compression level for what we send (0-9). Any level is read by any peer;
    Apache's Python library defaults to 9, zlib itself to 6, which is much cheaper for a few
    percent more bytes.
    inner: the framer for the decompressed bytes; by default the unframed ("buffered") one,
    as Apache's TZlibTransport is used. Wrap and read go through it.
    """

    name = "zlib"

    def __init__(
        self,
        codec: Codec,
        limits: Limits = DEFAULT_LIMITS,
        *,
        level: int = 6,
        inner: Framer | None = None,
    ) -> None:
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 9:
            raise ValueError(f"zlib level must be an int from 0 to 9, got {level!r}")
        self._inner: Framer = inner if inner is not None else UnframedFramer(codec, limits)
        self._level = level
        self._max_frame_size = limits.max_frame_size
        self._max_buffered = limits.max_frame_size + _SLACK
        # Created on first use: a compressor costs ~256 KiB, and many connections only read
        # (or write) a few messages.
        self._deflate: zlib._Compress | None = None
        self._inflate: zlib._Decompress | None = None
        # Compressed bytes received and not yet inflated.
        self._pending = bytearray()
        # Compressed bytes inflated since the input last ended on a flush point (or since the
        # start): non-zero at EOF means the peer stopped in the middle of a flush.
        self._unflushed = 0
        # The last (up to 4) compressed bytes inflated, to recognise a flush point.
        self._last = b""
        # The last inflate stopped at its output bound: zlib may hold more output (the rest
        # of a match) even with no input left, so inflating again can make progress.
        self._capped = False
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        # No inflating here: errors belong to next_message, and inflating on demand is what
        # keeps decompressed data bounded by what the caller consumes.
        self._pending += data

    def next_message(self) -> bytes | None:
        if self._error is not None:
            raise self._error
        try:
            return self._next_message()
        except ProtocolError as exc:
            self._error = exc
            raise

    def _next_message(self) -> bytes | None:
        inner = self._inner
        while True:
            message = inner.next_message()
            if message is not None:
                if len(message) > self._max_frame_size:
                    # Inner framers measure messages they are still waiting for; a whole one
                    # that came out of the slack is measured here (the codec's scan checks it
                    # too, but against the codec's own limits, which may be looser).
                    raise LimitExceeded(
                        f"message of {len(message)} bytes exceeds max_frame_size "
                        f"({self._max_frame_size} bytes)"
                    )
                return message
            if not (self._pending or self._capped):
                return None
            inflate = self._inflate
            if inflate is None:
                inflate = self._inflate = zlib.decompressobj()
            if inflate.eof:
                # Apache's C++ writer can finish the stream (Z_FINISH); nothing may follow it.
                if not self._pending:
                    return None
                raise RemoteProtocolError(
                    f"{len(self._pending)} bytes after the end of the zlib stream"
                )
            room = self._max_buffered - inner.buffered
            if room <= 0:  # pragma: no cover - the inner framers refuse before this
                raise LimitExceeded(
                    f"message exceeds max_frame_size ({self._max_frame_size} bytes)"
                )
            pending = self._pending
            try:
                # max_length bounds the output; input beyond it stays in unconsumed_tail.
                data = inflate.decompress(pending, room)
            except zlib.error as exc:
                raise RemoteProtocolError(f"corrupt zlib stream: {exc}") from None
            self._capped = len(data) == room
            left = len(inflate.unused_data) if inflate.eof else len(inflate.unconsumed_tail)
            consumed = len(pending) - left
            if consumed:
                self._note_consumed(pending, consumed, inflate.eof)
                del pending[:consumed]
            if data:
                inner.feed(data)
            elif not consumed:
                return None  # no progress possible without more input

    def _note_consumed(self, pending: bytearray, consumed: int, ended: bool) -> None:
        last = (self._last + bytes(pending[max(0, consumed - 4) : consumed]))[-4:]
        self._last = last
        if ended or last == _FLUSH_MARK:
            self._unflushed = 0
        else:
            self._unflushed += consumed

    def wrap(self, payload: bytes) -> bytes:
        # Every call must be followed by writing its bytes, in call order: the stream carries
        # state from one message to the next (the drivers write each wrap result at once).
        deflate = self._deflate
        if deflate is None:
            deflate = self._deflate = zlib.compressobj(self._level)
        data = self._inner.wrap(payload)
        return deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message: decompressed ones, plus compressed ones
        not yet inflated or received since the peer's last flush.

        The two kinds are different units; what matters is that a clean stop between messages
        reads 0 and a stop inside one does not.
        """
        return self._inner.buffered + len(self._pending) + self._unflushed
