"""Server side of a Thrift connection, sans-IO (h11's shape: bytes in, events out).

The engine turns bytes into ``Call`` events and replies into bytes. Calls it can answer by
itself (unknown method, wrong message type) come out as ``CallRejected`` carrying the reply
bytes, so every driver answers them identically. Malformed input raises and moves the
connection to ERROR: the driver closes that one connection and keeps serving the rest.
"""

from __future__ import annotations

from ..codec.base import Codec
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..framing.base import Framer
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from ..model.ttype import MessageType
from .events import NEED_DATA, Call, CallRejected, ConnectionClosed, _NeedData
from .state import ConnEvent, ConnState, transition

__all__ = ["ServerConnection"]

_CALL_TYPES = frozenset((MessageType.CALL, MessageType.ONEWAY))
_OPEN, _DRAINING = ConnState.OPEN, ConnState.DRAINING
_REPLY = MessageType.REPLY


class ServerConnection:
    """Parses calls for one service and encodes their replies."""

    def __init__(self, service: ServiceSpec, codec: Codec, framer: Framer) -> None:
        self.service = service
        self.codec = codec
        self.framer = framer
        self._state = ConnState.OPEN
        self._eof = False
        self._error: ProtocolError | None = None
        self._method: MethodSpec | None = None
        self._resolver = self._resolve  # bound once: decode_message gets it per message

    @property
    def state(self) -> ConnState:
        return self._state

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the stream; ``b""`` means the peer closed it."""
        if not data:
            self._eof = True
        elif self._state is _OPEN or self._state is _DRAINING:
            self.framer.feed(data)

    def close(self) -> None:
        self._state = transition(self._state, ConnEvent.CLOSE)

    def _fail(self, error: ProtocolError) -> ProtocolError:
        self._error = error
        self._state = transition(self._state, ConnEvent.PROTOCOL_ERROR)
        return error

    def _resolve(self, name: str, mtype: MessageType) -> type[Struct] | None:
        # Remembered for next_event, which would otherwise look the method up a second time.
        self._method = spec = self.service.methods.get(name)
        if spec is None or mtype not in _CALL_TYPES:
            return None
        return spec.args

    def next_event(self) -> Call | CallRejected | ConnectionClosed | _NeedData:
        """The next call, a call answered by the engine, ``ConnectionClosed``, or NEED_DATA."""
        state = self._state
        if state is not _OPEN and state is not _DRAINING:
            if state is ConnState.ERROR:
                assert self._error is not None
                raise self._error
            return ConnectionClosed()
        try:
            payload = self.framer.next_message()
        except ProtocolError as exc:
            raise self._fail(exc) from exc
        if payload is None:
            if not self._eof:
                return NEED_DATA
            if self.framer.buffered:
                raise self._fail(
                    RemoteProtocolError(
                        f"connection closed in the middle of a message "
                        f"({self.framer.buffered} bytes of it received)"
                    )
                )
            self._state = transition(self._state, ConnEvent.PEER_CLOSED)
            return ConnectionClosed()
        try:
            name, mtype, seqid, body = self.codec.decode_message(payload, self._resolver)
        except ProtocolError as exc:
            raise self._fail(exc) from exc
        if mtype not in _CALL_TYPES:
            return self._reject(
                seqid,
                name,
                ApplicationExceptionType.INVALID_MESSAGE_TYPE,
                f"expected a call, got message type {int(mtype)}",
                reply=True,
            )
        spec = self._method
        if spec is None:
            return self._reject(
                seqid,
                name,
                ApplicationExceptionType.UNKNOWN_METHOD,
                f"Unknown method {name!r}",
                reply=mtype == MessageType.CALL,
            )
        assert body is not None
        # A oneway method never replies, whatever message type the caller used.
        return Call(seqid, spec, body, spec.oneway)

    def _reject(
        self, seqid: int, name: str, kind: ApplicationExceptionType, text: str, *, reply: bool
    ) -> CallRejected:
        error = TApplicationException(text, kind)
        data = b""
        if reply:
            payload = self.codec.encode_message(name, MessageType.EXCEPTION, seqid, error)
            data = self.framer.wrap(payload)
        return CallRejected(seqid, name, error, data)

    def send_reply(self, call: Call, result: Struct) -> bytes:
        """Bytes answering ``call`` with its result struct."""
        method: MethodSpec = call.method
        if call.oneway:
            raise LocalProtocolError(f"{method.name} is oneway: it must not be answered")
        if type(result) is not method.result:
            raise LocalProtocolError(
                f"{method.name}: expected a {method.result.__name__ if method.result else None}"
                f" result, got {type(result).__name__}"
            )
        payload = self.codec.encode_message(method.name, _REPLY, call.seqid, result)
        return self.framer.wrap(payload)

    def send_exception(self, call: Call, error: TApplicationException) -> bytes:
        """Bytes answering ``call`` with an application exception."""
        if call.oneway:
            raise LocalProtocolError(f"{call.method.name} is oneway: it must not be answered")
        payload = self.codec.encode_message(
            call.method.name, MessageType.EXCEPTION, call.seqid, error
        )
        return self.framer.wrap(payload)
