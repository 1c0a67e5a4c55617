"""What travels through a filter stack: a ``Request`` in, the method's result struct out.

A request is the decoded call (method spec + args struct) plus what filters need to make
decisions about it: string headers and a ``Context`` (deadline, peer, seqid, free-form
attributes). The response is the method's *result struct* exactly as it goes on the wire
(``success`` or one declared exception set), or ``None`` for a oneway call; an application
failure is raised as ``TApplicationException``. Keeping the wire shape means a filter can look
at a declared exception without the stub having raised it yet, and serialization stays a
driver concern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ..model.service import MethodSpec
from ..model.struct import Struct

__all__ = ["Context", "Request", "Response"]

#: A method's result struct; ``None`` for oneway calls (they have no reply).
Response: TypeAlias = Struct | None


@dataclass(slots=True)
class Context:
    """Per-call facts that are not arguments.

    deadline: absolute time, in the *driver's* clock (``time.monotonic()`` for the bundled
        drivers), after which the caller no longer wants an answer; ``None`` = no deadline.
        Sans-IO code never reads a clock itself: it compares against a ``now`` it is given.
    peer: the remote address as ``"host:port"`` when a driver knows it.
    seqid: the wire sequence id, when a driver has assigned one.
    attributes: free-form values filters share with each other (trace ids, retry counts).
    reply_headers: headers of the reply. On a server: what the handler or a filter wants sent
        back (``set_reply_header``, or assign a dict); on a client: what the reply carried,
        set by the driver once the call returns. Only THeader connections carry them; ``None``
        when there are none.
    """

    deadline: float | None = None
    peer: str | None = None
    seqid: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    reply_headers: dict[str, str] | None = None

    def set_reply_header(self, key: str, value: str) -> None:
        """Add one reply header (creating the dict on first use)."""
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"reply headers are str: str, got {key!r}: {value!r}")
        headers = self.reply_headers
        if headers is None:
            headers = self.reply_headers = {}
        headers[key] = value

    def time_left(self, now: float) -> float | None:
        """Seconds until the deadline (may be negative), or ``None`` without a deadline."""
        return None if self.deadline is None else self.deadline - now


@dataclass(slots=True)
class Request:
    """One call on its way through a stack (client side) or into a handler (server side).

    service: on a multiplexed server, the service name the caller used (the ``"Calc"`` of
        ``"Calc:add"``); ``None`` when the call was not multiplexed.
    headers: string headers of the call. On a server, the info headers the request carried
        (THeader); on a client, what is sent with it (a filter may add to them). Reply headers
        travel on ``context.reply_headers``.
    """

    method: MethodSpec
    args: Struct
    headers: dict[str, str] = field(default_factory=dict)
    context: Context = field(default_factory=Context)
    service: str | None = None

    @property
    def name(self) -> str:
        """The method name (``"add"``)."""
        return self.method.name

    @property
    def oneway(self) -> bool:
        """True when no reply will be sent (the response is ``None``)."""
        return self.method.oneway

    def __repr__(self) -> str:
        return f"Request({self.method.service}.{self.method.name}, {self.args!r})"
