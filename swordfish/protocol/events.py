"""Events a sans-IO connection engine hands to its driver.

Slotted dataclasses, matched by class: a driver loops ``next_event()`` and dispatches on type.
Treat them as immutable. They are not ``frozen=True`` on purpose: a frozen dataclass pays an
``object.__setattr__`` per field on construction, and one event is built per message on the
hottest path of every server (about 10% of an asyncio server's per-call CPU for a ping).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codec.base import Codec
from ..model.application import TApplicationException
from ..model.service import MethodSpec
from ..model.struct import Struct

__all__ = [
    "NEED_DATA",
    "Event",
    "Call",
    "CallRejected",
    "Reply",
    "ExceptionReply",
    "ConnectionClosed",
]


class _NeedData:
    """Sentinel: feed more bytes before asking for the next event."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(slots=True)
class Event:
    """Base of every event."""


@dataclass(slots=True)
class Call(Event):
    """Server side: a decoded call to run. ``oneway`` calls must not be answered.

    service: the multiplexed service name the caller used (``None`` when not multiplexed).
    headers: the request's info headers (THeader) when the framer carries them, else ``None``.
    codec: the codec the call was decoded with when the framer chooses one per message
        (``framing.base.MessageFramer``); the reply is encoded with it. ``None``: the
        connection's codec.
    """

    seqid: int
    method: MethodSpec
    args: Struct
    oneway: bool = False
    service: str | None = None
    headers: dict[str, str] | None = None
    codec: Codec | None = None


@dataclass(slots=True)
class CallRejected(Event):
    """Server side: a call the engine answered itself (unknown method, bad message type).

    ``data`` holds the exception reply to write (empty when the call was oneway).
    """

    seqid: int
    name: str
    error: TApplicationException
    data: bytes


@dataclass(slots=True)
class Reply(Event):
    """Client side: the result struct of a call (field ``success`` or a declared exception).

    headers: the reply's info headers (THeader) when the framer carries them, else ``None``.
    """

    seqid: int
    method: MethodSpec
    result: Struct
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class ExceptionReply(Event):
    """Client side: the server answered the call with a ``TApplicationException``.

    headers: the reply's info headers (THeader) when the framer carries them, else ``None``.
    """

    seqid: int
    method: MethodSpec
    error: TApplicationException
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class ConnectionClosed(Event):
    """The peer closed the stream at a message boundary (a clean close)."""
