"""Sans-IO RPC connection engines: bytes in, events out, bytes to send."""

from .client import ClientConnection
from .events import (
    NEED_DATA,
    Call,
    CallRejected,
    ConnectionClosed,
    Event,
    ExceptionReply,
    Reply,
)
from .server import ServerConnection
from .state import ConnState

__all__ = [
    "ClientConnection",
    "ServerConnection",
    "ConnState",
    "NEED_DATA",
    "Call",
    "CallRejected",
    "ConnectionClosed",
    "Event",
    "ExceptionReply",
    "Reply",
]
