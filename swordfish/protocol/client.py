"""Client side of a Thrift connection, sans-IO (h11's shape: bytes in, events out).

The engine owns what must be identical for every driver: seqid allocation, the table of calls
in flight, and the checks that a reply belongs to a call we made (same seqid, same method
name). Drivers only move bytes and wait. Any protocol error moves the connection to ERROR and
the driver must drop it: after a bad reply nothing later on the stream can be trusted.

Per-message codecs (THeader): when the framer has ``message_codec``
(``framing.base.MessageFramer``), calls are written with ``framer.wrap(payload, codec=,
headers=, seqid=)`` (so ``send_call`` can carry info headers), each reply is decoded with the
codec the framer names and the reply's headers come out on ``Reply.headers`` /
``ExceptionReply.headers``. Decided once in ``__init__``; plain framers keep the one-codec path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import cast

from ..codec.base import Codec
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError, SeqIdMismatch
from ..framing.base import Framer, MessageFramer
from ..model.application import TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from ..model.ttype import MessageType
from .events import NEED_DATA, ConnectionClosed, ExceptionReply, Reply, _NeedData
from .state import ConnEvent, ConnState, transition

__all__ = ["ClientConnection"]

_MAX_SEQID = 0x7FFFFFFF
# Calls given up on (timeout, cancellation) whose replies may still arrive; bounded so a
# server that never answers cannot grow the table without limit.
_MAX_FORGOTTEN = 65536


class ClientConnection:
    """Seqids, the in-flight table and reply checks for one client connection.

    service_name: when set, calls are sent as ``"<service_name>:<method>"`` (multiplexed).
    """

    def __init__(
        self,
        service: ServiceSpec,
        codec: Codec,
        framer: Framer,
        *,
        service_name: str | None = None,
    ) -> None:
        self.service = service
        self.codec = codec
        self.framer = framer
        # A framer that names each message's codec and carries headers (THeader); None for
        # plain ones (a client has no use for a codec-choosing framer without headers).
        self._message_framer: MessageFramer | None = (
            cast(MessageFramer, framer)
            if hasattr(framer, "message_codec") and hasattr(framer, "message_headers")
            else None
        )
        self.service_name = service_name
        self._state = ConnState.OPEN
        self._next_seqid = 1
        self._in_flight: dict[int, MethodSpec] = {}
        self._forgotten: OrderedDict[int, MethodSpec] = OrderedDict()
        self._eof = False
        self._error: ProtocolError | None = None

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def in_flight(self) -> int:
        """Calls sent whose replies have not arrived (forgotten calls excluded)."""
        return len(self._in_flight)

    def pending_seqids(self) -> list[int]:
        """Seqids of calls still waiting, so a driver can fail them when the stream dies."""
        return list(self._in_flight)

    def _method(self, method: str | MethodSpec) -> MethodSpec:
        if isinstance(method, MethodSpec):
            return method
        spec = self.service.methods.get(method)
        if spec is None:
            raise LocalProtocolError(f"service {self.service.name} has no method {method!r}")
        return spec

    def _allocate_seqid(self) -> int:
        for _ in range(len(self._in_flight) + len(self._forgotten) + 1):
            seqid = self._next_seqid
            self._next_seqid = 1 if seqid >= _MAX_SEQID else seqid + 1
            if seqid not in self._in_flight and seqid not in self._forgotten:
                return seqid
        raise LocalProtocolError("no free sequence id")  # pragma: no cover - 2**31 in flight

    def send_call(
        self,
        method: str | MethodSpec,
        args: Struct,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Encode a call. Returns (seqid, bytes to write). Oneway calls are not tracked.

        headers: info headers for the call, sent where the framing carries them (THeader)
        and ignored otherwise.
        """
        if self._state is not ConnState.OPEN:
            raise LocalProtocolError(f"cannot send on a connection in state {self._state.value}")
        spec = self._method(method)
        if type(args) is not spec.args:
            raise LocalProtocolError(
                f"{spec.name}: expected {spec.args.__name__} arguments, got {type(args).__name__}"
            )
        seqid = self._allocate_seqid()
        name = f"{self.service_name}:{spec.name}" if self.service_name else spec.name
        mtype = MessageType.ONEWAY if spec.oneway else MessageType.CALL
        payload = self.codec.encode_message(name, mtype, seqid, args)
        message_framer = self._message_framer
        if message_framer is None:
            data = self.framer.wrap(payload)
        else:
            data = message_framer.wrap(payload, codec=self.codec, headers=headers, seqid=seqid)
        if not spec.oneway:
            self._in_flight[seqid] = spec
        return seqid, data

    def forget(self, seqid: int) -> None:
        """The caller gave up on ``seqid``: drop its reply quietly if it still comes."""
        spec = self._in_flight.pop(seqid, None)
        if spec is None:
            return
        self._forgotten[seqid] = spec
        while len(self._forgotten) > _MAX_FORGOTTEN:
            self._forgotten.popitem(last=False)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the stream; ``b""`` means the peer closed it."""
        if not data:
            self._eof = True
        elif self._state in (ConnState.OPEN, ConnState.DRAINING):
            self.framer.feed(data)

    def close(self) -> None:
        """Mark the connection closed by us; later sends fail."""
        self._state = transition(self._state, ConnEvent.CLOSE)

    def _fail(self, error: ProtocolError) -> ProtocolError:
        self._error = error
        self._state = transition(self._state, ConnEvent.PROTOCOL_ERROR)
        return error

    def _resolve(self, name: str, mtype: MessageType) -> type[Struct] | None:
        if mtype == MessageType.EXCEPTION:
            return TApplicationException
        if mtype == MessageType.REPLY:
            spec = self.service.methods.get(self._bare(name))
            return spec.result if spec is not None else None
        return None

    def _bare(self, name: str) -> str:
        """``name`` without our multiplexing prefix: servers answer with the bare method name
        (Apache's processors) or echo the prefixed one (a plain server rejecting the call)."""
        prefix = self.service_name
        if prefix and name.startswith(prefix) and name[len(prefix) : len(prefix) + 1] == ":":
            return name[len(prefix) + 1 :]
        return name

    def next_event(self) -> Reply | ExceptionReply | ConnectionClosed | _NeedData:
        """The next reply, ``ConnectionClosed`` at a clean EOF, or ``NEED_DATA``."""
        if self._state is ConnState.ERROR:
            assert self._error is not None
            raise self._error
        while True:
            if self._state is ConnState.CLOSED:
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
            message_framer = self._message_framer
            codec = self.codec if message_framer is None else message_framer.message_codec
            try:
                message = codec.decode_message(payload, self._resolve)
            except ProtocolError as exc:
                raise self._fail(exc) from exc
            event = self._match(message.name, message.mtype, message.seqid, message.body)
            if event is not None:
                if message_framer is not None:
                    event.headers = message_framer.message_headers
                return event

    def _match(
        self, name: str, mtype: MessageType, seqid: int, body: Struct | None
    ) -> Reply | ExceptionReply | None:
        if mtype not in (MessageType.REPLY, MessageType.EXCEPTION):
            raise self._fail(
                RemoteProtocolError(f"expected a reply, got message type {int(mtype)} for {name!r}")
            )
        spec = self._in_flight.pop(seqid, None)
        if spec is None:
            forgotten = self._forgotten.pop(seqid, None)
            if forgotten is not None and forgotten.name == self._bare(name):
                return None  # a late reply to a call the caller gave up on
            expected = sorted(self._in_flight)
            raise self._fail(
                SeqIdMismatch(
                    f"reply {name!r} has seqid {seqid}, which matches no call in flight "
                    f"(waiting for {expected or 'nothing'})",
                    expected=expected,
                    received=seqid,
                )
            )
        if spec.name != self._bare(name):
            raise self._fail(
                SeqIdMismatch(
                    f"reply for seqid {seqid} names method {name!r}, but the call was "
                    f"{spec.name!r}",
                    expected=spec.name,
                    received=name,
                )
            )
        if mtype == MessageType.EXCEPTION:
            assert isinstance(body, TApplicationException)
            return ExceptionReply(seqid, spec, body)
        assert body is not None
        return Reply(seqid, spec, body)
