"""The engines with a per-message-codec framer (THeader): codec chosen per message, info
headers on events in both directions, replies in the caller's codec, plain path unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from swordfish.codec import get_codec
from swordfish.framing import HeaderFramer, make_framer, wire_format
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.protocol import (
    NEED_DATA,
    Call,
    CallRejected,
    ClientConnection,
    ExceptionReply,
    Reply,
    ServerConnection,
)
from tests.protocol.calc_spec import CALC, SMALL, add_args, add_result

BINARY = get_codec("binary")
COMPACT = get_codec("compact")


def _pair(
    client_protocol: str, transport: str = "buffered"
) -> tuple[ClientConnection, ServerConnection]:
    client_wire = wire_format(client_protocol, transport)
    server_wire = wire_format("header", transport)  # binary by default: clients choose
    client = ClientConnection(CALC, client_wire.codec, client_wire.new_framer())
    server = ServerConnection(CALC, server_wire.codec, server_wire.new_framer(server=True))
    return client, server


def _call(server: ServerConnection, data: bytes, bytewise: bool = False) -> Any:
    if bytewise:
        events = []
        for i in range(len(data)):
            server.receive_data(data[i : i + 1])
            event = server.next_event()
            if event is not NEED_DATA:
                events.append(event)
        # One event; over zlib it may come before the flush marker's last bytes arrive.
        assert len(events) == 1
        return events[0]
    server.receive_data(data)
    return server.next_event()


def _reply(client: ClientConnection, data: bytes) -> Any:
    client.receive_data(data)
    return client.next_event()


@pytest.mark.parametrize("protocol", ["header", "header-compact"])
@pytest.mark.parametrize("transport", ["buffered", "framed", "zlib"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_headers_both_ways_and_reply_in_callers_codec(
    protocol: str, transport: str, bytewise: bool
) -> None:
    client, server = _pair(protocol, transport)
    seqid, data = client.send_call("add", add_args(1, 2), {"trace": "t-1", "ü": "ö"})
    call = _call(server, data, bytewise)
    assert type(call) is Call
    assert call.headers == {"trace": "t-1", "ü": "ö"}
    want = "compact" if protocol == "header-compact" else "binary"
    assert call.codec is not None and call.codec.name == want
    out = server.send_reply(call, add_result(success=3), {"served-by": "engine"})
    # The reply frame names the caller's protocol id.
    if transport == "buffered":
        framer = HeaderFramer(BINARY)
        framer.feed(out)
        assert framer.next_message() is not None
        assert framer.message_codec.name == want
        assert framer.message_headers == {"served-by": "engine"}
    reply = _reply(client, out)
    assert type(reply) is Reply and reply.seqid == seqid
    assert reply.result == add_result(success=3)
    assert reply.headers == {"served-by": "engine"}


def test_exception_reply_carries_headers() -> None:
    client, server = _pair("header-compact")
    _, data = client.send_call("add", add_args(1, 2))
    call = _call(server, data)
    assert call.headers == {}
    error = TApplicationException("nope", ApplicationExceptionType.INTERNAL_ERROR)
    reply = _reply(client, server.send_exception(call, error, {"why": "test"}))
    assert type(reply) is ExceptionReply
    assert reply.error.message == "nope" and reply.headers == {"why": "test"}


def test_rejection_is_answered_in_the_callers_codec() -> None:
    """An unknown method on a header server is answered in a header frame, compact inside."""
    client_wire = wire_format("header-compact", "buffered")
    client = ClientConnection(CALC, client_wire.codec, client_wire.new_framer())
    server_wire = wire_format("header", "buffered")
    server = ServerConnection(SMALL, server_wire.codec, server_wire.new_framer(server=True))
    seqid, data = client.send_call("add", add_args(1, 2))
    rejected = _call(server, data)
    assert type(rejected) is CallRejected
    reply = _reply(client, rejected.data)
    assert type(reply) is ExceptionReply and reply.seqid == seqid
    assert reply.error.type == ApplicationExceptionType.UNKNOWN_METHOD


@pytest.mark.parametrize("protocol", ["binary", "compact"])
@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_plain_client_of_a_header_server(protocol: str, transport: str) -> None:
    codec = get_codec(protocol)
    client = ClientConnection(CALC, codec, make_framer(transport, codec))
    server_wire = wire_format("header", "buffered")
    server = ServerConnection(CALC, server_wire.codec, server_wire.new_framer(server=True))
    seqid, data = client.send_call("add", add_args(2, 5), {"dropped": "yes"})
    call = _call(server, data)
    assert type(call) is Call and call.codec is not None and call.codec.name == protocol
    assert call.headers == {}
    reply = _reply(client, server.send_reply(call, add_result(success=7), {"x": "y"}))
    assert type(reply) is Reply and reply.seqid == seqid and reply.result.success == 7
    assert reply.headers is None  # a plain framer carries none


def test_plain_framer_keeps_the_one_codec_path() -> None:
    client = ClientConnection(CALC, BINARY, make_framer("framed", BINARY))
    server = ServerConnection(CALC, BINARY, make_framer("framed", BINARY))
    _, data = client.send_call("add", add_args(1, 1), {"ignored": "1"})
    call = _call(server, data)
    assert call.codec is None and call.headers is None
    reply = _reply(client, server.send_reply(call, add_result(success=2), {"ignored": "2"}))
    assert reply.headers is None and reply.result.success == 2


class CodecOnlyFramer:
    """The optional contract without headers (what a detection framer implements): picks
    the codec from the first byte, frames like "buffered", takes plain ``wrap(payload)``."""

    name = "codec-only"

    def __init__(self) -> None:
        self.inner: Any = None
        self.message_codec: Any = None
        self.pending = b""

    def feed(self, data: bytes) -> None:
        if self.inner is None:
            self.message_codec = COMPACT if data[:1] == b"\x82" else BINARY
            self.inner = make_framer("buffered", self.message_codec)
        self.inner.feed(data)

    def next_message(self) -> bytes | None:
        return None if self.inner is None else self.inner.next_message()

    def wrap(self, payload: bytes) -> bytes:
        return payload

    @property
    def buffered(self) -> int:
        return 0 if self.inner is None else self.inner.buffered


@pytest.mark.parametrize("protocol", ["binary", "compact"])
def test_codec_choosing_framer_without_headers(protocol: str) -> None:
    codec = get_codec(protocol)
    client = ClientConnection(CALC, codec, make_framer("buffered", codec))
    server = ServerConnection(CALC, BINARY, CodecOnlyFramer())  # type: ignore[arg-type]
    _, data = client.send_call("add", add_args(4, 4))
    call = _call(server, data)
    assert type(call) is Call and call.codec is not None and call.codec.name == protocol
    assert call.headers is None
    reply = _reply(client, server.send_reply(call, add_result(success=8), {"dropped": "1"}))
    assert type(reply) is Reply and reply.result.success == 8
