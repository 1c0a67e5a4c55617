"""The codec contract: objects <-> bytes, no I/O.

A codec knows one protocol's byte layout (binary, compact, ...). The pure-Python and C
implementations of a protocol satisfy this same interface and must produce identical bytes,
objects and errors. Every length read from input is checked against ``Limits`` before anything
is allocated; malformed input raises ``RemoteProtocolError`` (``LimitExceeded`` for limits),
never hangs and never returns partial data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, TypeVar

from ..limits import Limits
from ..model.struct import Struct
from ..model.ttype import MessageType

__all__ = ["NEED_DATA", "BodyTypeResolver", "Codec", "Message"]

S = TypeVar("S", bound=Struct)

#: ``scan_message`` result: the buffer does not yet hold a complete message.
NEED_DATA = -1


class Message(NamedTuple):
    """A decoded message envelope and its body (``None`` when the resolver skipped it)."""

    name: str
    mtype: MessageType
    seqid: int
    body: Struct | None


#: Given (method name, message type) from the envelope, return the struct class of the body,
#: or ``None`` to skip the body (it is still checked to be well-formed and within limits).
BodyTypeResolver = Callable[[str, MessageType], "type[Struct] | None"]


class Codec(Protocol):
    """One Thrift protocol's serialization (binary, compact, ...)."""

    #: Short name used in APIs and the CLI ("binary", "compact").
    name: str
    #: THeader protocol id (binary 0, compact 2).
    protocol_id: int
    limits: Limits

    def encode_struct(self, obj: Struct) -> bytes:
        """Serialize a struct (no message envelope). Unset required field -> LocalProtocolError."""
        ...

    def decode_struct(self, cls: type[S], data: bytes | bytearray | memoryview) -> S:
        """Deserialize one struct occupying all of ``data`` (trailing bytes are an error)."""
        ...

    def encode_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> bytes:
        """Serialize an envelope (name, type, seqid) followed by ``body``."""
        ...

    def decode_message(
        self, data: bytes | bytearray | memoryview, body_type: BodyTypeResolver
    ) -> Message:
        """Deserialize one whole message occupying all of ``data``."""
        ...

    def scan_message(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        """Length in bytes of the complete message starting at ``start``, or ``NEED_DATA``.

        Used by the unframed ("buffered") transport to find message boundaries without decoding
        objects. Raises ``RemoteProtocolError`` / ``LimitExceeded`` as soon as the bytes seen so
        far are invalid or over a limit (so a hostile peer cannot make us buffer forever).
        """
        ...
