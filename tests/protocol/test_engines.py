"""Client and server engines back to back (h11's ConnectionPair idea), no sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swordfish.codec import get_codec
from swordfish.errors import (
    LimitExceeded,
    LocalProtocolError,
    RemoteProtocolError,
    SeqIdMismatch,
)
from swordfish.framing import make_framer
from swordfish.limits import Limits
from swordfish.model import ApplicationExceptionType, MessageType, ServiceSpec
from swordfish.protocol import (
    NEED_DATA,
    Call,
    CallRejected,
    ClientConnection,
    ConnectionClosed,
    ConnState,
    ExceptionReply,
    Reply,
    ServerConnection,
)

from .calc_spec import CALC, SMALL, Oops, add_args, add_result, ping_args, zip_args

COMBOS = [(p, t) for p in ("binary", "compact") for t in ("buffered", "framed")]


class Pair:
    def __init__(
        self,
        protocol: str,
        transport: str,
        client_service: ServiceSpec = CALC,
        server_service: ServiceSpec = CALC,
        limits: Limits | None = None,
    ) -> None:
        codec = get_codec(protocol, limits)
        self.client = ClientConnection(client_service, codec, make_framer(transport, codec, limits))
        self.server = ServerConnection(server_service, codec, make_framer(transport, codec, limits))

    def server_events(self, data: bytes, *, byte_at_a_time: bool = False) -> list[object]:
        return _collect(self.server, data, byte_at_a_time)

    def client_events(self, data: bytes, *, byte_at_a_time: bool = False) -> list[object]:
        return _collect(self.client, data, byte_at_a_time)


def _chunks(data: bytes, byte_at_a_time: bool) -> Iterator[bytes]:
    if byte_at_a_time:
        for i in range(len(data)):
            yield data[i : i + 1]
    else:
        yield data


def _collect(
    engine: ClientConnection | ServerConnection, data: bytes, byte_at_a_time: bool
) -> list[object]:
    events: list[object] = []
    for chunk in _chunks(data, byte_at_a_time):
        engine.receive_data(chunk)
        while (event := engine.next_event()) is not NEED_DATA:
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return events
    return events


@pytest.fixture(params=COMBOS, ids=["-".join(c) for c in COMBOS])
def pair(request: pytest.FixtureRequest) -> Pair:
    return Pair(*request.param)


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_call_and_reply(pair: Pair, byte_at_a_time: bool) -> None:
    seqid, data = pair.client.send_call("add", add_args(a=1, b=2))
    assert pair.client.in_flight == 1
    (call,) = pair.server_events(data, byte_at_a_time=byte_at_a_time)
    assert isinstance(call, Call)
    assert (call.seqid, call.method.name, call.args, call.oneway) == (
        seqid,
        "add",
        add_args(a=1, b=2),
        False,
    )
    reply_bytes = pair.server.send_reply(call, add_result(success=3))
    (reply,) = pair.client_events(reply_bytes, byte_at_a_time=byte_at_a_time)
    assert isinstance(reply, Reply)
    assert (reply.seqid, reply.method.name, reply.result) == (seqid, "add", add_result(success=3))
    assert pair.client.in_flight == 0


def test_out_of_order_replies_are_matched_by_seqid(pair: Pair) -> None:
    s1, d1 = pair.client.send_call("add", add_args(a=1, b=1))
    s2, d2 = pair.client.send_call("ping", ping_args())
    c1, c2 = pair.server_events(d1 + d2)
    assert isinstance(c1, Call) and isinstance(c2, Call)
    from .calc_spec import ping_result

    out = pair.server.send_reply(c2, ping_result()) + pair.server.send_reply(
        c1, add_result(oops=Oops(why="no"))
    )
    r2, r1 = pair.client_events(out)
    assert isinstance(r1, Reply) and isinstance(r2, Reply)
    assert (r2.seqid, r2.method.name) == (s2, "ping")
    assert (r1.seqid, r1.result) == (s1, add_result(oops=Oops(why="no")))


def test_seqids_are_distinct_and_positive(pair: Pair) -> None:
    ids = [pair.client.send_call("ping", ping_args())[0] for _ in range(100)]
    assert len(set(ids)) == 100 and min(ids) > 0


def test_oneway_is_not_tracked_and_not_answered(pair: Pair) -> None:
    _, data = pair.client.send_call("zip", zip_args(n=5))
    assert pair.client.in_flight == 0
    (call,) = pair.server_events(data)
    assert isinstance(call, Call) and call.oneway
    with pytest.raises(LocalProtocolError, match="oneway"):
        pair.server.send_reply(call, add_result(success=1))


def test_unknown_method_answered_by_engine(pair: Pair) -> None:
    small = Pair(pair.client.codec.name, pair.client.framer.name, CALC, SMALL)
    seqid, data = small.client.send_call("add", add_args(a=1, b=2))
    (rejected,) = small.server_events(data)
    assert isinstance(rejected, CallRejected)
    assert rejected.error.type == ApplicationExceptionType.UNKNOWN_METHOD
    (reply,) = small.client_events(rejected.data)
    assert isinstance(reply, ExceptionReply)
    assert reply.seqid == seqid
    assert reply.error.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert "add" in reply.error.message
    # The connection stays usable after the rejection.
    _, data = small.client.send_call("ping", ping_args())
    (call,) = small.server_events(data)
    assert isinstance(call, Call) and call.method.name == "ping"


def test_unknown_oneway_gets_no_reply(pair: Pair) -> None:
    small = Pair(pair.client.codec.name, pair.client.framer.name, CALC, SMALL)
    _, data = small.client.send_call("zip", zip_args(n=1))
    (rejected,) = small.server_events(data)
    assert isinstance(rejected, CallRejected) and rejected.data == b""


def test_reply_with_unknown_seqid_is_typed_error(pair: Pair) -> None:
    seqid, data = pair.client.send_call("add", add_args(a=1, b=2))
    (call,) = pair.server_events(data)
    assert isinstance(call, Call)
    forged = Call(seqid + 41, call.method, call.args)
    out = pair.server.send_reply(forged, add_result(success=3))
    with pytest.raises(SeqIdMismatch) as info:
        pair.client_events(out)
    assert info.value.received == seqid + 41
    assert info.value.expected == [seqid]
    assert str(seqid + 41) in str(info.value)
    assert pair.client.state is ConnState.ERROR
    with pytest.raises(SeqIdMismatch):
        pair.client.next_event()
    with pytest.raises(LocalProtocolError):
        pair.client.send_call("ping", ping_args())


def test_reply_with_wrong_method_name_is_typed_error(pair: Pair) -> None:
    seqid, data = pair.client.send_call("ping", ping_args())
    pair.server_events(data)
    from .calc_spec import ADD

    out = pair.server.send_reply(Call(seqid, ADD, add_args()), add_result(success=3))
    with pytest.raises(SeqIdMismatch, match="'add'.*'ping'"):
        pair.client_events(out)


def test_forgotten_call_reply_is_dropped(pair: Pair) -> None:
    s1, d1 = pair.client.send_call("add", add_args(a=1, b=1))
    s2, d2 = pair.client.send_call("add", add_args(a=2, b=2))
    c1, c2 = pair.server_events(d1 + d2)
    pair.client.forget(s1)
    assert isinstance(c1, Call) and isinstance(c2, Call)
    out = pair.server.send_reply(c1, add_result(success=2)) + pair.server.send_reply(
        c2, add_result(success=4)
    )
    (reply,) = pair.client_events(out)
    assert isinstance(reply, Reply) and reply.seqid == s2 and reply.result.success == 4


def test_clean_eof(pair: Pair) -> None:
    assert pair.server_events(b"") == [ConnectionClosed()]
    assert pair.server.state is ConnState.CLOSED


def test_eof_mid_message_is_an_error(pair: Pair) -> None:
    _, data = pair.client.send_call("add", add_args(a=1, b=2))
    pair.server.receive_data(data[:-1])
    assert pair.server.next_event() is NEED_DATA
    pair.server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a message"):
        pair.server.next_event()
    assert pair.server.state is ConnState.ERROR


def test_client_sees_close_with_calls_pending(pair: Pair) -> None:
    seqid, _ = pair.client.send_call("add", add_args(a=1, b=2))
    assert pair.client_events(b"") == [ConnectionClosed()]
    assert pair.client.pending_seqids() == [seqid]


def test_non_call_message_to_server_is_rejected(pair: Pair) -> None:
    codec = pair.server.codec
    from swordfish.model import TApplicationException

    wire = pair.server.framer.wrap(
        codec.encode_message("add", MessageType.EXCEPTION, 9, TApplicationException("x"))
    )
    (rejected,) = pair.server_events(wire)
    assert isinstance(rejected, CallRejected)
    assert rejected.error.type == ApplicationExceptionType.INVALID_MESSAGE_TYPE


def test_garbage_moves_server_to_error(pair: Pair) -> None:
    with pytest.raises(RemoteProtocolError):
        pair.server_events(b"\x7f\xff\xff\xff" + b"\xee" * 64)
    assert pair.server.state is ConnState.ERROR


def test_limits_apply_to_calls() -> None:
    limits = Limits(max_frame_size=64)
    p = Pair("binary", "framed", limits=limits)
    big = Pair("binary", "framed")
    _, data = big.client.send_call("add", add_args(a=1, b=2))
    ok = p.server_events(data)
    assert isinstance(ok[0], Call)
    from .calc_spec import Oops as _  # noqa: F401

    wire = b"\x00\x00\x10\x00"  # a 4096-byte frame announced
    with pytest.raises(LimitExceeded):
        p.server_events(wire)


def test_wrong_args_type_is_local_error(pair: Pair) -> None:
    with pytest.raises(LocalProtocolError, match="add_args"):
        pair.client.send_call("add", ping_args())
    with pytest.raises(LocalProtocolError, match="no method"):
        pair.client.send_call("nope", ping_args())
