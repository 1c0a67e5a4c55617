"""The command line, as users run it: ``python -m swordfish serve`` in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import swordfish
from swordfish.cli import main
from swordfish.errors import TransportError

from .handler import Handler, store

ROOT = Path(__file__).parents[2]
IDL = "tests/drivers/store.thrift"
LISTENING = re.compile(
    r"swordfish: listening on 127\.0\.0\.1:(\d+) "
    r"\(server=(\w+), protocol=(\w+), transport=(\w+)\)"
)


class Served:
    """A ``swordfish serve`` subprocess whose stderr is read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swordfish", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_listening(self, within: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            match = LISTENING.match(line)
            if match:
                return match
        raise AssertionError(f"never listened; stderr: {''.join(self.stderr)!r}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(10)
        return rc, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    procs: list[Served] = []

    def run(*extra: str) -> Served:
        p = Served(IDL, "--service", "Store", "--handler", "tests.cli.handler:Handler", *extra)
        procs.append(p)
        return p

    yield run
    for p in procs:
        p.kill()


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool"])
def test_serve_answers_calls_and_exits_cleanly_on_sigterm(serve: Any, model: str) -> None:
    p = serve("--port", "0", "--server", model, "--protocol", "compact", "--transport", "framed")
    match = p.wait_listening()
    port = int(match.group(1))
    assert match.groups()[1:] == (model, "compact", "framed")
    with swordfish.make_client(
        store.Store, port=port, protocol="compact", transport="framed", timeout=5
    ) as c:
        assert c.add(40, 2) == 42
        with pytest.raises(store.NotFound):
            c.get("missing")
        rc, took = p.stop()  # the client is still connected (idle)
    assert rc == 0
    assert took < 3.0
    assert "swordfish: stopping" in "".join(p.stderr)


def test_sigint_stops_too(serve: Any) -> None:
    p = serve("--port", "0")
    p.wait_listening()
    rc, took = p.stop(signal.SIGINT)
    assert (rc, took < 3.0) == (0, True)
    assert "Traceback" not in "".join(p.stderr)


def test_sigterm_lets_an_in_flight_call_finish(serve: Any) -> None:
    p = serve("--port", "0", "--server", "threaded")
    port = int(p.wait_listening().group(1))
    c = swordfish.make_client(store.Store, port=port, timeout=5)
    c.ping()
    outcome: list[Any] = []
    t = threading.Thread(target=lambda: outcome.append(c.slow(0.7, 99)))
    t.start()
    time.sleep(0.2)  # the call is now running in the server
    rc, took = p.stop()
    t.join(5)
    c.close()
    assert outcome == [99]
    assert rc == 0
    assert took < 3.0


def test_bad_handler_exits_2_with_a_clear_message() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["serve", IDL, "--service", "Store", "--handler", "no_such_module:Handler"]
    proc = subprocess.run(
        [sys.executable, "-m", "swordfish", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "swordfish: error: cannot import handler module 'no_such_module': "
        "ModuleNotFoundError: No module named 'no_such_module'"
    )


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--handler", "tests.cli.handler:Nope"],
            "handler module 'tests.cli.handler' has no attribute 'Nope'",
        ),
        (["--handler", "nocolon"], "--handler must look like module:Class, got 'nocolon'"),
        (
            ["--handler", "tests.cli.handler:Broken"],
            "cannot create handler tests.cli.handler:Broken(): RuntimeError: no config",
        ),
        (
            ["--handler", "tests.cli.handler:Handler", "--server", "threaded", "--workers", "2"],
            "--workers applies to --server threadpool only",
        ),
    ],
)
def test_serve_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    rc, _, err = run_main(capsys, "serve", IDL, "--service", "Store", "--port", "0", *argv)
    assert rc == 2
    assert err.strip() == f"swordfish: error: {message}"


