"""THeader over real sockets: sync server models and the asyncio server on both loops.

Headers travel both ways (client ``headers=`` and ``call_headers``; handler
``current_headers`` / ``set_reply_header``; filters on ``request.headers`` and
``context.reply_headers``), the zlib transform is negotiated, and plain framed/unframed
binary and compact clients are answered by a header server in their own format.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.aio import run
from swordfish.codec import get_codec
from swordfish.framing import HeaderFramer
from swordfish.model import MessageType
from swordfish.rpc import AsyncFilter, Filter
from swordfish.rpc.request import Request, Response
from swordfish.rpc.service import AsyncService, Service
from swordfish.sync._common import MODELS
from tests.drivers.conftest import IDL
from tests.paths import REPO

HEADER_PROTOCOLS = ("header", "header-compact")
TRANSPORTS = ("buffered", "framed", "zlib")
LOOPS = ("asyncio", "uvloop")


@pytest.fixture(scope="module")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


class EchoHeaders:
    """Answers ``echo`` with its text and sends the call's headers back, prefixed."""

    def echo(self, text: str) -> str:
        for key, value in swordfish.current_headers().items():
            swordfish.set_reply_header(f"echo-{key}", value)
        swordfish.set_reply_header("server", "swordfish")
        return text

    def add(self, a: int, b: int) -> int:
        return a + b

    def get(self, key: str) -> str:
        swordfish.set_reply_header("failed", key)
        raise RuntimeError(key)  # not declared: answered with TApplicationException


class AsyncEchoHeaders(EchoHeaders):
    async def echo(self, text: str) -> str:  # type: ignore[override]
        await asyncio.sleep(0)  # suspend once: headers must survive the task hop
        return super().echo(text)


@contextmanager
def sync_server(
    store: ModuleType, model: str, protocol: str, transport: str, **kw: Any
) -> Iterator[int]:
    server = swordfish.Server(
        store.Store,
        EchoHeaders(),
        port=0,
        protocol=protocol,
        transport=transport,
        model=model,
        **kw,
    )
    server.start()
    try:
        yield server.port
    finally:
        server.stop(timeout=5)


def _expect(sent: dict[str, str]) -> dict[str, str]:
    return {"server": "swordfish", **{f"echo-{k}": v for k, v in sent.items()}}


