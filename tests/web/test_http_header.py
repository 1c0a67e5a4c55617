"""THeader over HTTP: each POST body is one THeader frame, and so is each reply body.

The WSGI app runs under wsgiref and the ASGI app under uvicorn, both in this process, for
``protocol="header"`` and ``"header-compact"``. Calls go through ``HttpClient`` and
``AsyncHttpClient``; info headers travel both ways (client ``headers=`` / ``call_headers``,
handler ``current_headers()`` / ``set_reply_header()``), the zlib transform is checked on the
bytes of the reply, oneway calls are answered before they run, plain binary and compact bodies
are answered in kind, and malformed header frames get ``400`` while the app keeps serving.
"""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import swordfish
from swordfish.aio.http import AsyncHttpClient
from swordfish.codec import get_codec
from swordfish.errors import LocalProtocolError
from swordfish.framing import HeaderFramer, wire_format
from swordfish.framing.http import HttpStatusError, body_framer, content_type_problem, http_wire
from swordfish.limits import Limits
from swordfish.model import ApplicationExceptionType, MessageType, TApplicationException
from swordfish.rpc import AsyncFilter, Filter, Request, Response
from swordfish.rpc.http import HttpExchange
from swordfish.sync.http import HttpClient
from swordfish.web import HTTP_HEADERS_KEY, ThriftASGIApp, ThriftWSGIApp
from tests.web.http_apps import AsyncHandler, Handler, store
from tests.web.http_servers import post, raw_request, uvicorn_thread, wsgiref_server

KINDS = ("wsgi", "asgi")
PROTOCOLS = ("header", "header-compact")
INNER = {"header": "binary", "header-compact": "compact"}
#: Sent with every call by the clients below (UTF-8 on purpose: info headers are not HTTP's).
SENT = {"client": "swordfish", "ключ": "значение"}


class EchoHandler(Handler):
    """``echo`` answers its text and puts the call's info headers on the reply, prefixed."""

    def echo(self, text: str) -> str:
        for key, value in swordfish.current_headers().items():
            swordfish.set_reply_header(f"echo-{key}", value)
        swordfish.set_reply_header("server", "swordfish")
        return text

    def get(self, key: str) -> str:
        swordfish.set_reply_header("failed", key)
        raise RuntimeError(key)  # not declared: a TApplicationException that carries the header


class AsyncEchoHandler(AsyncHandler):
    async def echo(self, text: str) -> str:  # type: ignore[override]
        await asyncio.sleep(0)  # suspend once: the headers must survive it
        return EchoHandler.echo(self, text)  # type: ignore[arg-type]

    def get(self, key: str) -> str:
        return EchoHandler.get(self, key)  # type: ignore[arg-type]


class HttpSeen(Filter):  # type: ignore[type-arg]
    """Records each call's info headers and HTTP headers as the filters see them."""

    role = "seen"
    description = "test: record request.headers and the HTTP headers"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(self, request: Request, service: Any) -> Response:
        http = request.context.attributes[HTTP_HEADERS_KEY]
        self.calls.append((request.name, dict(request.headers), http))
        return service(request)  # type: ignore[no-any-return]


class AsyncHttpSeen(AsyncFilter):  # type: ignore[type-arg]
    role = "seen"
    description = "test: record request.headers and the HTTP headers"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def __call__(self, request: Request, service: Any) -> Response:
        http = request.context.attributes[HTTP_HEADERS_KEY]
        self.calls.append((request.name, dict(request.headers), http))
        return await service(request)  # type: ignore[no-any-return]


class Served:
    """One app being served: its port, the app, its handler and its recording filter."""

    def __init__(self, port: int, app: Any, handler: Any, seen: Any) -> None:
        self.port = port
        self.app = app
        self.handler = handler
        self.seen = seen


def _serve(kind: str, protocol: str, **options: Any) -> Any:
    """A context manager serving a fresh app of ``kind`` for ``protocol``."""
    if kind == "wsgi":
        handler: Any = EchoHandler()
        seen: Any = HttpSeen()
        app: Any = ThriftWSGIApp(store.Store, handler, protocol=protocol, filters=[seen], **options)
        return app, handler, seen, wsgiref_server(app)
    handler = AsyncEchoHandler()
    seen = AsyncHttpSeen()
    app = ThriftASGIApp(
        store.Store, handler, protocol=protocol, filters=[seen], body_timeout=5.0, **options
    )
    return app, handler, seen, uvicorn_thread(app)


