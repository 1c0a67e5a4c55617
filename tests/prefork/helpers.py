"""Run ``swordfish serve --server prefork`` in a subprocess and watch it from the outside.

Everything here waits with a deadline, and ``Supervised.cleanup`` kills (by pid) the
supervisor and every worker it ever logged as spawned, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import swordfish

ROOT = Path(__file__).parents[2]
IDL = "tests/prefork/probe.thrift"
probe = swordfish.load(ROOT / IDL)

LISTENING = re.compile(r"swordfish: listening on 127\.0\.0\.1:(\d+) \(server=prefork, (.*)\)")
SPAWNED = re.compile(r"worker (\d+) spawned")


class Supervised:
    """A ``swordfish serve --server prefork`` subprocess; stderr is collected by a thread."""

    def __init__(
        self,
        tmp: Path,
        *extra: str,
        handler: str = "tests.prefork.handler:Handler",
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.status_path = tmp / "status.json"
        args = [
            sys.executable,
            "-m",
            "swordfish",
            "serve",
            str(ROOT / IDL),
            "--service",
            "Probe",
            "--handler",
            handler,
            "--server",
            "prefork",
            "--port",
            "0",
            "--status-file",
            str(self.status_path),
            *extra,
        ]
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.port = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    @property
    def log(self) -> str:
        return "".join(self.stderr)

    def wait_listening(self, within: float = 15.0) -> int:
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
                self.port = int(match.group(1))
                return self.port
        raise AssertionError(f"never listened; stderr:\n{self.log}")

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(self.status_path.read_text())  # never half-written
        return status

    def wait_status(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, within: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; status: {status}\nlog:\n{self.log}")

    def ready_pids(self, status: dict[str, Any] | None = None) -> set[int]:
        status = status or self.status()
        return {w["pid"] for w in status["workers"] if w["state"] == "ready"}

    def spawned_pids(self) -> set[int]:
        return {int(m.group(1)) for m in SPAWNED.finditer(self.log)}

    # -- control -----------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 5.0)
        return swordfish.make_client(probe.Probe, port=self.port, **kwargs)

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, within: float = 10.0) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(within)
        return rc, time.monotonic() - start

    def cleanup(self) -> None:
        """Kill the supervisor and every worker it spawned (by pid), then reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for pid in self.spawned_pids():
            if is_ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def proc_state(pid: int) -> str | None:
    """The state letter from /proc/PID/stat (``Z`` zombie, ``T`` stopped), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


def is_ours(pid: int) -> bool:
    """A live process running ``swordfish serve`` (guards against a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return b"swordfish" in cmdline and proc_state(pid) not in (None, "Z")


def gone(pids: Iterable[int], within: float = 5.0) -> bool:
    """True once none of ``pids`` exists any more (not even as a zombie)."""
    deadline = time.monotonic() + within
    pids = set(pids)
    while time.monotonic() < deadline:
        pids = {p for p in pids if proc_state(p) is not None}
        if not pids:
            return True
        time.sleep(0.05)
    return False


def pids_seen(sup: Supervised, want: int, tries: int = 300) -> set[int]:
    """Worker pids that answered ``pid()`` on fresh connections, until ``want`` are seen."""
    seen: set[int] = set()
    for _ in range(tries):
        with sup.client() as c:
            seen.add(c.pid())
        if len(seen) >= want:
            break
    return seen
