"""The framed transport: each message is preceded by its length as a big-endian i32.

The length is checked against ``Limits.max_frame_size`` as soon as its four bytes arrive, so a
hostile prefix is refused before any body byte is buffered.
"""

from __future__ import annotations

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["FramedFramer"]


class FramedFramer:
    """4-byte length prefix framing (Apache TFramedTransport)."""

    name = "framed"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def _check_prefix(self) -> int | None:
        if len(self._buf) - self._pos < 4:
            return None
        length = int.from_bytes(self._buf[self._pos : self._pos + 4], "big", signed=True)
        if length < 0:
            raise RemoteProtocolError(f"negative frame length {length}")
        if length > self._limits.max_frame_size:
            raise LimitExceeded(
                f"frame of {length} bytes exceeds max_frame_size "
                f"({self._limits.max_frame_size} bytes)"
            )
        return length

    def next_message(self) -> bytes | None:
        length = self._check_prefix()
        if length is None:
            return None
        start = self._pos + 4
        end = start + length
        if len(self._buf) < end:
            return None
        message = bytes(self._buf[start:end])
        self._pos = end
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        return message

    def wrap(self, payload: bytes) -> bytes:
        if len(payload) > self._limits.max_frame_size:
            raise LocalProtocolError(
                f"outgoing message of {len(payload)} bytes exceeds max_frame_size "
                f"({self._limits.max_frame_size} bytes)"
            )
        return len(payload).to_bytes(4, "big") + payload

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
