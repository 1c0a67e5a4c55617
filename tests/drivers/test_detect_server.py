"""``detect=``: one server port serves every protocol and transport, over real sockets.

Each scenario runs on the sync models (threaded, threadpool, forking) and on the asyncio
server on both loops. Swordfish clients of every protocol (binary, compact, json, THeader
with binary or compact inside) over every transport (buffered, framed, zlib), and Apache's
Python clients (plain and THeader, in their own processes), are all served at once on the
same port. A restricted server refuses what it was not told to accept and keeps serving the
rest; garbage first bytes close only their own connection; a client that sends one byte and
stalls is closed by the idle timeout while everyone else is served.
"""

from __future__ import annotations

import asyncio
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.aio import AsyncServer, run
from swordfish.codec import get_codec
from swordfish.framing import Detection, detection
from swordfish.model import MessageType
from tests.drivers.conftest import IDL, StoreHandler, closed_by_peer
from tests.interop import harness
from tests.interop.harness import PEERS_DIR, THRIFT_TEST_IDL

KINDS = ["threaded", "threadpool", "forking", "asyncio", "uvloop"]
PROTOCOLS = ("binary", "compact", "json", "header", "header-compact")
TRANSPORTS = ("buffered", "framed", "zlib")
FORMATS = [(p, t) for p in PROTOCOLS for t in TRANSPORTS]


@pytest.fixture(scope="module")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, require: Any) -> str:
    if request.param == "uvloop":
        require.module("uvloop")
    return str(request.param)


class EchoStore(StoreHandler):
    """The Store handler; ``echo`` also sends the call's info headers back, prefixed."""

    def echo(self, text: str) -> str:
        for key, value in swordfish.current_headers().items():
            swordfish.set_reply_header(f"echo-{key}", value)
        return text


