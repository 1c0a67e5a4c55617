"""The multiplexed server engine: several services, calls named "<service>:<method>".

Semantics follow Apache's TMultiplexedProtocol / TMultiplexedProcessor: the name is split at
the first ":", replies carry the bare method name. Where Apache's Python processor raises and
drops the connection (no prefix, unknown prefix) we answer UNKNOWN_METHOD instead.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from swordfish.codec import get_codec
from swordfish.framing import make_framer
from swordfish.model import ApplicationExceptionType, MessageType, ServiceSpec
from swordfish.protocol import (
    NEED_DATA,
    Call,
    CallRejected,
    ClientConnection,
    ConnectionClosed,
    ExceptionReply,
    Reply,
    ServerConnection,
)

from .calc_spec import CALC, SMALL, add_args, add_result, ping_args, ping_result, zip_args

COMBOS = [(p, t) for p in ("binary", "compact") for t in ("buffered", "framed")]
SERVICES = {"Calc": CALC, "Small": SMALL}


def _engines(
    protocol: str, transport: str, service_name: str | None, client_spec: ServiceSpec = CALC
) -> tuple[ClientConnection, ServerConnection]:
    codec = get_codec(protocol)
    client = ClientConnection(
        client_spec, codec, make_framer(transport, codec), service_name=service_name
    )
    server = ServerConnection(SERVICES, codec, make_framer(transport, codec))
    return client, server


def _chunks(data: bytes, byte_at_a_time: bool) -> Iterator[bytes]:
    if byte_at_a_time:
        for i in range(len(data)):
            yield data[i : i + 1]
    else:
        yield data


def _events(
    engine: ClientConnection | ServerConnection, data: bytes, byte_at_a_time: bool = False
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
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_call_routed_by_prefix_and_answered(combo: tuple[str, str], byte_at_a_time: bool) -> None:
    client, server = _engines(*combo, "Calc")
    seqid, data = client.send_call("add", add_args(a=2, b=5))
    (call,) = _events(server, data, byte_at_a_time)
    assert isinstance(call, Call)
    assert (call.service, call.method.name, call.seqid, call.args) == (
        "Calc",
        "add",
        seqid,
        add_args(a=2, b=5),
    )
    (reply,) = _events(client, server.send_reply(call, add_result(success=7)), byte_at_a_time)
    assert isinstance(reply, Reply) and reply.result == add_result(success=7)


def test_each_prefix_reaches_its_own_service(combo: tuple[str, str]) -> None:
    calc_client, server = _engines(*combo, "Calc")
    small_client, _ = _engines(*combo, "Small")
    _, a = calc_client.send_call("ping", ping_args())
    _, b = small_client.send_call("ping", ping_args())
    _, c = small_client.send_call("add", add_args(a=1, b=1))  # Small has no add
    first, second, third = _events(server, a + b + c)
    assert isinstance(first, Call) and first.service == "Calc"
    assert isinstance(second, Call) and second.service == "Small"
    assert isinstance(third, CallRejected)
    assert third.error.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert third.name == "Small:add"
    (reply,) = _events(small_client, third.data)
    assert isinstance(reply, ExceptionReply)
    assert reply.error.type == ApplicationExceptionType.UNKNOWN_METHOD


@pytest.mark.parametrize(
    ("service_name", "text"),
    [
        ("Nope", "Service name not found: 'Nope'"),
        (None, "Service name not found in message name: 'add'"),
        ("", "Service name not found in message name: 'add'"),
    ],
)
def test_unknown_or_missing_prefix_is_unknown_method(
    combo: tuple[str, str], service_name: str | None, text: str
) -> None:
    client, server = _engines(*combo, service_name)
    seqid, data = client.send_call("add", add_args(a=1, b=2))
    (rejected,) = _events(server, data)
    assert isinstance(rejected, CallRejected)
    assert rejected.error.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert text in rejected.error.message
    # Our client matches the answer to its call: the reply carries the bare method name.
    (reply,) = _events(client, rejected.data)
    assert isinstance(reply, ExceptionReply) and reply.seqid == seqid
    assert text in reply.error.message
    # The connection is still in sync and usable.
    good, _ = _engines(*combo, "Calc")
    _, data = good.send_call("ping", ping_args())
    (call,) = _events(server, data)
    assert isinstance(call, Call) and call.service == "Calc"


def test_unknown_prefix_oneway_gets_no_reply(combo: tuple[str, str]) -> None:
    client, server = _engines(*combo, "Nope")
    _, data = client.send_call("zip", zip_args(n=1))
    (rejected,) = _events(server, data)
    assert isinstance(rejected, CallRejected) and rejected.data == b""


def test_oneway_through_prefix(combo: tuple[str, str]) -> None:
    client, server = _engines(*combo, "Calc")
    _, data = client.send_call("zip", zip_args(n=9))
    (call,) = _events(server, data)
    assert isinstance(call, Call) and call.oneway and call.service == "Calc"


def test_single_service_engine_is_unchanged(combo: tuple[str, str]) -> None:
    codec = get_codec(combo[0])
    server = ServerConnection(CALC, codec, make_framer(combo[1], codec))
    plain = ClientConnection(CALC, codec, make_framer(combo[1], codec))
    prefixed = ClientConnection(CALC, codec, make_framer(combo[1], codec), service_name="Calc")
    _, a = plain.send_call("ping", ping_args())
    _, b = prefixed.send_call("ping", ping_args())
    first, second = _events(server, a + b)
    assert isinstance(first, Call) and first.service is None
    assert isinstance(second, CallRejected)  # "Calc:ping" is no method of a plain server
    assert second.error.type == ApplicationExceptionType.UNKNOWN_METHOD


# -- exact bytes (strict binary, buffered) ---------------------------------------------------


def _binary_message(name: str, mtype: MessageType, seqid: int, body: bytes) -> bytes:
    raw = name.encode()
    head = struct.pack(">I", 0x80010000 | int(mtype)) + struct.pack(">i", len(raw)) + raw
    return head + struct.pack(">i", seqid) + body


def _app_exception(message: str, kind: int) -> bytes:
    raw = message.encode()
    return (
        b"\x0b\x00\x01"
        + struct.pack(">i", len(raw))
        + raw
        + b"\x08\x00\x02"
        + struct.pack(">i", kind)
    ) + b"\x00"


CALL_PING = _binary_message("Calc:ping", MessageType.CALL, 7, b"\x00")
BYTES_TABLE = [
    (
        "known service",
        CALL_PING,
        _binary_message("ping", MessageType.REPLY, 7, b"\x00"),
    ),
    (
        "unknown service",
        _binary_message("Nope:ping", MessageType.CALL, 8, b"\x00"),
        _binary_message(
            "ping", MessageType.EXCEPTION, 8, _app_exception("Service name not found: 'Nope'", 1)
        ),
    ),
    (
        "unknown method of a known service",
        _binary_message("Small:add", MessageType.CALL, 9, b"\x00"),
        _binary_message(
            "add", MessageType.EXCEPTION, 9, _app_exception("Unknown method 'Small:add'", 1)
        ),
    ),
    (
        "reply sent to the server",
        _binary_message("Calc:ping", MessageType.REPLY, 10, b"\x00"),
        _binary_message(
            "ping",
            MessageType.EXCEPTION,
            10,
            _app_exception("expected a call, got message type 2", 2),
        ),
    ),
]


@pytest.mark.parametrize(
    ("label", "request_bytes", "reply_bytes"), BYTES_TABLE, ids=[r[0] for r in BYTES_TABLE]
)
@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_exact_bytes(
    label: str, request_bytes: bytes, reply_bytes: bytes, byte_at_a_time: bool
) -> None:
    codec = get_codec("binary")
    server = ServerConnection(SERVICES, codec, make_framer("buffered", codec))
    (event,) = _events(server, request_bytes, byte_at_a_time)
    if isinstance(event, Call):
        out = server.send_reply(event, ping_result())
    else:
        assert isinstance(event, CallRejected)
        out = event.data
    assert out == reply_bytes


def test_missing_prefix_exact_bytes() -> None:
    codec = get_codec("binary")
    server = ServerConnection(SERVICES, codec, make_framer("buffered", codec))
    (event,) = _events(server, _binary_message("ping", MessageType.CALL, 3, b"\x00"))
    assert isinstance(event, CallRejected)
    text = event.error.message
    assert text.startswith("Service name not found in message name: 'ping'")
    assert event.data == _binary_message("ping", MessageType.EXCEPTION, 3, _app_exception(text, 1))


def test_compact_call_bytes_decode() -> None:
    # Compact: 0x82, (CALL << 5) | version 1, varint seqid, varint name length, name, args.
    name = b"Small:ping"
    data = b"\x82\x21\x05" + bytes([len(name)]) + name + b"\x00"
    codec = get_codec("compact")
    server = ServerConnection(SERVICES, codec, make_framer("buffered", codec))
    for byte_at_a_time in (False, True):
        (call,) = _events(server, data, byte_at_a_time)
        assert isinstance(call, Call)
        assert (call.service, call.method.name, call.seqid) == ("Small", "ping", 5)


@pytest.mark.parametrize(
    ("services", "error"),
    [
        ({}, ValueError),
        ({"a:b": CALC}, ValueError),
        ({"": CALC}, ValueError),
        ({"Calc": "not a spec"}, TypeError),
        ([("Calc", CALC)], TypeError),
    ],
)
def test_bad_service_mappings_are_refused(services: object, error: type[Exception]) -> None:
    codec = get_codec("binary")
    with pytest.raises(error):
        ServerConnection(services, codec, make_framer("buffered", codec))  # type: ignore[arg-type]


def test_engine_exposes_its_services() -> None:
    codec = get_codec("binary")
    mux = ServerConnection(SERVICES, codec, make_framer("buffered", codec))
    assert mux.services == SERVICES and mux.service is None
    single = ServerConnection(CALC, codec, make_framer("buffered", codec))
    assert single.service is CALC and single.services is None
