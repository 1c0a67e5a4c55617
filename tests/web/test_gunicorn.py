"""The gunicorn workers under a real gunicorn: the arbiter forks real workers on real sockets.

Every test starts ``.venv/bin/gunicorn`` in its own process group (killed in ``finally``) on a
free loopback port, with the example app of ``examples/gunicorn``, and waits (bounded) for
the workers' "swordfish worker ready (pid N)" log lines. Its log goes to a file that is shown
when an assertion fails.

A call is known to be *in flight* (for the drain tests) when the server has read its bytes:
the call is written with the sans-IO engine on a plain socket, and the kernel's receive queue
of the server side of that connection (``/proc/net/tcp``) is watched until it is empty.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from examples.gunicorn.calc_app import calc_app
from swordfish.codec import get_codec
from swordfish.framing import make_framer
from swordfish.protocol import NEED_DATA, ClientConnection, ExceptionReply, Reply
from swordfish.rpc import AsyncFilter, Filter
from swordfish.web import ThriftApp
from tests.paths import REPO

GUNICORN = Path(sys.executable).with_name("gunicorn")
SYNC = "swordfish.web.gunicorn.ThriftWorker"
ASYNC = "swordfish.web.gunicorn.ThriftAsyncWorker"
APP = "examples.gunicorn.calc_app:app"
ASYNC_APP = "examples.gunicorn.calc_app:async_app"
WORKERS = [(SYNC, APP), (ASYNC, ASYNC_APP)]  # each worker kind with an app it can run
READY = re.compile(r"swordfish worker ready \(pid (\d+)\)")
BOOT_S = 30.0  # generous: two noisy cores, and every worker imports swordfish afresh

calc = calc_app.calc
SERVICE = calc_app.WorkerCalculator


def _gunicorn_version() -> tuple[int, ...]:
    import gunicorn

    return tuple(int(p) for p in gunicorn.__version__.split(".")[:2] if p.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """One gunicorn arbiter (and its workers) in its own process group."""

    def __init__(self, log_path: Path, worker: str, app: str | None, options: tuple[str, ...]):
        self.port = _free_port()
        self.log_path = log_path
        argv = [str(GUNICORN), "-k", worker, "-b", f"127.0.0.1:{self.port}", *options]
        if _gunicorn_version() >= (25, 1):
            argv.append("--no-control-socket")  # one shared default path for all arbiters
        if app is not None:
            argv.append(app)
        self.argv = argv
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one in kill()
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def explain(self) -> str:
        return f"\n$ {' '.join(self.argv)}\n--- gunicorn log ---\n{self.log()[-8000:]}"

    def ready_pids(self) -> list[int]:
        return [int(pid) for pid in READY.findall(self.log())]

    def wait_ready(
        self,
        count: int,
        *,
        exclude: frozenset[int] | set[int] = frozenset(),
        timeout: float = BOOT_S,
    ) -> set[int]:
        """The pids of the first ``count`` ready workers not in ``exclude``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [p for p in dict.fromkeys(self.ready_pids()) if p not in exclude]
            if len(fresh) >= count:
                return set(fresh[:count])
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}{self.explain()}")
            time.sleep(0.05)
        raise AssertionError(f"{count} new workers not ready after {timeout} s{self.explain()}")

    def wait_log(self, pattern: str, timeout: float = BOOT_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return match
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the log after {timeout} s{self.explain()}")

    def client(self, timeout: float = 10.0) -> Any:
        return swordfish.make_client(SERVICE, "127.0.0.1", self.port, timeout=timeout)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"gunicorn still running after {timeout} s{self.explain()}"
            ) from None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the arbiter and every worker
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._log.close()


@pytest.fixture
def gunicorn(tmp_path: Path, require: Any) -> Iterator[Callable[..., Gunicorn]]:
    require.module("gunicorn")  # a test dependency: missing, it skips (fails under CI=true)
    started: list[Gunicorn] = []

    def start(*options: str, worker: str = SYNC, app: str | None = APP) -> Gunicorn:
        g = Gunicorn(tmp_path / f"gunicorn-{len(started)}.log", worker, app, options)
        started.append(g)
        return g

    try:
        yield start
    finally:
        for g in started:
            g.kill()


