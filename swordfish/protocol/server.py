"""Server side of a Thrift connection, sans-IO (h11's shape: bytes in, events out).

The engine turns bytes into ``Call`` events and replies into bytes. Calls it can answer by
itself (unknown method, wrong message type) come out as ``CallRejected`` carrying the reply
bytes, so every driver answers them identically. Malformed input raises and moves the
connection to ERROR: the driver closes that one connection and keeps serving the rest.

Multiplexing (Apache ``TMultiplexedProtocol`` / ``TMultiplexedProcessor``): constructed with a
mapping of names to services, the engine serves several services on one connection. Calls are
named ``"<service>:<method>"`` (split at the first ``:``) and ``Call.service`` carries the prefix.
Replies carry the bare method name, as Apache's processors write them (and as C++ clients
check). A name without a prefix, or with a prefix no service is registered under, is answered
like an unknown method: ``TApplicationException(UNKNOWN_METHOD)`` naming the problem. (Apache's
Python and Go processors raise and drop the connection there instead; a typed answer tells the
caller what went wrong and keeps the connection, which is still in sync, usable.)

Per-message codecs (THeader, protocol detection): when the framer has ``message_codec``
(``framing.base.MessageFramer``), each message is decoded with the codec the framer names,
the ``Call`` carries that codec and the message's headers, and the reply (or rejection) is
encoded with the same codec and written with ``framer.wrap(payload, codec=, headers=,
seqid=)``. Whether the framer is such a framer is decided once, here in ``__init__``; a plain
framer's calls carry ``codec=None`` and take the one-codec path unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from ..codec.base import Codec
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..framing.base import Framer, MessageFramer
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from ..model.ttype import MessageType
from .events import NEED_DATA, Call, CallRejected, ConnectionClosed, _NeedData
from .state import ConnEvent, ConnState, transition

__all__ = ["SEPARATOR", "ServerConnection"]

_CALL_TYPES = frozenset((MessageType.CALL, MessageType.ONEWAY))
_OPEN, _DRAINING = ConnState.OPEN, ConnState.DRAINING
_REPLY = MessageType.REPLY
#: Separator between service and method in a multiplexed call name (Apache's ``SEPARATOR``).
SEPARATOR = ":"


class ServerConnection:
    """Parses calls for one service (or several, multiplexed) and encodes their replies.

    service: a ``ServiceSpec``, or a mapping of multiplexed names to specs
        (``{"Calc": calc_spec, "Store": store_spec}``): calls must then be named
        ``"<name>:<method>"``. ``.service`` is the single spec (``None`` when multiplexed) and
        ``.services`` the mapping (``None`` when not).
    """

    def __init__(
        self,
        service: ServiceSpec | Mapping[str, ServiceSpec],
        codec: Codec,
        framer: Framer,
    ) -> None:
        self.service: ServiceSpec | None = None
        self.services: dict[str, ServiceSpec] | None = None
        if isinstance(service, ServiceSpec):
            self.service = service
            self._methods = service.methods
            self._resolver = self._resolve  # bound once: decode_message gets it per message
        else:
            self.services = check_services(service)
            self._methods = {}
            self._resolver = self._resolve_multiplexed
        self.codec = codec
        self.framer = framer
        # A framer that names each message's codec (THeader, detection); None for plain ones.
        self._message_framer: MessageFramer | None = (
            cast(MessageFramer, framer) if hasattr(framer, "message_codec") else None
        )
        # ... and whether it also carries headers (and takes wrap's keyword arguments).
        self._with_headers = hasattr(framer, "message_headers")
        self._state = ConnState.OPEN
        self._eof = False
        self._error: ProtocolError | None = None
        self._method: MethodSpec | None = None
        # Multiplexed only: the prefix of the message being decoded (None: not multiplexed)
        # and, when it names no service, why.
        self._called: str | None = None
        self._miss: str | None = None

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
        self._method = spec = self._methods.get(name)
        if spec is None or mtype not in _CALL_TYPES:
            return None
        return spec.args

    def _resolve_multiplexed(self, name: str, mtype: MessageType) -> type[Struct] | None:
        assert self.services is not None
        self._method = None
        prefix, sep, method = name.partition(SEPARATOR)
        if not sep:
            self._called = None
            self._miss = (
                f"Service name not found in message name: {name!r} "
                f'(a multiplexed server needs "<service>{SEPARATOR}<method>")'
            )
            return None
        self._called = prefix
        service = self.services.get(prefix)
        if service is None:
            self._miss = f"Service name not found: {prefix!r}"
            return None
        self._miss = None
        self._method = spec = service.methods.get(method)
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
        message_framer = self._message_framer
        codec = self.codec if message_framer is None else message_framer.message_codec
        try:
            name, mtype, seqid, body = codec.decode_message(payload, self._resolver)
        except ProtocolError as exc:
            raise self._fail(exc) from exc
        if mtype not in _CALL_TYPES:
            return self._reject(
                seqid,
                name,
                ApplicationExceptionType.INVALID_MESSAGE_TYPE,
                f"expected a call, got message type {int(mtype)}",
                reply=True,
                codec=codec,
            )
        spec = self._method
        if spec is None:
            return self._reject(
                seqid,
                name,
                ApplicationExceptionType.UNKNOWN_METHOD,
                self._miss or f"Unknown method {name!r}",
                reply=mtype == MessageType.CALL,
                codec=codec,
            )
        assert body is not None
        # A oneway method never replies, whatever message type the caller used.
        if message_framer is None:
            return Call(seqid, spec, body, spec.oneway, self._called)
        headers = message_framer.message_headers if self._with_headers else None
        return Call(seqid, spec, body, spec.oneway, self._called, headers, codec)

    def _reject(
        self,
        seqid: int,
        name: str,
        kind: ApplicationExceptionType,
        text: str,
        *,
        reply: bool,
        codec: Codec,
    ) -> CallRejected:
        error = TApplicationException(text, kind)
        data = b""
        if reply:
            reply_name = name
            if self.services is not None:
                # Replies are never prefixed: Apache's TMultiplexedProtocol prefixes only calls.
                reply_name = name.partition(SEPARATOR)[2] or name
            payload = codec.encode_message(reply_name, MessageType.EXCEPTION, seqid, error)
            if self._with_headers:
                assert self._message_framer is not None
                data = self._message_framer.wrap(payload, codec=codec, seqid=seqid)
            else:
                data = self.framer.wrap(payload)
        return CallRejected(seqid, name, error, data)

    def send_reply(
        self, call: Call, result: Struct, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """Bytes answering ``call`` with its result struct.

        headers: reply info headers, sent where the framing carries them (THeader) and
        ignored otherwise.
        """
        method: MethodSpec = call.method
        if call.oneway:
            raise LocalProtocolError(f"{method.name} is oneway: it must not be answered")
        if type(result) is not method.result:
            raise LocalProtocolError(
                f"{method.name}: expected a {method.result.__name__ if method.result else None}"
                f" result, got {type(result).__name__}"
            )
        codec = call.codec
        if codec is None:
            return self.framer.wrap(
                self.codec.encode_message(method.name, _REPLY, call.seqid, result)
            )
        return self._wrap(
            codec.encode_message(method.name, _REPLY, call.seqid, result), call, headers
        )

    def send_exception(
        self,
        call: Call,
        error: TApplicationException,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Bytes answering ``call`` with an application exception (``headers``: as for
        ``send_reply``)."""
        if call.oneway:
            raise LocalProtocolError(f"{call.method.name} is oneway: it must not be answered")
        codec = call.codec or self.codec
        payload = codec.encode_message(call.method.name, MessageType.EXCEPTION, call.seqid, error)
        if call.codec is None:
            return self.framer.wrap(payload)
        return self._wrap(payload, call, headers)

    def _wrap(self, payload: bytes, call: Call, headers: Mapping[str, str] | None) -> bytes:
        framer = self._message_framer
        if framer is None or not self._with_headers:
            # A codec-choosing framer without headers (detection), or a Call made by hand with
            # a codec on a plain connection: the payload is framed as it is.
            return self.framer.wrap(payload)
        return framer.wrap(payload, codec=call.codec, headers=headers, seqid=call.seqid)


def check_services(services: Mapping[str, ServiceSpec]) -> dict[str, ServiceSpec]:
    """A copy of a multiplexed name -> spec mapping; ``ValueError`` names a bad entry."""
    if not isinstance(services, Mapping):
        raise TypeError(f"expected a ServiceSpec or a mapping of them, got {services!r}")
    if not services:
        raise ValueError("a multiplexed server needs at least one service")
    checked: dict[str, ServiceSpec] = {}
    for name, spec in services.items():
        if not isinstance(name, str) or not name or SEPARATOR in name:
            raise ValueError(
                f"multiplexed service name must be a non-empty str without "
                f"{SEPARATOR!r}, got {name!r}"
            )
        if not isinstance(spec, ServiceSpec):
            raise TypeError(f"service {name!r}: expected a ServiceSpec, got {spec!r}")
        checked[name] = spec
    return checked