def test_unknown_service_lists_the_services(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(capsys, "serve", IDL, "--service", "Nope", "--handler", "x:y")
    assert rc == 2
    assert err.strip() == f"swordfish: error: no service 'Nope' in {IDL}; services: Store, StoreV2"


def test_missing_and_broken_idl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run_main(capsys, "call", str(tmp_path / "none.thrift"), "--service", "S", "m")
    assert rc == 2
    assert "cannot read IDL" in err
    bad = tmp_path / "bad.thrift"
    bad.write_text("service S {\n  void f(\n}\n")
    rc, _, err = run_main(capsys, "call", str(bad), "--service", "S", "f")
    assert rc == 2
    assert err.startswith(f"swordfish: error: {bad}:3:")


def test_argparse_rejects_unknown_choices(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(
        capsys, "serve", IDL, "--service", "S", "--handler", "a:b", "--protocol", "xml"
    )
    assert rc == 2
    assert "invalid choice: 'xml'" in err


# -- call ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    srv = swordfish.make_server(store.Store, Handler(), port=0, model="threaded").start()
    yield srv
    srv.stop()


def call(capsys: pytest.CaptureFixture[str], server: Any, *argv: str) -> tuple[int, str, str]:
    return run_main(capsys, "call", IDL, "--service", "Store", "--port", str(server.port), *argv)


def test_call_prints_json(capsys: pytest.CaptureFixture[str], server: Any) -> None:
    assert call(capsys, server, "add", '{"a": 1, "b": 2}') == (0, "3\n", "")
    assert call(capsys, server, "ping") == (0, "null\n", "")
    rc, out, _ = call(capsys, server, "echo_binary", '{"data": "AAH/"}')
    assert (rc, json.loads(out)) == (0, "AAH/")
    rc, out, _ = call(capsys, server, "nested", '{"m": {"k": [1, 2]}}')
    assert (rc, json.loads(out)) == (0, {"k": [1, 2]})


def test_call_struct_arguments(capsys: pytest.CaptureFixture[str], server: Any) -> None:
    shape = {
        "name": "tri",
        "points": [{"x": 1, "y": 2}],
        "tags": {"a": 5},
        "ids": [3, 1],
        "color": "BLUE",
        "blob": "AQI=",
    }
    rc, out, _ = call(capsys, server, "roundtrip", json.dumps({"shape": shape}))
    assert rc == 0
    assert json.loads(out) == {**shape, "ids": [1, 3], "color": 3}


def test_call_declared_exception(capsys: pytest.CaptureFixture[str], server: Any) -> None:
    rc, out, _ = call(capsys, server, "get", '{"key": "missing"}')
    assert rc == 1
    assert json.loads(out) == {"NotFound": {"key": "missing"}}


def test_call_failures(capsys: pytest.CaptureFixture[str], server: Any) -> None:
    rc, _, err = call(capsys, server, "boom", '{"kind": "x"}')
    assert rc == 1
    assert err.strip() == "swordfish: error: TApplicationException: INTERNAL_ERROR: ValueError: x"
    rc, _, err = call(capsys, server, "nope")
    assert rc == 2
    assert "service Store has no method 'nope'; methods: ping, add," in err
    rc, _, err = call(capsys, server, "add", '{"a": 1, "c": 2}')
    assert (rc, err.strip()) == (2, "swordfish: error: unknown field 'c'; fields: a, b")
    rc, _, err = call(capsys, server, "add", "[1, 2]")
    assert (rc, err.strip()) == (
        2,
        "swordfish: error: JSON_ARGS must be a JSON object of parameter names",
    )


def test_call_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TransportError):
        swordfish.make_client(store.Store, port=1, connect_timeout=1).ping()
    rc, _, err = run_main(capsys, "call", IDL, "--service", "Store", "--port", "1", "ping")
    assert rc == 1
    assert err.startswith("swordfish: error: TransportError: connect to 127.0.0.1:1 failed")


def test_handler_from_a_py_path_is_a_real_module(tmp_path: Path) -> None:
    # A handler file is imported like a module: registered in sys.modules while it runs, so
    # what looks its module up there (dataclasses, pickling) works.
    path = tmp_path / "file_handler.py"
    path.write_text(
        "from __future__ import annotations\n\n"
        "import dataclasses\n\n\n"
        "@dataclasses.dataclass\n"
        "class Totals:\n"
        "    calls: int = 0\n\n\n"
        "class Handler:\n"
        "    def __init__(self):\n"
        "        self.totals = Totals()\n\n"
        "    def add(self, a, b):\n"
        "        self.totals.calls += 1\n"
        "        return a + b\n"
    )
    p = Served(IDL, "--service", "Store", "--handler", f"{path}:Handler", "--port", "0")
    try:
        port = int(p.wait_listening().group(1))
        with swordfish.make_client(store.Store, port=port, timeout=5) as c:
            assert c.add(1, 2) == 3
        assert p.stop()[0] == 0
    finally:
        p.kill()


@pytest.mark.parametrize("server_model", ["threaded", "asyncio"])
def test_multiplexed_protocol_names(
    serve: Any, capsys: pytest.CaptureFixture[str], server_model: str
) -> None:
    """``--protocol multiplexed-P`` serves (and calls) the service under its IDL name with
    protocol P: a prefixed client is answered, a plain one gets UNKNOWN_METHOD."""
    p = serve("--port", "0", "--server", server_model, "--protocol", "multiplexed-compact")
    deadline = time.monotonic() + 15
    port = None
    while port is None and time.monotonic() < deadline:
        try:
            line = p.lines.get(timeout=0.1)
        except queue.Empty:
            assert p.proc.poll() is None, "".join(p.stderr)
            continue
        found = re.search(r"listening on 127\.0\.0\.1:(\d+) .*protocol=compact", line)
        port = int(found.group(1)) if found else None
    assert port is not None, "".join(p.stderr)
    opts: dict[str, Any] = {"port": port, "protocol": "compact", "timeout": 5}
    with swordfish.make_client(store.Store, service_name="Store", **opts) as c:
        assert c.add(40, 2) == 42
    with swordfish.make_client(store.Store, **opts) as c:
        with pytest.raises(swordfish.TApplicationException) as info:
            c.add(1, 2)
        assert info.value.type == swordfish.TApplicationException.UNKNOWN_METHOD
    argv = ("call", IDL, "--service", "Store", "--port", str(port))
    add = ("add", '{"a": 1, "b": 2}')
    rc, out, _ = run_main(capsys, *argv, "--protocol", "multiplexed-compact", *add)
    assert (rc, out) == (0, "3\n")
    rc, _, err = run_main(capsys, *argv, "--protocol", "compact", *add)
    assert rc == 1 and "Service name not found" in err, err
    assert p.stop()[0] == 0


@pytest.mark.parametrize(
    "extra", [("--server", "prefork"), ("--transport", "http")], ids=["prefork", "http"]
)
def test_multiplexed_protocol_is_refused_where_it_is_not_served(
    capsys: pytest.CaptureFixture[str], extra: tuple[str, ...]
) -> None:
    rc, _, err = run_main(
        capsys,
        "serve",
        IDL,
        "--service",
        "Store",
        "--handler",
        "tests.cli.handler:Handler",
        "--protocol",
        "multiplexed-binary",
        *extra,
    )
    assert rc == 2 and "multiplexed-*" in err, err


@pytest.mark.parametrize("server_model", ["threaded", "asyncio", "prefork"])
def test_header_transform_flag(
    serve: Any, capsys: pytest.CaptureFixture[str], server_model: str
) -> None:
    """``--header-transform zlib`` on ``serve`` deflates every reply (even to a caller that
    did not deflate), on every server kind; on ``call`` it deflates the call."""
    from swordfish.framing import wire_format
    from swordfish.model import MessageType

    p = serve(
        "--port", "0", "--server", server_model,
        *(("--workers", "1") if server_model == "prefork" else ()),
        "--protocol", "header", "--header-transform", "zlib",
    )  # fmt: skip
    deadline = time.monotonic() + 20
    port = None
    while port is None and time.monotonic() < deadline:
        try:
            line = p.lines.get(timeout=0.1)
        except queue.Empty:
            assert p.proc.poll() is None, "".join(p.stderr)
            continue
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        port = int(found.group(1)) if found else None
    assert port is not None, "".join(p.stderr)
    # A plain (not deflated) header call, written by hand; the reply's header must list the
    # zlib transform: [len 4][magic 2][flags 2][seqid 4][hlen 2][proto id][n transforms][id]
    wire = wire_format("header", "buffered")
    framer = wire.new_framer()
    payload = wire.codec.encode_message("add", MessageType.CALL, 1, store.Store.add_args(a=2, b=3))
    call = framer.wrap(payload)
    assert call[15] == 0  # no transform on what we send
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(call)
        reply = b""
        while len(reply) < 4 or len(reply) < 4 + int.from_bytes(reply[:4], "big"):
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
    assert reply[4:6] == b"\x0f\xff" and reply[14:17] == b"\x00\x01\x01", reply[:20].hex()
    framer.feed(reply)
    message = framer.next_message()
    assert message is not None
    assert wire.codec.decode_message(message, lambda n, t: store.Store.add_result).body == (
        store.Store.add_result(success=5)
    )
    argv = ("call", IDL, "--service", "Store", "--port", str(port), "--protocol", "header")
    rc, out, err = run_main(capsys, *argv, "--header-transform", "zlib", "add", '{"a": 1, "b": 2}')
    assert (rc, out) == (0, "3\n"), err
    assert p.stop()[0] == 0
    rc, _, err = run_main(capsys, *argv[:-1], "binary", "--header-transform", "zlib", "ping")
    assert rc == 2 and "header_transforms apply to the THeader protocols" in err, err
