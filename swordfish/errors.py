"""One exception tree for the whole framework.

Callers catch by *where* a failure happened, because that decides what is safe to do next:
a ``TransportError`` means the bytes may or may not have reached the peer (retry only idempotent
calls); a ``ProtocolError`` means the conversation is broken (the connection is closed); an
``ApplicationError`` is the peer's answer and the connection stays healthy.
"""

from __future__ import annotations

__all__ = [
    "SwordfishError",
    "TransportError",
    "TransportTimeout",
    "ConnectionClosedError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "LimitExceeded",
    "SeqIdMismatch",
    "ApplicationError",
    "DeadlineExceeded",
    "Rejected",
    "IDLError",
]


class SwordfishError(Exception):
    """Base of every error Swordfish raises on its own behalf."""


class TransportError(SwordfishError):
    """The byte stream failed: connect refused, reset, closed early, or timed out."""


class TransportTimeout(TransportError, TimeoutError):
    """A connect, read or write did not finish in time; the connection was closed."""


class ConnectionClosedError(TransportError):
    """The peer closed the connection before the exchange completed."""


class ProtocolError(SwordfishError):
    """Bytes on the wire do not form a valid Thrift message (or cannot be produced)."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something invalid (unset required field, value out of range)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid: malformed, truncated, or over a limit."""


class LimitExceeded(RemoteProtocolError):
    """A length, count or depth is over the configured ``Limits``; nothing was allocated."""


class SeqIdMismatch(RemoteProtocolError):
    """A reply's sequence id (or method name) matches no call in flight."""

    def __init__(self, message: str, *, expected: object = None, received: object = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.received = received


class ApplicationError(SwordfishError):
    """The peer answered with a Thrift application exception (see ``TApplicationException``)."""


class DeadlineExceeded(SwordfishError, TimeoutError):
    """The call's deadline passed before an answer arrived."""


class Rejected(SwordfishError):
    """The call was refused before it was sent or run (overload, closed client, shutdown)."""


class IDLError(SwordfishError):
    """A .thrift file could not be loaded; the message names file:line:column with a caret."""

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.column = column
