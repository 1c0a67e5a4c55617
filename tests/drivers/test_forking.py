"""The ``forking`` server model: one child process per connection, on real sockets.

The scenario table (test_scenarios.py) already runs every call shape against ``forking``;
this file checks what is particular to processes: who serves what, per-process state, crashes,
the ``max_children`` bound, signals, and that shutdown leaves no child and no zombie behind.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.errors import ConnectionClosedError, TransportError
from swordfish.idl.loader import loads
from swordfish.sync._common import MODELS
from swordfish.sync.server import DEFAULT_MAX_CHILDREN

from .conftest import ProcessEvent

ROOT = Path(__file__).parents[2]

IDL = """
service Fork {
  i32 pid(),
  i32 ppid(),
  i32 bump(),
  i32 slow(1: double seconds),
  void crash(1: i32 code),
}
"""

# The same handler for in-process servers and for the CLI (written to a file and imported).
HANDLER = """
import os
import time


class Handler:
    def __init__(self, started=None):
        self.count = 0  # per process: every child starts from the parent's copy
        self.started = started  # ProcessEvent: set as a slow call starts

    def pid(self):
        return os.getpid()

    def ppid(self):
        return os.getppid()

    def bump(self):
        self.count += 1
        return self.count

    def slow(self, seconds):
        if self.started is not None:
            self.started.set()
        time.sleep(seconds)
        return os.getpid()

    def crash(self, code):
        os._exit(code)
"""

_namespace: dict[str, Any] = {}
exec(compile(HANDLER, "<forking handler>", "exec"), _namespace)
Handler: Any = _namespace["Handler"]


@pytest.fixture(scope="module")
def fork_mod() -> ModuleType:
    return loads(IDL, "forking_test_thrift")


@pytest.fixture
def make(fork_mod: ModuleType) -> Iterator[Callable[..., Any]]:
    """Start forking servers and clients; stop and close them all afterwards."""
    servers: list[Any] = []
    clients: list[Any] = []

    def build(handler: Any = None, **kwargs: Any) -> tuple[Any, Callable[..., Any]]:
        server = swordfish.make_server(
            fork_mod.Fork, handler or Handler(), port=0, model="forking", **kwargs
        )
        servers.append(server.start())

        def client(**ckw: Any) -> Any:
            ckw.setdefault("timeout", 5.0)
            c = swordfish.make_client(fork_mod.Fork, port=server.port, **ckw)
            clients.append(c)
            return c

        return server, client

    yield build
    for c in clients:
        c.close()
    for s in servers:
        s.stop(timeout=2)


# -- processes -------------------------------------------------------------------------------


def children_of(ppid: int) -> set[int]:
    """Pids whose parent is ``ppid``, zombies included (Linux /proc)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == ppid:
            found.add(int(name))
    return found