@contextmanager
def detect_server(kind: str, service: object, handler: object, **options: Any) -> Iterator[int]:
    """A started server of ``kind`` (a sync model or an event loop) on a free port."""
    if kind not in ("asyncio", "uvloop"):
        server = swordfish.Server(service, handler, port=0, model=kind, **options)
        server.start()
        try:
            yield server.port
        finally:
            server.stop(timeout=5)
        return
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        aserver = AsyncServer(service, handler, port=0, **options)
        await aserver.start()
        stop = asyncio.Event()
        state.update(port=aserver.port, loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        await aserver.stop(timeout=5)

    def thread_main() -> None:
        try:
            run(main(), loop=kind)
        except BaseException as exc:  # reported by the test thread
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    assert ready.wait(30), "the asyncio server did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield state["port"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(15)
        assert not thread.is_alive(), "the asyncio server did not stop"
    if "error" in state:
        raise state["error"]


def in_threads(jobs: Sequence[Callable[[], None]], timeout: float = 60.0) -> None:
    """Run every job in its own thread, all at once; re-raise the first failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def runner(job: Callable[[], None]) -> None:
        try:
            start.wait(timeout)
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a client thread is still running"
    if errors:
        raise errors[0]


def use_store(store: ModuleType, port: int, protocol: str, transport: str) -> None:
    """A few calls of each shape in ``protocol`` over ``transport``, headers included."""
    tag = f"{protocol}-{transport}"
    with swordfish.Client(
        store.Store, port=port, protocol=protocol, transport=transport, timeout=20
    ) as client:
        for i in range(5):
            assert client.add(i, 1000) == i + 1000
            big = tag * 500
            with swordfish.call_headers({"who": tag}) as scope:
                assert client.echo(big) == big
            # Only THeader carries headers; every other format drops them (and replies none).
            assert scope.reply == ({"echo-who": tag} if protocol.startswith("header") else {})
            with pytest.raises(store.NotFound):
                client.get("missing")
            shape = store.Shape(name=tag, points=[store.Point(x=i, y=-i)])
            assert client.roundtrip(shape) == shape


# --- every Swordfish client on one port --------------------------------------------------------


def old_style_ping(port: int) -> bytes:
    """An unversioned (pre-2008) binary call ``ping`` with seqid 7; returns the reply."""
    call = bytes.fromhex("00000004") + b"ping" + bytes.fromhex("01 00000007 00")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(call)
        reply = b""
        while True:
            chunk = sock.recv(4096)
            reply += chunk
            if not chunk or get_codec("binary").scan_message(reply, 0) == len(reply):
                return reply


def test_every_format_served_concurrently_on_one_port(store: ModuleType, kind: str) -> None:
    with detect_server(kind, store.Store, EchoStore(store), detect=True) as port:
        jobs: list[Callable[[], None]] = [partial(use_store, store, port, p, t) for p, t in FORMATS]
        in_threads(jobs)
        # Old-style binary is answered in the versioned envelope every reader accepts.
        reply = old_style_ping(port)
        name, mtype, seqid, _ = get_codec("binary").decode_message(reply, lambda n, t: None)
        assert (reply[:2], name, mtype, seqid) == (b"\x80\x01", "ping", MessageType.REPLY, 7)


def test_header_transforms_apply_to_detected_header_connections(store: ModuleType) -> None:
    from swordfish.framing import HeaderFramer

    codec = get_codec("binary")
    args = store.Store.__thrift_service__.methods["echo"].args(text="z" * 300)
    call = HeaderFramer(codec).wrap(
        codec.encode_message("echo", MessageType.CALL, 3, args), seqid=3
    )
    assert call[14:16] == b"\x00\x00"  # protocol id 0, no transforms: the call is not deflated
    with detect_server(
        "threaded", store.Store, EchoStore(store), detect=True, header_transforms=("zlib",)
    ) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(call)
            raw = b""
            while len(raw) < 4 or len(raw) < 4 + int.from_bytes(raw[:4], "big"):
                chunk = sock.recv(4096)
                assert chunk, "closed before replying"
                raw += chunk
    # The reply is deflated: protocol id 0, one transform, id 1 (zlib).
    assert raw[4:6] == b"\x0f\xff" and raw[14:17] == b"\x00\x01\x01"
    reader = HeaderFramer(codec)
    reader.feed(raw)
    message = reader.next_message()
    assert message is not None
    result_type = store.Store.__thrift_service__.methods["echo"].result
    decoded = codec.decode_message(message, lambda n, t: result_type)
    assert (decoded.seqid, decoded.body.success) == (3, "z" * 300)


# --- Apache's clients, plain and THeader, all at once -------------------------------------------


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory, require: Any) -> Path:
    require.module("thrift")
    compiler = require.binary("thrift")
    idl = tmp_path_factory.mktemp("idl") / "ThriftTest.thrift"
    idl.write_text(harness.idl_for_old_peers(THRIFT_TEST_IDL.read_text()))
    out = tmp_path_factory.mktemp("apache-gen")
    done = subprocess.run(
        [compiler, "--gen", "py", "-out", str(out), str(idl)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"thrift --gen py failed:\n{done.stdout}\n{done.stderr}"
    return out


class EchoingThriftTest:
    """The interop ThriftTest handler; every call's info headers go back prefixed ``echo-``,
    with ``server: swordfish`` (what peers/apache_header_client.py checks on each reply)."""

    def __init__(self) -> None:
        from tests.interop import sf_handler

        self._inner = sf_handler.Handler()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            for key, value in swordfish.current_headers().items():
                swordfish.set_reply_header(f"echo-{key}", value)
            swordfish.set_reply_header("server", "swordfish")
            return method(*args, **kwargs)

        return call


def apache_plain(gen_dir: Path, protocol: str, transport: str, port: int) -> list[str]:
    return [
        sys.executable, str(PEERS_DIR / "apache_client.py"), "--gen-dir", str(gen_dir),
        "--protocol", protocol, "--transport", transport, "--port", str(port), "--verbose",
    ]  # fmt: skip


def apache_header(gen_dir: Path, inner: str, transport: str, zipped: bool, port: int) -> list[str]:
    argv = [
        sys.executable, str(PEERS_DIR / "apache_header_client.py"), "--gen-dir", str(gen_dir),
        "--inner", inner, "--transport", transport, "--port", str(port), "--verbose",
    ]  # fmt: skip
    return argv + (["--zlib"] if zipped else [])


def swordfish_checks(port: int, protocol: str, transport: str) -> None:
    from tests.interop import sf_handler
    from tests.interop.peers.thrifttest_checks import run_checks

    tt = sf_handler.thrift_test
    with swordfish.make_client(
        tt.ThriftTest, port=port, protocol=protocol, transport=transport, timeout=20
    ) as client:
        failures = run_checks(client, tt, swordfish.TApplicationException)
    assert not failures, f"{protocol} over {transport}: " + "\n".join(failures)


@pytest.mark.parametrize("kind", ["threadpool", "asyncio"])
def test_apache_and_swordfish_clients_share_one_port(kind: str, gen_dir: Path) -> None:
    """Apache's plain clients (binary, compact, json over buffered and framed), its THeader
    clients (binary and compact inside, over buffered, framed and zlib, with and without the
    zlib transform) and Swordfish's plain zlib clients (Apache's Python peer has no plain zlib
    client), each running the whole ThriftTest check table, at the same time."""
    from tests.interop import sf_handler

    with detect_server(
        kind, sf_handler.thrift_test.ThriftTest, EchoingThriftTest(), detect=True
    ) as port:
        argvs = [
            apache_plain(gen_dir, p, t, port)
            for p in ("binary", "compact", "json")
            for t in ("buffered", "framed")
        ] + [
            apache_header(gen_dir, inner, t, zipped, port)
            for inner, t, zipped in (
                ("binary", "buffered", False),
                ("compact", "buffered", True),
                ("binary", "framed", True),
                ("compact", "framed", False),
                ("binary", "zlib", False),
                ("compact", "zlib", True),
            )
        ]
        jobs: list[Callable[[], None]] = [partial(harness.run_client, a) for a in argvs]
        jobs += [partial(swordfish_checks, port, p, "zlib") for p in ("binary", "compact", "json")]
        in_threads(jobs, timeout=harness.CLIENT_TIMEOUT_S + 30)


# --- refusals ------------------------------------------------------------------------------------


def refused(store: ModuleType, port: int, protocol: str, transport: str) -> None:
    """A client of a format the server does not accept: its connection is closed, unanswered."""
    with swordfish.Client(
        store.Store, port=port, protocol=protocol, transport=transport, timeout=20
    ) as client:
        with pytest.raises(swordfish.TransportError):
            client.add(1, 2)


def test_restricted_server_refuses_other_formats(store: ModuleType, kind: str) -> None:
    accepted = [("binary", "framed"), ("compact", "framed"), ("binary", "buffered")]
    with detect_server(
        kind, store.Store, EchoStore(store), detect=("buffered", "compact", "binary", "framed")
    ) as port:
        jobs: list[Callable[[], None]] = []
        for p, t in FORMATS:
            if (p, t) in accepted or (p, t) == ("compact", "buffered"):
                jobs.append(lambda p=p, t=t: use_store(store, port, p, t))  # type: ignore[misc]
            else:
                jobs.append(lambda p=p, t=t: refused(store, port, p, t))  # type: ignore[misc]
        in_threads(jobs)
        # Still serving after all the refusals.
        use_store(store, port, "compact", "framed")


def test_garbage_first_bytes_close_only_that_connection(store: ModuleType, kind: str) -> None:
    with detect_server(kind, store.Store, EchoStore(store), detect=True) as port:
        with swordfish.Client(store.Store, port=port, protocol="json", transport="framed") as ok:
            assert ok.add(1, 2) == 3  # connected before, and served after
            for garbage in (
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x16\x03\x01\x00\xa5\x01\x00",  # a TLS ClientHello on a plain port
                b"\xff\xfe\xfd\xfc garbage",
                b"\x00\x00\x00\x20 not a message",
            ):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(garbage)
                    assert closed_by_peer(sock, within=10), f"not closed after {garbage!r}"
                assert ok.add(2, 3) == 5
        use_store(store, port, "header", "zlib")


def test_one_byte_then_silence_is_closed_by_the_idle_timeout(store: ModuleType, kind: str) -> None:
    idle = 1.5
    with detect_server(kind, store.Store, EchoStore(store), detect=True, idle_timeout=idle) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"\x80")  # strict binary? old-style? not decidable yet
            opened = time.monotonic()
            # Everyone else is served meanwhile, in several formats.
            in_threads(
                [
                    partial(use_store, store, port, p, t)
                    for p, t in (("binary", "buffered"), ("header", "framed"), ("json", "zlib"))
                ]
            )
            readable, _, _ = select.select([stalled], [], [], 0)
            if time.monotonic() - opened < idle * 0.5:
                assert not readable, "closed before its idle timeout"
            assert closed_by_peer(stalled, within=idle + 10)
            assert time.monotonic() - opened >= idle * 0.5


def test_first_message_split_across_reads_is_detected(store: ModuleType, kind: str) -> None:
    """The first bytes trickle in (one, then a pause, then the rest): detection waits."""
    with detect_server(kind, store.Store, EchoStore(store), detect=True) as port:
        codec = get_codec("compact")
        args = store.Store.__thrift_service__.methods["add"].args(a=20, b=22)
        payload = codec.encode_message("add", MessageType.CALL, 9, args)
        wire = len(payload).to_bytes(4, "big") + payload  # framed compact
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(wire[:1])
            time.sleep(0.3)
            sock.sendall(wire[1:5])
            time.sleep(0.3)
            sock.sendall(wire[5:])
            reply = b""
            while len(reply) < 4 or len(reply) < 4 + int.from_bytes(reply[:4], "big"):
                chunk = sock.recv(4096)
                assert chunk, "closed before replying"
                reply += chunk
        result_type = store.Store.__thrift_service__.methods["add"].result
        name, mtype, seqid, result = codec.decode_message(reply[4:], lambda n, t: result_type)
        assert (name, mtype, seqid, result.success) == ("add", MessageType.REPLY, 9, 42)


# --- the option ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detect", "protocols", "transports"),
    [
        (True, ("binary", "compact", "json", "header"), ("buffered", "framed", "zlib")),
        (("framed",), ("binary", "compact", "json", "header"), ("framed",)),
        (("compact", "binary"), ("binary", "compact"), ("buffered", "framed", "zlib")),
        (["zlib", "header-compact", "buffered"], ("header",), ("buffered", "zlib")),
        ("json", ("json",), ("buffered", "framed", "zlib")),
    ],
)
def test_detect_option_shapes(
    store: ModuleType, detect: Any, protocols: tuple[str, ...], transports: tuple[str, ...]
) -> None:
    assert detection(detect) == Detection(protocols, transports)
    server = swordfish.make_server(store.Store, object(), port=0, detect=detect)
    try:
        assert server.detect == Detection(protocols, transports)
        assert f"detect=[{', '.join(protocols)} over {', '.join(transports)}]" in repr(server)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("detect", "message"),
    [
        (("xml",), "detect: unknown name 'xml'; choose protocols from binary, compact, json"),
        (("http",), "detect: unknown name 'http'"),
        ((), "detect: give True, or at least one protocol or transport name"),
        (3, "detect must be True, False, or protocol/transport names, got 3"),
        ((b"binary",), "detect: unknown name b'binary'"),
    ],
)
def test_bad_detect_values_name_the_option(store: ModuleType, detect: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        swordfish.Server(store.Store, object(), port=0, detect=detect)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AsyncServer(store.Store, object(), port=0, detect=detect)


def test_detection_off_by_default_and_header_transforms_checked(store: ModuleType) -> None:
    for detect in (False, None):
        server = swordfish.Server(store.Store, object(), port=0, detect=detect)
        try:
            assert server.detect is None
            assert "protocol=binary transport=buffered" in repr(server)
        finally:
            server.stop()
    with pytest.raises(ValueError, match="header_transforms apply to THeader connections"):
        swordfish.Server(
            store.Store, object(), port=0, detect=("binary",), header_transforms=("zlib",)
        )
    with pytest.raises(ValueError, match="header_transforms apply to THeader connections"):
        AsyncServer(store.Store, object(), port=0, detect="framed,binary".split(","),
                    header_transforms=("zlib",))  # fmt: skip


def test_refusal_is_logged_with_what_the_bytes_looked_like(
    store: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="swordfish.server")
    with detect_server("threaded", store.Store, EchoStore(store), detect=("framed",)) as port:
        refused(store, port, "compact", "buffered")
        use_store(store, port, "compact", "framed")
    assert "look like compact over buffered, which this server does not accept" in caplog.text
    assert "accepts binary, compact, json, header over framed" in caplog.text


# --- TLS and unix sockets: detection runs on what the stream delivers ----------------------------


@pytest.mark.parametrize("kind", ["threadpool", "asyncio"])
def test_detection_behind_tls(store: ModuleType, kind: str, tmp_path: Path) -> None:
    from swordfish import tls
    from tests.tls_certs import make_certs

    certs = make_certs(tmp_path / "certs")
    server_ctx = tls.server_context(certs.server_cert, certs.server_key)
    with detect_server(
        kind, store.Store, EchoStore(store), detect=True, ssl_context=server_ctx
    ) as port:
        for protocol, transport in (
            ("compact", "zlib"),
            ("header", "framed"),
            ("json", "buffered"),
        ):
            with swordfish.Client(
                store.Store,
                port=port,
                protocol=protocol,
                transport=transport,
                timeout=20,
                ssl_context=tls.client_context(certs.ca),
            ) as client:
                assert client.add(2, 3) == 5
        # A plain client on the TLS port: refused by the handshake, never reaches detection.
        with swordfish.Client(store.Store, port=port, timeout=20) as plain:
            with pytest.raises(swordfish.TransportError):
                plain.add(1, 1)


def test_detection_on_a_unix_socket(store: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "detect.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    server = swordfish.Server(
        store.Store, EchoStore(store), model="threaded", sock=listener, detect=True
    )
    server.start()
    add_result = store.Store.__thrift_service__.methods["add"].result
    try:
        for protocol, transport in (("binary", "framed"), ("header-compact", "buffered")):
            codec = get_codec("binary" if protocol == "binary" else "compact")
            wire = swordfish.framing.wire_format(protocol, transport)
            framer = wire.new_framer()
            args = store.Store.__thrift_service__.methods["add"].args(a=1, b=2)
            payload = codec.encode_message("add", MessageType.CALL, 4, args)
            data = (
                framer.wrap(payload, codec=codec, seqid=4)  # type: ignore[call-arg]
                if protocol.startswith("header")
                else framer.wrap(payload)
            )
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(path)
                sock.sendall(data)
                message = None
                while message is None:
                    chunk = sock.recv(4096)
                    assert chunk, "closed before replying"
                    framer.feed(chunk)
                    message = framer.next_message()
            decoded = codec.decode_message(message, lambda n, t: add_result)
            assert (decoded.seqid, decoded.body.success) == (4, 3)
    finally:
        server.stop(timeout=5)
        listener.close()


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_serve_detect(store: ModuleType, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(IDL), "--service", "Store",
        "--handler", "tests.cli.handler:Handler", "--port", "0", "--server", "threaded",
        "--detect=binary,compact,header,framed,zlib",
    ]  # fmt: skip
    server = harness.ServerProcess(argv, tmp_path / "serve.log")
    try:
        server.wait_ready()
        assert "detect=binary, compact, header over framed, zlib" in server.output()
        for protocol, transport in (("binary", "zlib"), ("header-compact", "framed")):
            with swordfish.Client(
                store.Store, port=server.port, protocol=protocol, transport=transport, timeout=20
            ) as client:
                assert client.add(40, 2) == 42
        refused(store, server.port, "binary", "buffered")
        assert server.terminate_and_wait(timeout=10) == 0
    finally:
        server.stop()


def test_cli_rejects_bad_detect_names(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "swordfish",
            "serve",
            str(IDL),
            "--service",
            "Store",
            "--handler",
            "tests.cli.handler:Handler",
            "--port",
            "0",
            "--detect=binary,xml",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "detect: unknown name 'xml'" in done.stderr