# -- helpers --------------------------------------------------------------------------------


def _exercise(client: Any) -> None:
    """Plain calls, a declared exception and a oneway, on one connection."""
    client.ping()
    assert client.add(1, 2) == 3
    assert client.calculate(1, calc.Work(num1=15, num2=10, op=calc.Operation.SUBTRACT)) == 5
    with pytest.raises(calc.InvalidOperation) as info:
        client.calculate(2, calc.Work(num1=1, num2=0, op=calc.Operation.DIVIDE))
    assert info.value.why == "Cannot divide by 0"
    assert client.zip() is None  # oneway: nothing comes back...
    assert client.add(2, 3) == 5  # ...and the connection is still in step


def _pids_over_connections(g: Gunicorn, want: set[int], timeout: float = 20.0) -> set[int]:
    """pid() on fresh connections until every pid in ``want`` answered (or time is up)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while not want <= seen and time.monotonic() < deadline:
        with g.client() as c:
            seen.add(c.pid())
    return seen


def _call_with_retry(client: Any, method: str, *args: Any, attempts: int = 5) -> Any:
    """Retry on TransportError only: the connection closed under a call the worker never read
    (a recycling or reloading worker closes idle connections). Any other failure is real."""
    for attempt in range(attempts):
        try:
            return getattr(client, method)(*args)
        except swordfish.TransportError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _apache_add(thrift: ModuleType, a: int, b: int, **where: Any) -> int:
    """``add(a, b)`` with Apache Thrift's own Python library (TSocket, TBinaryProtocol)."""
    from thrift.protocol import TBinaryProtocol
    from thrift.Thrift import TMessageType, TType
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket(**where)
    sock.setTimeout(10_000)
    transport = TTransport.TBufferedTransport(sock)
    proto = TBinaryProtocol.TBinaryProtocol(transport)
    transport.open()
    try:
        proto.writeMessageBegin("add", TMessageType.CALL, 7)
        proto.writeStructBegin("add_args")
        for fid, value in ((1, a), (2, b)):
            proto.writeFieldBegin(f"num{fid}", TType.I32, fid)
            proto.writeI32(value)
            proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        transport.flush()
        assert proto.readMessageBegin() == ("add", TMessageType.REPLY, 7)
        proto.readStructBegin()
        _, ftype, fid = proto.readFieldBegin()
        assert (ftype, fid) == (TType.I32, 0)
        value = int(proto.readI32())
        proto.readFieldEnd()
        assert proto.readFieldBegin()[1] == TType.STOP
        proto.readStructEnd()
        proto.readMessageEnd()
        return value
    finally:
        transport.close()


class RawCall:
    """One call written on a plain socket by the sans-IO engine (to know when it is sent)."""

    def __init__(self, port: int, method: str, **args: Any) -> None:
        spec = SERVICE.__thrift_service__
        codec = get_codec("binary")
        self.engine = ClientConnection(spec, codec, make_framer("buffered", codec))
        m = spec.methods[method]
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.server_port = port
        self.local_port = self.sock.getsockname()[1]
        self.sock.sendall(self.engine.send_call(m, m.args(**args))[1])

    def wait_read_by_server(self, timeout: float = 10.0) -> None:
        """Until the server has read every byte of the call: it is being handled now."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _unread_by_server(self.server_port, self.local_port) == 0:
                return
            time.sleep(0.02)
        raise AssertionError(f"the server did not read the call within {timeout} s")

    def reply(self, timeout: float) -> Reply | ExceptionReply:
        self.sock.settimeout(timeout)
        while True:
            event = self.engine.next_event()
            if event is NEED_DATA:
                self.engine.receive_data(self.sock.recv(65536))
                continue
            assert isinstance(event, (Reply, ExceptionReply)), event
            return event

    def close(self) -> None:
        self.sock.close()


def _unread_by_server(server_port: int, client_port: int) -> int | None:
    """Bytes waiting in the receive queue of the server's end of a loopback connection."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.rsplit(":", 1)[1], 16) == server_port and (
            int(remote.rsplit(":", 1)[1], 16) == client_port
        ):
            return int(queues.split(":")[1], 16)
    return None


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody has reaped yet does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


