"""The supervisor's lifecycle, driven from outside as an operator would: real processes,
real sockets, signals, and the status file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swordfish.errors import TransportError

from .helpers import LISTENING, Supervised, gone, pids_seen, proc_state

Start = Callable[..., Supervised]

THREADPOOL = ("threadpool", "tests.prefork.handler:Handler")
ASYNCIO = ("asyncio", "tests.prefork.handler:AsyncHandler")
UVLOOP = ("asyncio", "tests.prefork.handler:AsyncHandler", "--loop", "uvloop")
KINDS = [pytest.param(THREADPOOL, id="threadpool"), pytest.param(ASYNCIO, id="asyncio")]


def start(supervised: Start, kind: tuple[str, ...], *extra: str) -> Supervised:
    worker_server, handler, *more = kind
    sup = supervised("--worker-server", worker_server, *more, *extra, handler=handler)
    sup.wait_listening()
    return sup


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def exits_of(status: dict[str, Any], pid: int) -> list[dict[str, Any]]:
    return [e for e in status["recent_exits"] if e["pid"] == pid]


@pytest.mark.parametrize("kind", [*KINDS, pytest.param(UVLOOP, id="uvloop")])
def test_workers_serve_status_counts_and_sigterm_drains(supervised: Start, kind: Any) -> None:
    sup = start(supervised, kind, "--workers", "2")
    status = sup.status()
    assert (status["pid"], status["state"], status["port"]) == (sup.pid, "running", sup.port)
    assert (status["worker_server"], status["workers_wanted"], status["generation"]) == (
        kind[0],
        2,
        1,
    )
    pids = sup.ready_pids(status)
    assert len(pids) == 2
    assert sup.pid not in pids
    assert {parent_of(p) for p in pids} == {sup.pid}

    # Fresh connections land on both workers, and only on them.
    calls = 0
    seen: set[int] = set()
    for _ in range(300):
        with sup.client() as c:
            seen.add(c.pid())
        calls += 1
        if len(seen) == 2:
            break
    assert seen == pids
    with sup.client() as c:
        for i in range(20):
            assert c.add(i, 1) == i + 1
        runtime = c.runtime()
    calls += 21
    expected = {"threadpool": "thread", "asyncio": "asyncio.", "uvloop": "uvloop."}
    assert runtime.startswith(expected["uvloop" if "uvloop" in kind else kind[0]])
    # Heartbeats carry every worker's count: the total is exact, the split adds up.
    status = sup.wait_status(lambda s: s["requests"] == calls, f"requests == {calls}")
    assert sum(w["requests"] for w in status["workers"]) == calls
    assert all(w["heartbeat_age"] < 2.0 for w in status["workers"])
    # SIGUSR1: the same status, as one log line.
    sup.send(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while "swordfish: status: {" not in sup.log and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(x for x in sup.stderr if x.startswith("swordfish: status: {"))
    assert json.loads(line.partition("status: ")[2])["requests"] == calls

    # SIGTERM: a call already running finishes, then everything exits cleanly.
    c = sup.client()
    outcome: list[Any] = []
    caller = threading.Thread(target=lambda: outcome.append(c.slow(0.8, 99)))
    caller.start()
    time.sleep(0.3)  # the call is now running in a worker
    rc, took = sup.stop()
    caller.join(5)
    c.close()
    assert outcome == [99]
    assert rc == 0
    assert took < 3.0
    assert gone(pids)
    final = sup.status()
    assert (final["state"], final["workers"]) == ("stopped", [])
    exits = {e["pid"]: (e["reason"], e["exit_code"]) for e in final["recent_exits"]}
    assert exits == dict.fromkeys(pids, ("stopped", 0))
    assert "Traceback" not in sup.log


@pytest.mark.parametrize("kind", KINDS)
def test_sigkilled_worker_is_replaced(supervised: Start, kind: Any) -> None:
    sup = start(supervised, kind, "--workers", "2")
    before = sup.ready_pids()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    status = sup.wait_status(
        lambda s: s["restarts"] == 1 and len(sup.ready_pids(s)) == 2,
        "a replacement worker",
    )
    after = sup.ready_pids(status)
    assert victim not in after
    assert before - {victim} < after
    [record] = exits_of(status, victim)
    assert (record["exit"], record["exit_code"], record["reason"]) == (
        "killed by SIGKILL",
        -9,
        "crashed",
    )
    assert status["heartbeat_timeouts"] == 0
    assert gone([victim])  # reaped, not a zombie
    assert pids_seen(sup, 2) == after
    assert f"worker {victim} killed by SIGKILL after" in sup.log


@pytest.mark.parametrize("kind", KINDS)
def test_stopped_worker_is_caught_by_the_heartbeat(supervised: Start, kind: Any) -> None:
    sup = start(supervised, kind, "--workers", "2", "--worker-timeout", "1.5")
    victim = min(sup.ready_pids())
    os.kill(victim, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        status = sup.wait_status(
            lambda s: (
                s["heartbeat_timeouts"] == 1
                and victim not in sup.ready_pids(s)
                and len(sup.ready_pids(s)) == 2
            ),
            "the stopped worker to be replaced",
        )
    finally:
        if proc_state(victim) == "T":
            os.kill(victim, signal.SIGCONT)
    took = time.monotonic() - stopped_at
    assert 1.5 <= took < 6.0
    [record] = exits_of(status, victim)
    assert (record["reason"], record["exit"]) == ("heartbeat timeout", "killed by SIGKILL")
    assert status["restarts"] == 1
    assert f"worker {victim}: no heartbeat for" in sup.log
    assert pids_seen(sup, 2) == sup.ready_pids(status)


def test_max_requests_recycles_without_failed_calls(supervised: Start) -> None:
    sup = start(supervised, THREADPOOL, "--workers", "2", "--max-requests", "15")
    first = sup.ready_pids()
    client = sup.client(transport="buffered")
    raw_errors: list[BaseException] = []
    answered = 0
    deadline = time.monotonic() + 15
    status = sup.status()
    try:
        while status["recycles"] < 4 and time.monotonic() < deadline:
            for i in range(10):
                for attempt in range(5):
                    try:
                        assert client.add(i, attempt) == i + attempt
                        answered += 1
                        break
                    except TransportError as exc:
                        # A call racing a draining worker's close of its idle connection was
                        # never read by it: retrying on a fresh connection is safe.
                        raw_errors.append(exc)
                else:
                    raise AssertionError(f"call failed 5 times: {raw_errors[-5:]}")
            status = sup.status()
    finally:
        client.close()
    assert status["recycles"] >= 4, status
    status = sup.wait_status(
        lambda s: not (first & {w["pid"] for w in s["workers"]}), "the first workers to exit"
    )
    for pid in first:
        [record] = exits_of(status, pid)
        assert (record["reason"], record["exit_code"]) == ("stopped", 0)
        assert record["requests"] >= 15
    assert status["restarts"] == 0
    # One connection at a time, and each worker drains (closing it) once: at most one failed
    # attempt per recycled worker.
    assert len(raw_errors) <= status["recycles"], raw_errors
    assert answered >= 60
    assert "(max_requests 15); starting its replacement" in sup.log


HANDLER_SOURCE = """
import os, time
VERSION = {version!r}
class Handler:
    def pid(self): return os.getpid()
    def add(self, a, b): return a + b
    def slow(self, seconds, value):
        time.sleep(seconds)
        return value
    def version(self): return VERSION
