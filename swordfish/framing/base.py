"""The framing contract: a byte stream <-> whole messages, no I/O.

A framer is fed whatever bytes arrived and hands back complete message payloads (what a
codec decodes). Lengths are checked against ``Limits.max_frame_size`` before buffering a body.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Framer"]


class Framer(Protocol):
    """Splits an incoming stream into messages and wraps outgoing ones."""

    #: Short name used in APIs and the CLI ("buffered", "framed").
    name: str

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        ...

    def next_message(self) -> bytes | None:
        """Pop one complete message payload, or ``None`` if more bytes are needed.

        Raises ``RemoteProtocolError`` / ``LimitExceeded`` for malformed or oversized input.
        """
        ...

    def wrap(self, payload: bytes) -> bytes:
        """The bytes to write for one outgoing message payload."""
        ...

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message (non-zero at EOF = truncated)."""
        ...
