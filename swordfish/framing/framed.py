"""The framed transport: each message is preceded by its length as a big-endian i32.

The length is checked against ``Limits.max_frame_size`` as soon as its four bytes arrive, so a
hostile prefix is refused before any body byte is buffered.
"""

from __future__ import annotations

import struct

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["FramedFramer"]

_LENGTH = struct.Struct(">i")


class FramedFramer:
    """4-byte length prefix framing (Apache TFramedTransport)."""

    name = "framed"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._max_frame_size = limits.max_frame_size
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_message(self) -> bytes | None:
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 4:
            return None
        (length,) = _LENGTH.unpack_from(buf, pos)
        if length < 0:
            raise RemoteProtocolError(f"negative frame length {length}")
        if length > self._max_frame_size:
            raise LimitExceeded(
                f"frame of {length} bytes exceeds max_frame_size ({self._max_frame_size} bytes)"
            )
        start = pos + 4
        end = start + length
        if len(buf) < end:
            return None
        message = bytes(buf[start:end])
        if end > 65536 and end * 2 > len(buf):
            del buf[:end]
            end = 0
        self._pos = end
        return message

    def wrap(self, payload: bytes) -> bytes:
        if len(payload) > self._limits.max_frame_size:
            raise LocalProtocolError(
                f"outgoing message of {len(payload)} bytes exceeds max_frame_size "
                f"({self._limits.max_frame_size} bytes)"
            )
        return _LENGTH.pack(len(payload)) + payload

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