@pytest.mark.parametrize("model", [m for m in MODELS if m != "forking"])
@pytest.mark.parametrize("protocol", HEADER_PROTOCOLS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sync_headers_both_ways(
    store: ModuleType, model: str, protocol: str, transport: str
) -> None:
    with sync_server(store, model, protocol, transport) as port:
        with swordfish.Client(
            store.Store,
            port=port,
            protocol=protocol,
            transport=transport,
            timeout=10,
            headers={"client": "sync", "ü": "é"},
        ) as client:
            with swordfish.call_headers({"call": "1"}) as scope:
                assert client.echo("hi") == "hi"
            assert scope.reply == _expect({"client": "sync", "ü": "é", "call": "1"})
            # Outside the scope only the client's headers go out; nothing is recorded.
            assert client.echo("again") == "again"
            assert scope.reply == _expect({"client": "sync", "ü": "é", "call": "1"})
            with swordfish.call_headers() as scope:
                with pytest.raises(swordfish.TApplicationException, match="boom"):
                    client.get("boom")
            assert scope.reply == {"failed": "boom"}


def test_forking_model_carries_headers(store: ModuleType) -> None:
    with sync_server(store, "forking", "header", "framed") as port:
        with swordfish.Client(store.Store, port=port, protocol="header", transport="framed") as c:
            with swordfish.call_headers({"k": "v"}) as scope:
                assert c.echo("x") == "x"
            assert scope.reply == _expect({"k": "v"})


class TagFilter(Filter[Request, Response, Request, Response]):
    """Client side: adds a request header and copies a reply header into an attribute."""

    role = "tag"
    description = "test filter: sets a header, reads the reply's"

    def __init__(self) -> None:
        self.seen: list[dict[str, str] | None] = []

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        request.headers["via-filter"] = "yes"
        try:
            return service(request)
        finally:
            self.seen.append(request.context.reply_headers)


class ServerTagFilter(Filter[Request, Response, Request, Response]):
    role = "server-tag"
    description = "test filter: reads request headers, adds a reply header"

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        response = service(request)
        request.context.set_reply_header("filter-saw", ",".join(sorted(request.headers)))
        return response


def test_filters_set_and_see_headers(store: ModuleType) -> None:
    tag = TagFilter()
    with sync_server(store, "threaded", "header", "buffered", filters=[ServerTagFilter()]) as port:
        with swordfish.Client(store.Store, port=port, protocol="header", filters=[tag]) as client:
            assert client.echo("x") == "x"
    assert tag.seen == [
        {"echo-via-filter": "yes", "server": "swordfish", "filter-saw": "via-filter"}
    ]


def test_headers_on_a_plain_protocol_are_dropped(store: ModuleType) -> None:
    with sync_server(store, "threaded", "binary", "framed") as port:
        with swordfish.Client(store.Store, port=port, protocol="binary", transport="framed") as c:
            with swordfish.call_headers({"k": "v"}) as scope:
                assert c.echo("x") == "x"
    assert scope.reply == {}


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "server closed early"
        data += chunk
    return data


def test_zlib_transform_on_the_wire(store: ModuleType) -> None:
    """A compressing client gets compressed replies; ``header_transforms`` on the server
    compresses every reply."""
    codec = get_codec("binary")
    payload = codec.encode_message(
        "echo",
        MessageType.CALL,
        5,
        store.Store.__thrift_service__.methods["echo"].args(text="z" * 500),
    )
    for server_kw, client_zlib, want_zlib in (
        ({}, False, False),
        ({}, True, True),
        ({"header_transforms": ("zlib",)}, False, True),
    ):
        with sync_server(store, "threaded", "header", "buffered", **server_kw) as port:
            framer = HeaderFramer(codec, transforms=("zlib",) if client_zlib else ())
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(framer.wrap(payload, seqid=5))
                (length,) = struct.unpack(">i", _read_exactly(sock, 4))
                frame = _read_exactly(sock, length)
            # protocol id 0, then the transform list: [] or [zlib]
            assert frame[10:12] == (b"\x00\x01" if want_zlib else b"\x00\x00"), frame[:16]
            if want_zlib:
                assert frame[12] == 1
                words = struct.unpack(">H", frame[8:10])[0]
                zlib.decompress(frame[10 + 4 * words :])  # a whole zlib stream
            reader = HeaderFramer(codec)
            reader.feed(struct.pack(">i", length) + frame)
            assert reader.next_message() is not None
            assert reader.message_headers == {"server": "swordfish"}


PLAIN_COMBOS = [
    pytest.param(p, t, st, id=f"{p}-{t}-to-header-{st}")
    for p in ("binary", "compact")
    for t, st in (("buffered", "buffered"), ("framed", "buffered"), ("framed", "framed"))
]


@pytest.mark.parametrize(("protocol", "transport", "server_transport"), PLAIN_COMBOS)
def test_plain_clients_of_a_header_server(
    store: ModuleType, protocol: str, transport: str, server_transport: str
) -> None:
    """Over "buffered" a header server detects every plain format; over "framed" (header
    frames framed twice) only framed plain clients fit its outer framing."""
    with sync_server(store, "threadpool", "header", server_transport) as port:
        with swordfish.Client(store.Store, port=port, protocol=protocol, transport=transport) as c:
            with swordfish.call_headers({"dropped": "yes"}) as scope:
                assert c.echo("plain") == "plain"
                assert c.add(2, 3) == 5
            assert scope.reply == {}


def test_undetectable_client_is_dropped(store: ModuleType) -> None:
    with sync_server(store, "threaded", "header", "buffered") as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"\x00\x00\x00\x10GET / HTTP/1.1\r\n")
            assert sock.recv(100) == b""  # closed without an answer
        # The server still serves others.
        with swordfish.Client(store.Store, port=port, protocol="header") as c:
            assert c.add(1, 1) == 2


