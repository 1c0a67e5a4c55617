"""One scenario table, run over every server model x protocol x transport on real sockets."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import swordfish
from swordfish.codec import get_codec
from swordfish.errors import TransportError, TransportTimeout
from swordfish.framing import make_framer
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.protocol import ClientConnection, Reply

from .conftest import CONFIGS, Env, closed_by_peer, raw_connect

pytestmark = pytest.mark.parametrize("served", CONFIGS, indirect=True)


def call_bytes(env: Env, method: str, **args: Any) -> bytes:
    """The exact bytes a client would send for one call."""
    spec = env.mod.Store.__thrift_service__
    codec = get_codec(env.protocol)
    conn = ClientConnection(spec, codec, make_framer(env.transport, codec))
    return conn.send_call(method, spec.methods[method].args(**args))[1]


def test_calls_of_every_shape(served: Env) -> None:
    m = served.mod
    c = served.client()
    assert c.ping() is None
    assert c.add(2, 3) == 5
    assert c.add(-(2**31), 0) == -(2**31)
    assert c.add(a=2**31 - 2, b=1) == 2**31 - 1
    assert c.echo("") == ""
    assert c.echo("héllo wörld ✓") == "héllo wörld ✓"
    big = "x" * 1_000_000
    assert c.echo(big) == big
    every_byte = bytes(range(256))
    assert c.echo_binary(every_byte) == every_byte
    full = m.Shape(
        name="poly",
        points=[m.Point(x=1, y=2), m.Point(x=-3, y=4)],
        tags={"a": 1, "b": -(2**63)},
        ids={1, 2, 3},
        color=m.Color.GREEN,
        blob=b"\x00\xff",
        weight=2.5,
        filled=True,
        tiny=-128,
    )
    assert c.roundtrip(full) == full
    minimal = m.Shape(name="bare")
    assert c.roundtrip(minimal) == minimal
    assert c.many(0) == []
    assert [s.name for s in c.many(3)] == ["s0", "s1", "s2"]
    assert c.many(2)[1].points == [m.Point(x=1, y=-1)]
    assert c.nested({"k": [1, 2, 3], "e": []}) == {"k": [3, 2, 1], "e": []}
    assert c.pick(True) == m.Value(num=7)
    assert c.pick(False) == m.Value(text="seven")
    assert c.get("k") == "value of k"


def test_declared_exceptions(served: Env) -> None:
    m = served.mod
    c = served.client()
    with pytest.raises(m.NotFound) as nf:
        c.get("missing")
    assert nf.value == m.NotFound(key="missing")
    with pytest.raises(m.Invalid) as inv:
        c.get("bad")
    assert inv.value == m.Invalid(code=400, why="bad key")
    assert c.connected  # an answer, not a broken connection
    assert c.get("ok") == "value of ok"


@pytest.mark.parametrize(
    ("kind", "code", "text"),
    [
        ("value", ApplicationExceptionType.INTERNAL_ERROR, "ValueError: kaboom"),
        ("type", ApplicationExceptionType.INTERNAL_ERROR, "cannot encode the result of boom"),
        ("overflow", ApplicationExceptionType.INTERNAL_ERROR, "cannot encode the result of boom"),
        ("app", ApplicationExceptionType.PROTOCOL_ERROR, "told you so"),
    ],
)
def test_handler_failures_become_application_errors(
    served: Env, kind: str, code: int, text: str
) -> None:
    c = served.client()
    with pytest.raises(TApplicationException) as info:
        c.boom(kind)
    assert info.value.type == code
    assert text in info.value.message
    assert c.connected
    assert c.add(1, 1) == 2  # same connection, still in sync
    c.close()  # (the simple model serves one connection at a time)
    other = served.client()
    assert other.add(2, 2) == 4


def test_unknown_method(served: Env) -> None:
    c = served.client(served.mod.StoreV2)
    with pytest.raises(TApplicationException) as info:
        c.added_later(1)
    assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert "added_later" in info.value.message
    assert c.connected
    assert c.add(20, 22) == 42


def test_oneway_never_replies_and_connection_stays_usable(served: Env) -> None:
    c = served.client()
    start = time.monotonic()
    assert c.fire("a") is None
    assert c.fire("b") is None
    assert time.monotonic() - start < 1.0
    # Served in order on the same connection: both oneways ran before this call.
    assert c.fired() == 2
    assert served.handler.fired_tags == ["a", "b"]
    assert c.add(1, 2) == 3


def test_client_timeout_then_next_call_is_in_sync(served: Env) -> None:
    c = served.client(timeout=0.2)
    with pytest.raises(TransportTimeout, match="slow: no reply"):
        c.slow(0.6, 7)
    assert not c.connected  # closed: the late reply to 7 can never be read as an answer
    c.timeout = 5.0
    assert c.slow(0.0, 8) == 8
    assert c.add(1, 2) == 3


def test_malformed_bytes_close_only_that_connection(served: Env) -> None:
    if served.transport == "framed":
        garbage = b"\x00\x00\x00\x08" + b"\xff" * 8
    else:
        garbage = b"\xff" * 16
    raw = raw_connect(served.server.port)
    raw.sendall(garbage)
    assert closed_by_peer(raw)
    raw.close()
    c = served.client()
    assert c.add(1, 2) == 3


HUGE = {
    ("binary", "buffered"): b"\x80\x01\x00\x01\x7f\xff\xff\xff",  # name length 2**31-1
    ("compact", "buffered"): b"\x82\x21\x01\xff\xff\xff\xff\x07",  # name length 2**31-1
    ("binary", "framed"): b"\x7f\xff\xff\xff",  # frame length 2**31-1
    ("compact", "framed"): b"\x7f\xff\xff\xff",
}


def test_huge_length_is_refused_without_waiting_for_it(served: Env) -> None:
    if served.transport == "zlib":  # the buffered bytes inside one sync-flushed zlib stream
        data = make_framer("zlib", get_codec(served.protocol)).wrap(
            HUGE[(served.protocol, "buffered")]
        )
    else:
        data = HUGE[(served.protocol, served.transport)]
    raw = raw_connect(served.server.port)
    raw.sendall(data)
    # The server must not wait for 2 GiB to arrive: it closes as soon as it sees the length.
    assert closed_by_peer(raw, within=2.0)
    raw.close()
    assert served.client().add(1, 2) == 3


def test_peer_vanishing_mid_message(served: Env) -> None:
    data = call_bytes(served, "echo", text="y" * 100)
    raw = raw_connect(served.server.port)
    raw.sendall(data[: len(data) // 2])
    time.sleep(0.05)
    raw.close()
    c = served.client()
    assert c.echo("after") == "after"
    assert c.add(1, 2) == 3


def test_pipelined_calls_are_answered_in_order_and_oneways_not_at_all(served: Env) -> None:
    spec = served.mod.Store.__thrift_service__
    codec = get_codec(served.protocol)
    conn = ClientConnection(spec, codec, make_framer(served.transport, codec))
    data = b""
    for i in range(5):
        data += conn.send_call("add", spec.methods["add"].args(a=i, b=i))[1]
        # A oneway call in between: it must produce no bytes at all (the engine tracks no
        # oneway seqids, so any reply to it would fail the read loop with SeqIdMismatch).
        data += conn.send_call("fire", spec.methods["fire"].args(tag=str(i)))[1]
    data += conn.send_call("fired", spec.methods["fired"].args())[1]
    raw = raw_connect(served.server.port)
    raw.sendall(data)
    results: list[Any] = []
    while len(results) < 6:
        conn.receive_data(raw.recv(65536))
        while True:
            event = conn.next_event()
            if not isinstance(event, Reply):
                break
            result: Any = event.result
            results.append(result.success)
    raw.close()
    assert results == [0, 2, 4, 6, 8, 5]  # every oneway ran before `fired`, none replied
    assert served.handler.fired_tags == ["0", "1", "2", "3", "4"]


def test_graceful_stop_drains_in_flight_call(served: Env) -> None:
    server = served.server
    idle = None
    if served.model != "simple":  # simple serves one connection at a time
        idle = served.client()
        assert idle.ping() is None
    busy = served.client()
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(busy.slow(0.5, 42)))
    worker.start()
    assert served.handler.slow_started.wait(3)
    start = time.monotonic()
    server.stop(timeout=5.0)
    elapsed = time.monotonic() - start
    worker.join(3)
    assert outcome == [42]  # the in-flight call finished and its reply was written
    assert elapsed < 2.0  # idle connections did not hold shutdown up
    assert server.connections == 0
    if idle is not None:
        with pytest.raises(TransportError):
            idle.ping()
    with pytest.raises(TransportError):
        swordfish.make_client(served.mod.Store, port=server.port, connect_timeout=1).ping()
