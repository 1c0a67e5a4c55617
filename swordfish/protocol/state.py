"""Connection states and the transitions between them, as data.

Rule of this file: every change of a connection's state goes through ``transition`` and this
table; the engines never assign a state directly. That keeps "what can happen after what" in
one readable place.

OPEN      normal operation.
DRAINING  (server) no new calls are accepted; calls already read still get their replies.
CLOSED    the stream ended cleanly at a message boundary, or we closed it.
ERROR     the peer broke the protocol (or a limit was hit); the connection must be dropped.
"""

from __future__ import annotations

from enum import Enum

from ..errors import LocalProtocolError

__all__ = ["ConnState", "ConnEvent", "transition"]


class ConnState(Enum):
    OPEN = "open"
    DRAINING = "draining"
    CLOSED = "closed"
    ERROR = "error"


class ConnEvent(Enum):
    DRAIN = "drain"
    PEER_CLOSED = "peer_closed"
    CLOSE = "close"
    PROTOCOL_ERROR = "protocol_error"


_S, _E = ConnState, ConnEvent

TRANSITIONS: dict[tuple[ConnState, ConnEvent], ConnState] = {
    (_S.OPEN, _E.DRAIN): _S.DRAINING,
    (_S.OPEN, _E.PEER_CLOSED): _S.CLOSED,
    (_S.OPEN, _E.CLOSE): _S.CLOSED,
    (_S.OPEN, _E.PROTOCOL_ERROR): _S.ERROR,
    (_S.DRAINING, _E.DRAIN): _S.DRAINING,
    (_S.DRAINING, _E.PEER_CLOSED): _S.CLOSED,
    (_S.DRAINING, _E.CLOSE): _S.CLOSED,
    (_S.DRAINING, _E.PROTOCOL_ERROR): _S.ERROR,
    (_S.CLOSED, _E.CLOSE): _S.CLOSED,
    (_S.CLOSED, _E.PEER_CLOSED): _S.CLOSED,
    (_S.CLOSED, _E.DRAIN): _S.CLOSED,
    (_S.ERROR, _E.CLOSE): _S.ERROR,
    (_S.ERROR, _E.PROTOCOL_ERROR): _S.ERROR,
    (_S.ERROR, _E.PEER_CLOSED): _S.ERROR,
    (_S.ERROR, _E.DRAIN): _S.ERROR,
}


def transition(state: ConnState, event: ConnEvent) -> ConnState:
    """The state after ``event``; an impossible pair is a bug in the caller."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(
            f"cannot {event.value} a connection in state {state.value}"
        ) from None
