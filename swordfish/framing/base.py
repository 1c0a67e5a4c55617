"""The framing contract: a byte stream <-> whole messages, no I/O.

A framer is fed whatever bytes arrived and hands back complete message payloads (what a
codec decodes). Lengths are checked against ``Limits.max_frame_size`` before buffering a body.

Optional part of the contract: a framer may choose the codec per message (``MessageFramer``).
THeader names a protocol per frame and carries info headers; a server-side detection framer
learns the protocol from the first bytes. Such a framer has a ``message_codec`` attribute; the
engines (``protocol.ServerConnection`` / ``ClientConnection``) check for it once, when they
are built, and then:

- decode each message ``next_message()`` returned with ``framer.message_codec`` (read right
  after ``next_message``), and answer a call with the codec it was decoded with
  (``Call.codec``);
- if the framer also has ``message_headers`` (THeader), hand them on with the event
  (``Call.headers`` / ``Reply.headers``) and write through
  ``framer.wrap(payload, codec=..., headers=..., seqid=...)`` (headers may be ``None``); a
  framer without ``message_headers`` (a detection framer that only picks the codec) is
  written through plain ``wrap(payload)``.

A plain framer pays nothing for this: the engines keep their one-codec path for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..codec.base import Codec

__all__ = ["Framer", "MessageFramer"]


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


class MessageFramer(Framer, Protocol):
    """A framer that picks the codec per message and may carry string headers (THeader,
    protocol detection). See the module docstring for how the engines use it."""

    #: The codec of the message ``next_message`` returned last (valid until the next call).
    message_codec: Codec
    #: Its headers (a fresh dict per message; empty when the format has none).
    message_headers: dict[str, str]

    def wrap(
        self,
        payload: bytes,
        *,
        codec: Codec | None = None,
        headers: Mapping[str, str] | None = None,
        seqid: int = 0,
    ) -> bytes:
        """The bytes for one outgoing message encoded with ``codec`` (``None``: the framer's
        default), carrying ``headers`` where the format can, for message ``seqid``."""
        ...