# -- asyncio ------------------------------------------------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("protocol", HEADER_PROTOCOLS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_aio_headers_both_ways(store: ModuleType, loop: str, protocol: str, transport: str) -> None:
    async def main() -> None:
        server = await swordfish.make_aio_server(
            store.Store, AsyncEchoHeaders(), port=0, protocol=protocol, transport=transport
        )
        try:
            client = await swordfish.make_aio_client(
                store.Store,
                port=server.port,
                protocol=protocol,
                transport=transport,
                headers={"client": "aio"},
                header_transforms=("zlib",),
                timeout=10,
            )
            try:
                with swordfish.call_headers({"n": "1"}) as scope:
                    assert await client.echo("a") == "a"
                assert scope.reply == _expect({"client": "aio", "n": "1"})

                async def one(i: int) -> dict[str, str]:
                    with swordfish.call_headers({"n": str(i)}) as own:
                        assert await client.echo(str(i)) == str(i)
                    return own.reply

                replies = await asyncio.gather(*(one(i) for i in range(20)))
                assert replies == [_expect({"client": "aio", "n": str(i)}) for i in range(20)]
                # A plain (sync) handler method: get raises, reply headers still arrive.
                with swordfish.call_headers() as scope:
                    with pytest.raises(swordfish.TApplicationException):
                        await client.get("x")
                assert scope.reply == {"failed": "x"}
            finally:
                await client.close()
            pool = await swordfish.make_aio_pool(
                store.Store, port=server.port, protocol=protocol, transport=transport, max_size=2
            )
            try:
                with swordfish.call_headers({"pool": "yes"}) as scope:
                    assert await pool.echo("p") == "p"
                assert scope.reply == _expect({"pool": "yes"})
            finally:
                await pool.close()
        finally:
            await server.stop()

    run(main(), loop=loop)


class AsyncTag(AsyncFilter[Request, Response, Request, Response]):
    role = "tag"
    description = "test filter: sets a header, reads the reply's"

    def __init__(self) -> None:
        self.seen: list[dict[str, str] | None] = []

    async def __call__(  # type: ignore[override]
        self, request: Request, service: AsyncService[Request, Response]
    ) -> Response:
        request.headers["via"] = "aio-filter"
        try:
            return await service(request)
        finally:
            self.seen.append(request.context.reply_headers)


class AsyncServerTag(AsyncFilter[Request, Response, Request, Response]):
    role = "server-tag"
    description = "test filter: adds a reply header"

    async def __call__(  # type: ignore[override]
        self, request: Request, service: AsyncService[Request, Response]
    ) -> Response:
        request.context.set_reply_header("filtered", request.headers.get("via", "-"))
        return await service(request)


@pytest.mark.parametrize("loop", LOOPS)
def test_aio_filters_and_plain_clients(store: ModuleType, loop: str) -> None:
    async def main() -> None:
        server = await swordfish.make_aio_server(
            store.Store, AsyncEchoHeaders(), port=0, protocol="header", filters=[AsyncServerTag()]
        )
        try:
            tag = AsyncTag()
            async with swordfish.AsyncClient(
                store.Store, port=server.port, protocol="header", filters=[tag]
            ) as client:
                assert await client.echo("f") == "f"
            assert tag.seen == [
                {"filtered": "aio-filter", "echo-via": "aio-filter", "server": "swordfish"}
            ]
            for protocol in ("binary", "compact"):
                for transport in ("buffered", "framed"):
                    async with swordfish.AsyncClient(
                        store.Store, port=server.port, protocol=protocol, transport=transport
                    ) as plain:
                        assert await plain.add(20, 22) == 42
        finally:
            await server.stop()

    run(main(), loop=loop)


def test_set_reply_header_outside_a_call() -> None:
    with pytest.raises(RuntimeError, match="outside a request"):
        swordfish.set_reply_header("k", "v")
    assert dict(swordfish.current_headers()) == {}


@pytest.mark.parametrize("protocol", HEADER_PROTOCOLS)
def test_cli_serve_and_call_over_header(protocol: str, tmp_path: Path) -> None:
    """``swordfish serve/call --protocol header*``; ``call --header K=V`` sends info headers
    and prints the reply's on stderr."""
    log = tmp_path / "serve.log"
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(IDL), "--service", "Store",
        "--handler", "tests.drivers.test_header:EchoHeaders", "--port", "0",
        "--protocol", protocol, "--transport", "framed", "--server", "asyncio",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        port = _wait_listening(proc, log)
        call = [
            sys.executable, "-m", "swordfish", "call", str(IDL), "--service", "Store",
            "--port", str(port), "--protocol", protocol, "--transport", "framed",
            "--header", "trace=abc", "--header", "empty=", "echo", '{"text": "hi"}',
        ]  # fmt: skip
        done = subprocess.run(call, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "hi"
        assert "reply header echo-trace: abc" in done.stderr
        assert "reply header echo-empty: " in done.stderr
        assert "reply header server: swordfish" in done.stderr
        bad = subprocess.run(
            call[:-2] + ["--header", "novalue", "echo", "{}"], cwd=REPO, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"listening on \S+:(\d+)", log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.05)
    raise AssertionError(f"not listening after 30 s:\n{log.read_text(errors='replace')}")