"""


def write_handler(tmp_path: Path, version: str) -> None:
    (tmp_path / "reload_handler.py").write_text(HANDLER_SOURCE.format(version=version))


def test_sighup_reloads_new_code_and_drains_the_old_generation(
    supervised: Start, tmp_path: Path
) -> None:
    write_handler(tmp_path, "one")
    sup = supervised(
        "--workers",
        "2",
        "--graceful-timeout",
        "5",
        handler="reload_handler:Handler",
        cwd=tmp_path,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    sup.wait_listening()
    old = sup.ready_pids()
    with sup.client() as c:
        assert c.version() == "one"
    slow = sup.client()
    outcome: list[Any] = []
    caller = threading.Thread(target=lambda: outcome.append(slow.slow(1.0, 7)))
    caller.start()
    time.sleep(0.2)  # running on an old worker now
    write_handler(tmp_path, "two, reloaded")
    sup.send(signal.SIGHUP)
    status = sup.wait_status(
        lambda s: (
            s["reloads"] == 1
            and s["generation"] == 2
            and len(sup.ready_pids(s)) == 2
            and not old & {w["pid"] for w in s["workers"]}
        ),
        "generation 2 serving and generation 1 gone",
    )
    caller.join(5)
    slow.close()
    assert outcome == [7]  # the old worker finished it before exiting
    new = sup.ready_pids(status)
    assert not new & old
    assert {w["generation"] for w in status["workers"]} == {2}
    for pid in old:
        [record] = exits_of(status, pid)
        assert (record["reason"], record["exit_code"], record["generation"]) == ("stopped", 0, 1)
    for _ in range(10):
        with sup.client() as c:
            assert c.version() == "two, reloaded"
    assert status["restarts"] == 0
    assert "reload: generation 2 ready; draining generation 1" in sup.log


def test_broken_code_cannot_reload_or_fork_bomb(supervised: Start, tmp_path: Path) -> None:
    write_handler(tmp_path, "one")
    sup = supervised(
        "--workers",
        "2",
        handler="reload_handler:Handler",
        cwd=tmp_path,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    sup.wait_listening()
    old = sup.ready_pids()
    (tmp_path / "reload_handler.py").write_text("raise RuntimeError('broken on purpose')\n")

    # A reload to broken code is abandoned; the old generation keeps serving.
    sup.send(signal.SIGHUP)
    status = sup.wait_status(lambda s: s["failed_reloads"] == 1, "the reload to fail")
    assert (status["generation"], status["reloads"], status["state"]) == (1, 0, "running")
    assert sup.ready_pids(status) == old
    with sup.client() as c:
        assert c.version() == "one"
    assert "reload failed: worker" in sup.log
    assert "RuntimeError: broken on purpose" in sup.log

    # A crashed worker cannot be replaced while the code is broken: the tries back off.
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    time.sleep(2.5)
    status = sup.status()
    failed = status["failed_starts"] - 2  # the two workers of the abandoned reload
    assert 2 <= failed <= 7, status  # 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s apart: no fork bomb
    assert sup.ready_pids(status) == old - {victim}
    with sup.client() as c:
        assert c.version() == "one"

    # Fixed on disk: the next try (at most 3.2 s later) brings the second worker back.
    write_handler(tmp_path, "three")
    status = sup.wait_status(lambda s: len(sup.ready_pids(s)) == 2, "a replacement", within=15)
    assert pids_seen(sup, 2) == sup.ready_pids(status)


def test_worker_import_error_exits_2_without_respawning(supervised: Start) -> None:
    sup = supervised("--workers", "3", handler="no_such_module:Handler")
    rc = sup.proc.wait(20)
    assert rc == 2
    assert (
        "swordfish: error: cannot import handler module 'no_such_module': "
        "ModuleNotFoundError: No module named 'no_such_module'\n"
    ) in sup.stderr
    spawned = sup.spawned_pids()
    assert len(spawned) == 3  # the first generation, and no retry of it
    assert gone(spawned)
    status = sup.status()
    assert status["state"] == "stopped"
    assert status["workers"] == []
    assert status["failed_starts"] >= 1
    assert not any(LISTENING.match(line) for line in sup.stderr)  # never announced


def test_workers_exit_when_the_supervisor_is_killed(supervised: Start) -> None:
    sup = start(supervised, ASYNCIO, "--workers", "2")
    pids = sup.ready_pids()
    sup.send(signal.SIGKILL)
    sup.proc.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(proc_state(p) not in (None, "Z") for p in pids):
        time.sleep(0.05)
    assert [proc_state(p) for p in pids] in ([None, None], ["Z", "Z"], [None, "Z"], ["Z", None])


def test_second_sigterm_kills_at_once(supervised: Start) -> None:
    sup = start(supervised, THREADPOOL, "--workers", "1", "--graceful-timeout", "30")
    pids = sup.ready_pids()
    c = sup.client(timeout=10)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            c.slow(8.0, 1)
        except TransportError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    sup.send(signal.SIGTERM)
    time.sleep(0.3)
    rc, took = sup.stop()  # the second one
    caller.join(5)
    c.close()
    assert rc == 0
    assert took < 3.0
    assert len(outcome) == 1  # the call was cut off: a clear transport error, not a hang
    assert gone(pids)
    assert "second stop signal; killing the workers" in sup.log


def test_port_in_use_exits_1_before_forking(supervised: Start) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sup = supervised("--workers", "2", "--host", "127.0.0.1", "--port", str(port))
        rc = sup.proc.wait(20)
    assert rc == 1
    assert f"swordfish: error: listen on 127.0.0.1:{port} failed:" in sup.log
    assert sup.spawned_pids() == set()


def test_a_worker_that_ignores_sigterm_is_killed_at_the_deadline(supervised: Start) -> None:
    sup = start(supervised, THREADPOOL, "--workers", "2", "--graceful-timeout", "0.5")
    pids = sup.ready_pids()
    stuck = min(pids)
    os.kill(stuck, signal.SIGSTOP)  # cannot act on SIGTERM (nor heartbeat, but 30 s is far)
    try:
        rc, took = sup.stop()
    finally:
        if proc_state(stuck) == "T":
            os.kill(stuck, signal.SIGCONT)
    assert rc == 0
    assert 1.4 <= took < 4.0  # graceful_timeout + the 1 s kill margin
    assert gone(pids)
    exits = {e["pid"]: e for e in sup.status()["recent_exits"]}
    assert exits[stuck]["exit"] == "killed by SIGKILL"
    assert exits[(pids - {stuck}).pop()]["exit_code"] == 0
    assert f"worker {stuck}: still running 1.5 s after SIGTERM; killing it" in sup.log