# -- ThriftApp, without gunicorn running --------------------------------------------------


class _SyncPass(Filter[Any, Any, Any, Any]):
    role = "pass"

    def __call__(self, request: Any, service: Any) -> Any:
        return service(request)


class _AsyncPass(AsyncFilter[Any, Any, Any, Any]):
    role = "pass"

    async def __call__(self, request: Any, service: Any) -> Any:
        return await service(request)


def test_app_answers_http_with_501_that_says_what_it_is() -> None:
    app = ThriftApp(SERVICE, object())
    seen: list[Any] = []
    body = b"".join(app({"REQUEST_METHOD": "GET"}, lambda status, headers: seen.append(status)))
    assert seen == ["501 Not Implemented"]
    text = body.decode()
    assert "raw Thrift over TCP" in text and "WorkerCalculator" in text
    assert "-k swordfish.web.gunicorn.ThriftWorker" in text


def test_app_checks_options_when_built() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'nope'"):
        ThriftApp(SERVICE, object(), protocol="nope")
    with pytest.raises(ValueError, match="threads must be a positive int"):
        ThriftApp(SERVICE, object(), threads=0)
    with pytest.raises(ValueError, match="sync_handlers"):
        ThriftApp(SERVICE, object(), sync_handlers="later")
    with pytest.raises(TypeError, match="limits must be a swordfish.Limits"):
        ThriftApp(SERVICE, object(), limits={"max_frame_size": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="service must be a service class"):
        ThriftApp("Calculator", object())


def test_app_names_the_worker_that_can_run_it() -> None:
    from examples.gunicorn.calc_app import app, async_app

    for kind in ("sync", "async"):
        app.check_worker(kind)  # plain methods: either worker
    async_app.check_worker("async")
    with pytest.raises(TypeError, match=r"are async def; serve it with -k \S+ThriftAsyncWorker"):
        async_app.check_worker("sync")
    sync_filtered = ThriftApp(SERVICE, app.handler, filters=[_SyncPass()])
    with pytest.raises(TypeError, match=r"sync Filters; serve it with -k \S+\.ThriftWorker"):
        sync_filtered.check_worker("async")
    async_filtered = ThriftApp(SERVICE, app.handler, filters=[_AsyncPass()])
    with pytest.raises(TypeError, match="AsyncFilters; serve it with -k"):
        async_filtered.check_worker("sync")


def test_both_worker_class_spellings_load_through_gunicorn(require: Any) -> None:
    require.module("gunicorn")
    from gunicorn.config import Config
    from gunicorn.util import load_class

    from swordfish.web import gunicorn as module
    from swordfish.web.gunicorn import ThriftAsyncWorker, ThriftWorker

    assert load_class("swordfish.web.gunicorn.ThriftWorker") is ThriftWorker
    assert load_class("swordfish.web.gunicorn:ThriftWorker") is ThriftWorker
    assert load_class("swordfish.web.gunicorn:ThriftAsyncWorker") is ThriftAsyncWorker
    # gunicorn swaps any class named "...SyncWorker" for its HTTP gthread worker when
    # --threads > 1: no worker here may be named so, and ours are loaded as they are.
    assert not [name for name in dir(module) if name.endswith("SyncWorker")]
    cfg = Config()
    cfg.set("threads", 4)
    for uri in ("swordfish.web.gunicorn.ThriftWorker", "swordfish.web.gunicorn:ThriftWorker"):
        cfg.set("worker_class", uri)
        assert cfg.worker_class is ThriftWorker


def test_import_without_gunicorn_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['gunicorn'] = None  # as if it were not installed\n"
        "import swordfish.web  # fine without it\n"
        "try:\n"
        "    import swordfish.web.gunicorn\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'swordfish[gunicorn]'" in done.stdout


# -- serving --------------------------------------------------------------------------------


def test_thrift_worker_serves_every_listener(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path, require: Any
) -> None:
    """The example config, the issue's ``-k module:Class`` spelling, a TCP and a unix socket."""
    thrift = require.module("thrift")
    unix_path = tmp_path / "calc.sock"
    g = gunicorn(
        "-c",
        "examples/gunicorn/gunicorn.conf.py",  # 2 workers, 4 threads, the app
        "-b",
        f"unix:{unix_path}",
        worker="swordfish.web.gunicorn:ThriftWorker",
        app=None,
    )
    pids = g.wait_ready(2)
    assert re.search(
        rf"127\.0\.0\.1:{g.port}, unix:{re.escape(str(unix_path))} .*4 threads", g.log()
    )
    with g.client() as c:
        _exercise(c)
    assert _pids_over_connections(g, pids) == pids, g.explain()  # both workers accept
    assert _apache_add(thrift, 20, 22, host="127.0.0.1", port=g.port) == 42
    assert _apache_add(thrift, 1, 1, unix_socket=str(unix_path)) == 2

    # The documented example client, as a user would run it.
    done = subprocess.run(
        [sys.executable, "-m", "examples.gunicorn.client", "--port", str(g.port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + g.explain()
    assert "add(1, 2) = 3" in done.stdout and "InvalidOperation: Cannot divide by 0" in done.stdout


def test_async_worker_serves_async_handlers_on_uvloop(
    gunicorn: Callable[..., Gunicorn], require: Any
) -> None:
    thrift = require.module("thrift")
    require.module("uvloop")
    g = gunicorn("-w", "2", worker=ASYNC, app=ASYNC_APP)
    pids = g.wait_ready(2)
    assert "loop=uvloop" in g.log()
    with g.client() as c:
        _exercise(c)
    assert _pids_over_connections(g, pids) == pids, g.explain()
    assert _apache_add(thrift, 20, 22, host="127.0.0.1", port=g.port) == 42


def test_a_wrong_app_stops_gunicorn_with_a_clear_message(
    gunicorn: Callable[..., Gunicorn],
) -> None:
    g = gunicorn("-w", "1", worker=SYNC, app=ASYNC_APP)  # async def methods, blocking worker
    assert g.wait_exit(BOOT_S) == 3  # gunicorn's "worker failed to boot": no respawn loop
    assert "cannot run in a sync worker" in g.log()
    assert f"serve it with -k {ASYNC}" in g.log()


# -- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize(("worker", "app"), WORKERS, ids=["sync", "async"])
def test_max_requests_recycles_workers_without_losing_calls(
    gunicorn: Callable[..., Gunicorn], worker: str, app: str
) -> None:
    g = gunicorn("-w", "2", "--max-requests", "20", worker=worker, app=app)
    g.wait_ready(2)
    seen: list[int] = []
    with g.client() as c:
        for _ in range(100):
            seen.append(_call_with_retry(c, "pid"))
    # 100 calls, 20 per worker life (a few more may slip in while one starts draining):
    # several generations of workers must have answered.
    assert len(set(seen)) >= 3, (sorted(set(seen)), g.explain())
    assert len(re.findall(r"max requests 20\): draining for a restart", g.log())) >= 2


@pytest.mark.parametrize(("worker", "app"), WORKERS, ids=["sync", "async"])
def test_sigterm_finishes_the_call_in_flight_then_exits_0(
    gunicorn: Callable[..., Gunicorn], worker: str, app: str
) -> None:
    g = gunicorn("-w", "1", "--graceful-timeout", "15", worker=worker, app=app)
    g.wait_ready(1)
    # Without --threads, the app's defaults.
    assert ("8 threads per socket" if worker == SYNC else "16 handler threads") in g.log()
    call = RawCall(g.port, "sleep", seconds=1.5)
    try:
        call.wait_read_by_server()
        started = time.monotonic()
        g.signal(signal.SIGTERM)
        reply = call.reply(timeout=15)
        assert isinstance(reply, Reply), reply  # answered, not cut off
        assert time.monotonic() - started < 15
    finally:
        call.close()
    assert g.wait_exit(15) == 0, g.explain()
    assert "finishing running calls" in g.log()


def test_sighup_reload_replaces_workers_and_keeps_serving(
    gunicorn: Callable[..., Gunicorn],
) -> None:
    g = gunicorn("-w", "2", worker=SYNC)
    old = g.wait_ready(2)
    with g.client() as c:
        assert _call_with_retry(c, "pid") in old
        g.signal(signal.SIGHUP)
        new = g.wait_ready(2, exclude=old)
        deadline = time.monotonic() + BOOT_S
        answered_by = set()
        # The old workers drain and close their idle connections; the client reconnects.
        while not answered_by & new and time.monotonic() < deadline:
            answered_by.add(_call_with_retry(c, "pid"))
            time.sleep(0.05)
    assert answered_by & new, g.explain()
    for pid in old:
        g.wait_log(rf"Worker exiting \(pid: {pid}\)")
    assert g.proc.poll() is None


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_async_worker_blocked_loop_is_killed_and_replaced(
    gunicorn: Callable[..., Gunicorn], loop: str, require: Any
) -> None:
    """A plain handler run inline blocks the loop, so the heartbeat stops: the arbiter kills."""
    if loop == "uvloop":
        require.module("uvloop")
    app = 'examples.gunicorn.calc_app:make_app(sync_handlers="inline")'
    g = gunicorn(
        "-w", "1", "--timeout", "2", "--asgi-loop", loop, "--threads", "3",
        worker=ASYNC, app=app,
    )  # fmt: skip
    (first,) = g.wait_ready(1)
    assert f"loop={loop}, 3 handler threads per socket" in g.log()  # --threads is honoured
    call = RawCall(g.port, "sleep", seconds=60.0)
    try:
        (second,) = g.wait_ready(1, exclude={first})
    finally:
        call.close()
    assert f"WORKER TIMEOUT (pid:{first})" in g.log()
    # SIGABRT ended it (exit 1), even with the loop blocked; not the arbiter's later SIGKILL.
    g.wait_log(rf"Worker \(pid:{first}\) exited with code 1")
    with g.client() as c:
        assert c.pid() == second


def test_thrift_worker_killed_only_when_every_thread_is_stuck(
    gunicorn: Callable[..., Gunicorn],
) -> None:
    g = gunicorn("-w", "1", "--threads", "2", "--timeout", "2", worker=SYNC)
    (first,) = g.wait_ready(1)
    calls = [RawCall(g.port, "sleep", seconds=60.0)]
    try:
        calls[0].wait_read_by_server()
        # One thread stuck well past --timeout, one free: still serving, so left alone.
        time.sleep(4.0)
        with g.client() as c:
            assert c.pid() == first
        assert "WORKER TIMEOUT" not in g.log()
        # Both threads stuck: the heartbeat stops and the arbiter replaces the worker.
        calls.append(RawCall(g.port, "sleep", seconds=60.0))
        (second,) = g.wait_ready(1, exclude={first})
    finally:
        for call in calls:
            call.close()
    assert "have been in one call for more than" in g.log()
    assert f"WORKER TIMEOUT (pid:{first})" in g.log()
    with g.client() as c:
        assert c.pid() == second


def test_async_worker_sigint_cuts_a_drain_short(gunicorn: Callable[..., Gunicorn]) -> None:
    """TERM drains; INT during the drain (gunicorn's "quick shutdown") stops at once."""
    g = gunicorn("-w", "1", "--graceful-timeout", "60", worker=ASYNC, app=ASYNC_APP)
    g.wait_ready(1)
    call = RawCall(g.port, "sleep", seconds=60.0)
    try:
        call.wait_read_by_server()
        g.signal(signal.SIGTERM)
        g.wait_log("finishing running calls")
        started = time.monotonic()
        g.signal(signal.SIGINT)
        assert g.wait_exit(20) == 0
        assert time.monotonic() - started < 20  # not the 60 s drain, nor a SIGKILL at 60 s
    finally:
        call.close()


@pytest.mark.parametrize(("worker", "app"), WORKERS, ids=["sync", "async"])
def test_workers_leave_when_the_arbiter_dies(
    gunicorn: Callable[..., Gunicorn], worker: str, app: str
) -> None:
    g = gunicorn("-w", "1", worker=worker, app=app)
    (pid,) = g.wait_ready(1)
    os.kill(g.proc.pid, signal.SIGKILL)  # no SIGTERM: the worker must notice on its own
    g.proc.wait(10)
    g.wait_log(rf"Worker exiting \(pid: {pid}\)")
    deadline = time.monotonic() + 20
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid), f"worker {pid} still running{g.explain()}"
    assert "Parent changed, shutting down" in g.log()