def state(pid: int) -> str | None:
    """The process state letter ("Z" = zombie), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    return stat[stat.rindex(")") + 2]


def reaped(pid: int) -> bool:
    """Our child ``pid`` is gone for good: not running, not a zombie (kill(0) finds zombies)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def eventually(check: Callable[[], bool], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a thread; the list gets its result or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


# -- the model -------------------------------------------------------------------------------


def test_argument_checks(fork_mod: ModuleType) -> None:
    assert "forking" in MODELS
    with pytest.raises(ValueError, match="max_children applies to model='forking' only"):
        swordfish.make_server(fork_mod.Fork, Handler(), port=0, model="threaded", max_children=2)
    with pytest.raises(ValueError, match="max_children must be a positive int, got 0"):
        swordfish.make_server(fork_mod.Fork, Handler(), port=0, model="forking", max_children=0)
    with pytest.raises(ValueError, match="workers applies to model='threadpool' only"):
        swordfish.make_server(fork_mod.Fork, Handler(), port=0, model="forking", workers=2)
    server = swordfish.make_server(fork_mod.Fork, Handler(), port=0, model="forking")
    assert server.max_children == DEFAULT_MAX_CHILDREN
    server.stop()


def test_each_connection_is_served_by_its_own_child(make: Any) -> None:
    server, client = make()
    me = os.getpid()
    barrier = threading.Barrier(12)
    seen: dict[int, set[int]] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            c = client()
            barrier.wait(5)
            seen[n] = {c.pid() for _ in range(5)}
            assert c.ppid() == me
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert all(len(pids) == 1 for pids in seen.values())  # one process per connection
    pids = {pid for s in seen.values() for pid in s}
    assert len(pids) == 12 and me not in pids  # ...and a different one for each
    assert pids <= children_of(me)
    assert server.connections == 12


def test_handler_state_is_per_process(make: Any) -> None:
    handler = Handler()
    server, client = make(handler)
    a, b = client(), client()
    assert [a.bump(), a.bump(), a.bump()] == [1, 2, 3]
    assert b.bump() == 1  # b's child started from the parent's copy, untouched by a's calls
    assert handler.count == 0  # and the parent's own handler never ran a call
    # The parent learns each child's count only when that child exits.
    assert server.calls_served == 0
    server.stop(timeout=2)
    assert server.calls_served == 4


def test_a_crashing_child_fails_only_its_client(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "swordfish.server")
    server, client = make()
    doomed, other = client(), client()
    doomed_pid, other_pid = doomed.pid(), other.pid()
    with pytest.raises(ConnectionClosedError, match="closed the connection before replying"):
        doomed.crash(3)
    assert other.pid() == other_pid  # its child carries on
    assert client().pid() not in (doomed_pid, other_pid)  # new connections still served
    assert eventually(lambda: reaped(doomed_pid))
    assert f"child {doomed_pid} serving" in caplog.text
    assert "exited with status 3" in caplog.text
    assert server.connections == 2


def test_max_children_bound_holds_and_waiting_clients_are_served(make: Any) -> None:
    server, client = make(max_children=2)
    me = os.getpid()
    before = children_of(me)
    most = [0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            most[0] = max(most[0], len(children_of(me) - before), server.connections)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        first, second = client(), client()
        p1, p2 = first.pid(), second.pid()
        waiting = [in_thread(client().pid) for _ in range(2)]  # queue in the listen backlog
        time.sleep(0.5)
        assert [outcome for _, outcome in waiting] == [[], []]  # not served: no room
        assert server.connections == 2
        os.kill(p1, signal.SIGTERM)  # an idle child exits on SIGTERM: one slot frees up
        assert eventually(lambda: any(outcome for _, outcome in waiting))
        assert reaped(p1)
        time.sleep(0.3)
        assert sum(bool(outcome) for _, outcome in waiting) == 1  # the other still waits
        os.kill(p2, signal.SIGTERM)
        for t, _ in waiting:
            t.join(5)
        served = [outcome[0] for _, outcome in waiting]
        assert all(isinstance(pid, int) for pid in served), served
        assert len({p1, p2, *served}) == 4
    finally:
        sampling.set()
        sampler.join(5)
    assert most[0] == 2  # never more than max_children, counted by the kernel too


def test_idle_child_exits_and_client_reconnects(make: Any) -> None:
    server, client = make(idle_timeout=0.3)
    c = client()
    first = c.pid()
    assert eventually(lambda: server.connections == 0)  # the child hung up and was reaped
    assert reaped(first)
    assert c.pid() != first  # the client reconnected: a new connection, a new child


def test_sigterm_to_a_child_lets_its_running_call_reply(make: Any) -> None:
    started = ProcessEvent()
    try:
        server, client = make(Handler(started))
        c = client()
        pid = c.pid()
        t, outcome = in_thread(lambda: c.slow(0.6))
        assert started.wait(3)
        os.kill(pid, signal.SIGTERM)
        t.join(5)
        assert outcome == [pid]  # the call finished and its reply was written
        assert eventually(lambda: reaped(pid))  # then the child closed and exited
        assert c.pid() != pid  # the client reconnected to a new child
    finally:
        started.close()


def test_graceful_stop_drains_and_leaves_no_children(make: Any) -> None:
    started = ProcessEvent()
    try:
        server, client = make(Handler(started))
        me = os.getpid()
        before = children_of(me)
        idle, busy = client(), client()
        pids = {idle.pid(), busy.pid()}
        t, outcome = in_thread(lambda: busy.slow(0.8))
        assert started.wait(3)
        start = time.monotonic()
        server.stop(timeout=5)
        elapsed = time.monotonic() - start
        t.join(5)
        assert outcome and outcome[0] in pids  # the in-flight call replied
        assert elapsed < 3.0  # the idle child did not hold shutdown up
        assert all(reaped(pid) for pid in pids)  # stop() returned after reaping every child
        assert children_of(me) - before == set()  # no child, no zombie
        assert server.connections == 0
        with pytest.raises(TransportError):
            idle.pid()  # its connection was closed, and nobody listens any more
    finally:
        started.close()


def test_stop_timeout_kills_a_stuck_child(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "swordfish.server")
    started = ProcessEvent()
    try:
        server, client = make(Handler(started))
        me = os.getpid()
        before = children_of(me)
        stuck = client(timeout=10)
        t, outcome = in_thread(lambda: stuck.slow(30))
        assert started.wait(3)
        (pid,) = children_of(me) - before
        start = time.monotonic()
        server.stop(timeout=0.5)
        elapsed = time.monotonic() - start
        t.join(5)
        assert 0.5 <= elapsed < 3.0
        assert len(outcome) == 1 and isinstance(outcome[0], TransportError)
        assert reaped(pid)
        assert children_of(me) - before == set()
        assert "children still running; killing them" in caplog.text
        assert f"child {pid} serving" in caplog.text and "killed by SIGKILL" in caplog.text
    finally:
        started.close()


# -- the command line ------------------------------------------------------------------------


class Serve:
    """``python -m swordfish serve --server forking`` in a subprocess, stderr read by a thread."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "fork.thrift").write_text(IDL)
        (tmp_path / "fork_handler.py").write_text(HANDLER)
        args = [
            *("serve", str(tmp_path / "fork.thrift"), "--service", "Fork"),
            *("--handler", f"{tmp_path / 'fork_handler.py'}:Handler"),
            *("--server", "forking", "--port", "0"),
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swordfish", *args],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
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

    def port(self, within: float = 15.0) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if "listening on 127.0.0.1:" in line:
                assert "server=forking" in line
                return int(line.split("listening on 127.0.0.1:")[1].split()[0])
        raise AssertionError(f"never listened; stderr: {''.join(self.stderr)!r}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Serve]:
    served = Serve(tmp_path)
    try:
        yield served
    finally:
        served.kill()


def kill_quietly(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_cli_serves_forking_and_exits_on_sigterm_leaving_no_children(
    cli: Serve, fork_mod: ModuleType
) -> None:
    port = cli.port()
    pids: set[int] = set()
    try:
        with (
            swordfish.make_client(fork_mod.Fork, port=port, timeout=5) as idle,
            swordfish.make_client(fork_mod.Fork, port=port, timeout=5) as busy,
        ):
            assert idle.ppid() == busy.ppid() == cli.proc.pid
            pids = {idle.pid(), busy.pid()}
            assert len(pids) == 2
            t, outcome = in_thread(lambda: busy.slow(0.8))
            time.sleep(0.3)  # the slow call is running in its child
            start = time.monotonic()
            cli.proc.send_signal(signal.SIGTERM)
            rc = cli.proc.wait(10)
            took = time.monotonic() - start
            t.join(5)
        assert outcome and outcome[0] in pids  # the in-flight call still replied
        assert rc == 0, "".join(cli.stderr)
        assert took < 3.0
        # The server reaped its children before exiting: no process left, not even a zombie.
        assert [pid for pid in pids if state(pid) is not None] == []
    finally:
        kill_quietly({pid for pid in pids if state(pid) not in (None, "Z")})


def test_children_exit_when_the_parent_dies(cli: Serve, fork_mod: ModuleType) -> None:
    port = cli.port()
    pid = 0
    try:
        with swordfish.make_client(fork_mod.Fork, port=port, timeout=5) as c:
            pid = c.pid()
            assert c.ppid() == cli.proc.pid
            cli.proc.kill()  # SIGKILL: no stop(), no SIGTERM to the children
            cli.proc.wait(5)
            # The lifeline reads EOF: the idle child closes its connection and exits rather
            # than lingering as an orphan. (It may stay a zombie if this machine's init does
            # not reap orphans; either way it no longer runs.)
            assert eventually(lambda: state(pid) in (None, "Z"))
    finally:
        if pid and state(pid) not in (None, "Z"):
            kill_quietly({pid})