@pytest.fixture(
    scope="module",
    params=[(k, p) for k in KINDS for p in PROTOCOLS],
    ids=lambda param: "-".join(param),
)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    kind, protocol = request.param
    app, handler, seen, server = _serve(kind, protocol)
    with server as port:
        yield Served(port, app, handler, seen)
    app.close()


def _client(served: Served, **options: Any) -> HttpClient:
    options.setdefault("protocol", served.app.protocol)
    return HttpClient(store.Store, "127.0.0.1", served.port, timeout=15, **options)


def _args(method: str, **values: Any) -> Any:
    return store.Store.__thrift_service__.methods[method].args(**values)


# -- bodies on the wire ------------------------------------------------------------------------


def test_request_body_is_one_header_frame_exact_bytes() -> None:
    """What ``HttpExchange`` POSTs for a "header" call: Apache's THeaderTransport layout."""
    spec = store.Store.__thrift_service__
    method = spec.methods["add"]
    args = method.args(a=1, b=2)
    payload = get_codec("binary").encode_message("add", MessageType.CALL, 1, args)
    wire = http_wire("header")
    exchange = HttpExchange(spec, wire, method, args, None, {"k": "v"})
    # protocol 0, 0 transforms, info type 1, 1 pair, "k", "v", then padding to 8 bytes.
    header = b"\x00\x00\x01\x01\x01k\x01v"
    frame = struct.pack(">HHiH", 0x0FFF, 0, 1, len(header) // 4) + header + payload
    assert exchange.body == struct.pack(">i", len(frame)) + frame
    # Without headers: the header is protocol id + transform count, padded to one word.
    plain = HttpExchange(spec, wire, method, args, None)
    frame = struct.pack(">HHiH", 0x0FFF, 0, 1, 1) + b"\x00\x00\x00\x00" + payload
    assert plain.body == struct.pack(">i", len(frame)) + frame


def test_body_framer_is_the_one_choice() -> None:
    assert type(body_framer(http_wire("binary"))).__name__ == "UnframedFramer"
    framer = body_framer(http_wire("header-compact", header_transforms=("zlib",)))
    assert isinstance(framer, HeaderFramer)
    with pytest.raises(ValueError, match="header_transforms apply to the THeader"):
        http_wire("compact", header_transforms=("zlib",))
    with pytest.raises(ValueError, match="unknown THeader transform"):
        http_wire("header", header_transforms=("gzip",))
    # A header endpoint takes plain binary and compact bodies, so only a JSON label is wrong.
    assert content_type_problem("application/vnd.apache.thrift.binary", "header") is None
    assert content_type_problem("application/vnd.apache.thrift.compact", "header") is None
    assert content_type_problem("application/vnd.apache.thrift.json", "header-compact")


def _frame(protocol: str, name: str, args: Any, seqid: int, **framer: Any) -> bytes:
    """A call as one header frame, made with the public framer (what a client sends)."""
    codec = get_codec(INNER[protocol])
    payload = codec.encode_message(name, MessageType.CALL, seqid, args)
    return HeaderFramer(codec, **framer).wrap(payload, seqid=seqid)


def _read_reply(protocol: str, body: bytes) -> tuple[Any, dict[str, str], bytes]:
    """(result struct, info headers, raw frame header bytes) of a header-frame reply body."""
    framer = HeaderFramer(get_codec(INNER[protocol]))
    framer.feed(body)
    payload = framer.next_message()
    assert payload is not None and framer.buffered == 0
    add = store.Store.__thrift_service__.methods["add"]
    echo = store.Store.__thrift_service__.methods["echo"]
    results = {"add": add.result, "echo": echo.result}
    message = framer.message_codec.decode_message(payload, lambda name, mtype: results.get(name))
    return message.body, framer.message_headers, body[:14]


# -- calls ---------------------------------------------------------------------------------------


def test_calls_and_headers_both_ways(served: Served) -> None:
    with _client(served, headers=SENT) as client:
        assert client.headers == SENT
        with swordfish.call_headers({"trace": "t-1"}) as scope:
            assert client.echo("héllo") == "héllo"
        want = {
            "server": "swordfish",
            "echo-trace": "t-1",
            **{f"echo-{k}": v for k, v in SENT.items()},
        }
        assert scope.reply == want
        # The filters saw the info headers as request.headers, never as HTTP headers.
        name, info, http = served.seen.calls[-1]
        assert name == "echo" and info == {**SENT, "trace": "t-1"}
        assert "trace" not in http and http["content-type"] == "application/x-thrift"
        # A failing call carries its reply headers with the TApplicationException.
        with swordfish.call_headers() as scope:
            with pytest.raises(TApplicationException) as info_exc:
                client.get("nope")
        assert info_exc.value.type == ApplicationExceptionType.INTERNAL_ERROR
        assert scope.reply == {"failed": "nope"}
        # Declared results and exceptions, structs, containers: the codec inside the frames.
        shape = store.Shape(name="sq", points=[store.Point(x=1, y=2)], tags={"a": 1}, ids={3})
        assert client.roundtrip(shape) == shape
        assert client.add(40, 2) == 42
        client.headers.clear()
        with swordfish.call_headers() as scope:
            assert client.echo("x") == "x"
        assert scope.reply == {"server": "swordfish"}


def test_async_client_headers(served: Served) -> None:
    async def main() -> None:
        async with AsyncHttpClient(
            store.Store,
            "127.0.0.1",
            served.port,
            protocol=served.app.protocol,
            timeout=15,
            headers={"a": "1"},
            header_transforms=("zlib",),
        ) as client:
            with swordfish.call_headers({"b": "2"}) as scope:
                got = await asyncio.gather(*(client.echo(f"t{i}") for i in range(4)))
            assert got == [f"t{i}" for i in range(4)]
            assert scope.reply == {"server": "swordfish", "echo-a": "1", "echo-b": "2"}
            with swordfish.call_headers() as scope:
                result = await client.call("echo", _args("echo", text="c"))
            assert result.success == "c" and scope.reply["echo-a"] == "1"
            assert await client.add(1, 2) == 3

    asyncio.run(main())


def test_unknown_method_is_answered_in_a_header_frame(served: Served) -> None:
    with HttpClient(
        store.StoreV2, "127.0.0.1", served.port, protocol=served.app.protocol, timeout=15
    ) as v2:
        with pytest.raises(TApplicationException) as info:
            v2.added_later(1)
        assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
        assert v2.add(3, 4) == 7


def test_oneway_is_answered_before_it_runs(served: Served, tmp_path: Path) -> None:
    go = tmp_path / "go"
    with _client(served, headers={"k": "v"}) as client:
        before = client.fired()
        started = time.monotonic()
        assert client.fire(f"block:{go}") is None
        assert time.monotonic() - started < 10
        assert client.fired() == before  # answered, not yet run
        go.touch()
        deadline = time.monotonic() + 15
        while client.fired() == before:
            assert time.monotonic() < deadline, "the oneway handler never ran"
            time.sleep(0.05)
    # The oneway call's info headers reached the filters too.
    assert [info for name, info, _ in served.seen.calls if name == "fire"][-1] == {"k": "v"}


# -- zlib ----------------------------------------------------------------------------------------


def test_zlib_call_is_answered_deflated(served: Served) -> None:
    protocol = served.app.protocol
    args = _args("echo", text="z" * 5000)
    body = _frame(protocol, "echo", args, 5, transforms=("zlib",))
    assert len(body) < 1000  # the call went deflated
    status, headers, reply = raw_request(served.port, post("/", body))
    assert status == 200 and headers["content-type"] == "application/x-thrift"
    result, info, prefix = _read_reply(protocol, reply)
    assert result.success == "z" * 5000 and info["server"] == "swordfish"
    # Frame: magic, seqid 5 echoed; header: protocol id, one transform, zlib (1).
    assert prefix[4:6] == b"\x0f\xff" and struct.unpack(">i", prefix[8:12])[0] == 5
    protocol_id = 0 if INNER[protocol] == "binary" else 2
    assert reply[14:17] == bytes((protocol_id, 1, 1))
    assert len(reply) < 1000
    # The same call undeflated is answered undeflated (the client decides).
    status, _, reply = raw_request(served.port, post("/", _frame(protocol, "echo", args, 6)))
    assert status == 200 and reply[14:16] == bytes((protocol_id, 0)) and len(reply) > 5000


@pytest.mark.parametrize("kind", KINDS)
def test_server_header_transforms_deflate_every_reply(kind: str) -> None:
    app, _, _, server = _serve(kind, "header", header_transforms=("zlib",))
    try:
        with server as port:
            args = _args("echo", text="y" * 4000)
            status, _, reply = raw_request(port, post("/", _frame("header", "echo", args, 9)))
            assert status == 200 and reply[14:17] == b"\x00\x01\x01" and len(reply) < 1000
            assert _read_reply("header", reply)[0].success == "y" * 4000
            with HttpClient(store.Store, "127.0.0.1", port, protocol="header", timeout=15) as c:
                assert c.echo("w" * 3000) == "w" * 3000
    finally:
        app.close()
    with pytest.raises(ValueError, match="header_transforms apply"):
        ThriftWSGIApp(store.Store, Handler(), protocol="binary", header_transforms=("zlib",))
    with pytest.raises(ValueError, match="unknown THeader transform"):
        ThriftASGIApp(store.Store, AsyncHandler(), protocol="header", header_transforms=("lz4",))


# -- plain bodies to a header endpoint, and headers over plain protocols -------------------------


def test_plain_bodies_are_answered_in_kind(served: Served) -> None:
    for protocol in ("binary", "compact"):
        with _client(served, protocol=protocol) as plain:
            assert plain.add(20, 22) == 42
            assert plain.echo("plain") == "plain"
    # A framed binary body is answered framed.
    codec = get_codec("binary")
    payload = codec.encode_message("add", MessageType.CALL, 3, _args("add", a=2, b=3))
    status, _, reply = raw_request(
        served.port, post("/", struct.pack(">i", len(payload)) + payload)
    )
    assert status == 200
    assert struct.unpack(">i", reply[:4])[0] == len(reply) - 4 and reply[4:6] == b"\x80\x01"
    add = store.Store.__thrift_service__.methods["add"]
    assert codec.decode_message(reply[4:], lambda n, t: add.result).body.success == 5


def test_header_client_to_a_plain_endpoint_is_refused(tmp_path: Path) -> None:
    app = ThriftWSGIApp(store.Store, Handler(), protocol="binary")
    with wsgiref_server(app) as port:
        with HttpClient(store.Store, "127.0.0.1", port, protocol="header", timeout=15) as c:
            with pytest.raises(HttpStatusError) as info:
                c.add(1, 2)
            assert info.value.status == 400
        with HttpClient(store.Store, "127.0.0.1", port, timeout=15) as c:
            assert c.add(1, 2) == 3


def test_http_headers_and_plain_protocol_headers() -> None:
    handler, seen = EchoHandler(), HttpSeen()
    header_app = ThriftWSGIApp(store.Store, handler, protocol="header", filters=[seen])
    with wsgiref_server(header_app) as port:
        # http_headers= are HTTP headers whatever the protocol; headers= ride in the frame.
        with HttpClient(
            store.Store,
            "127.0.0.1",
            port,
            protocol="header",
            timeout=15,
            headers={"info": "1"},
            http_headers={"X-Token": "s3cret"},
        ) as c:
            assert c.add(1, 1) == 2
        _, info, http = seen.calls[-1]
        assert info == {"info": "1"} and http["x-token"] == "s3cret" and "info" not in http
        # Over a plain protocol, call headers have no place in the body: HTTP headers.
        with HttpClient(
            store.Store, "127.0.0.1", port, protocol="binary", timeout=15, headers={"X-A": "b"}
        ) as c:
            with swordfish.call_headers({"X-Trace": "7"}) as scope:
                assert c.add(2, 2) == 4
            assert scope.reply == {}
            _, info, http = seen.calls[-1]
            assert info == {} and http["x-a"] == "b" and http["x-trace"] == "7"
            calls = len(seen.calls)
            with swordfish.call_headers({"ключ": "v"}), pytest.raises(LocalProtocolError):
                c.add(1, 2)
            assert len(seen.calls) == calls  # refused before anything was sent
            assert c.add(3, 3) == 6
    with pytest.raises(ValueError, match="cannot be sent as an HTTP header"):
        HttpClient(store.Store, protocol="header", http_headers={"bad name": "x"})
    with pytest.raises(ValueError, match="header_transforms apply"):
        HttpClient(store.Store, protocol="json", header_transforms=("zlib",))


# -- malformed frames ----------------------------------------------------------------------------


def _header_frame(header: bytes, payload: bytes, *, length: int | None = None) -> bytes:
    frame = struct.pack(">HHiH", 0x0FFF, 0, 1, len(header) // 4) + header + payload
    return struct.pack(">i", len(frame) if length is None else length) + frame


_ADD = get_codec("binary").encode_message("add", MessageType.CALL, 1, _args("add", a=1, b=2))

MALFORMED = [
    pytest.param(_header_frame(b"\x05\x00\x00\x00", _ADD), "unknown protocol id", id="protocol-5"),
    pytest.param(_header_frame(b"\x00\x01\x07\x00", _ADD), "unknown transform", id="transform-7"),
    pytest.param(_header_frame(b"\x00\x01\x01\x00", b"not zlib"), "corrupt zlib", id="bad-zlib"),
    pytest.param(
        _header_frame(b"\x00\x01\x01\x00", zlib.compress(_ADD)[:-4]), "zlib", id="cut-zlib"
    ),
    pytest.param(_header_frame(b"\x00\x00\x00\x00", _ADD)[:-3], "", id="truncated"),
    pytest.param(_header_frame(b"\x00\x00\x00\x00", _ADD) + b"\x00", "", id="trailing-byte"),
    pytest.param(_header_frame(b"\x00\x00\x00\x00", _ADD) * 2, "exactly one", id="two-frames"),
    pytest.param(
        struct.pack(">iHHiH", 12, 0x0FFF, 0, 1, 200) + b"\x00\x00", "larger than", id="hdr-len"
    ),
    pytest.param(_header_frame(b"\x00\x00\x01\x05", _ADD), "", id="info-count"),
    pytest.param(_header_frame(b"\x00\x00\x00\x00", b"junk"), "", id="junk-payload"),
    pytest.param(b'[1,"add",1,1,{}]', "max_frame_size", id="json-body"),
    pytest.param(b"\x00\x00\x00\x02ab", "too short", id="tiny-frame"),
]


@pytest.mark.parametrize(("body", "why"), MALFORMED)
def test_malformed_header_frames_are_400_and_the_app_keeps_serving(
    served: Served, body: bytes, why: str
) -> None:
    status, _, text = raw_request(served.port, post("/", body))
    assert status == 400, text
    assert b"malformed Thrift request" in text or b"exactly one" in text, text
    assert why.encode() in text, text
    with _client(served) as client:
        assert client.add(1, 2) == 3


def test_body_over_max_frame_size_inflated_is_refused() -> None:
    """A zlib bomb inside a small body: 400 (LimitExceeded), never allocated whole."""
    app = ThriftWSGIApp(
        store.Store, Handler(), protocol="header", limits=Limits(max_frame_size=64 * 1024)
    )
    bomb = zlib.compress(_ADD + b"\x00" * (10 * 1024 * 1024))
    with wsgiref_server(app) as port:
        status, _, text = raw_request(port, post("/", _header_frame(b"\x00\x01\x01\x00", bomb)))
        assert status == 400 and b"max_frame_size" in text, text
        status, _, _ = raw_request(
            port, post("/", b"x", content_type="application/vnd.apache.thrift.json")
        )
        assert status == 415
        with HttpClient(store.Store, "127.0.0.1", port, protocol="header", timeout=15) as c:
            assert c.add(5, 5) == 10


def test_wire_format_and_http_wire_agree() -> None:
    """The HTTP body codec is the TCP one: same inner codec for each THeader protocol."""
    for protocol in PROTOCOLS:
        assert (
            http_wire(protocol).codec.protocol_id
            == wire_format(protocol, "buffered").codec.protocol_id
        )
