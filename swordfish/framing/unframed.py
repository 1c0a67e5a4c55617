"""The "buffered" transport: messages back to back with no length prefix.

Boundaries are found by asking the codec to scan the buffered bytes (``scan_message``), which
walks the message structure without building objects. Apache's TBufferedTransport and
thriftpy2's buffered transport put exactly these bytes on the wire.
"""

from __future__ import annotations

from ..codec.base import NEED_DATA, Codec
from ..errors import LimitExceeded
from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["UnframedFramer"]


class UnframedFramer:
    """Finds message boundaries with ``codec.scan_message``.

    A message that arrives in many pieces is rescanned from its start on each piece, so its cost
    is quadratic in the number of pieces; ``max_frame_size`` bounds it. Prefer the framed
    transport for large messages.
    """

    name = "buffered"

    def __init__(self, codec: Codec, limits: Limits = DEFAULT_LIMITS) -> None:
        self._codec = codec
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0
        # Length of the buffer when the last scan answered NEED_DATA: no new bytes, no rescan.
        self._scanned_to = -1

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_message(self) -> bytes | None:
        available = len(self._buf) - self._pos
        if available == 0 or len(self._buf) == self._scanned_to:
            return None
        length = self._codec.scan_message(self._buf, self._pos)
        if length == NEED_DATA:
            if available > self._limits.max_frame_size:
                raise LimitExceeded(
                    f"message exceeds max_frame_size ({self._limits.max_frame_size} bytes)"
                )
            self._scanned_to = len(self._buf)
            return None
        start = self._pos
        self._pos += length
        self._scanned_to = -1
        message = bytes(self._buf[start : self._pos])
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            # Compact occasionally so consumed bytes do not pile up in front.
            del self._buf[: self._pos]
            self._pos = 0
        return message

    def wrap(self, payload: bytes) -> bytes:
        return payload

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
