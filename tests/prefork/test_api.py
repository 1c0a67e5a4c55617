"""The Python API (``Supervisor``), used by a small program run as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import swordfish

from .helpers import ROOT, gone, probe


def launch(mode: str, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests/prefork/api_app.py"), mode, str(tmp_path / "s.json")],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_supervisor_api_serves_counts_and_stops(tmp_path: Path) -> None:
    proc = launch("good", tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[0] == "port", first
        # The app factory ran in the workers only: the supervisor never imported the handler.
        assert first[2:] == ["modules", "False"]
        port = int(first[1])
        # Both workers are up (the status file says so) and every answer comes from one of
        # them. Which worker accepts a connection is the kernel's choice: a busy box may hand
        # every connection to the same one, so that both answered is not required.
        workers = {w["pid"] for w in json.loads((tmp_path / "s.json").read_text())["workers"]}
        assert len(workers) == 2 and proc.pid not in workers
        pids = set()
        for _ in range(50):
            with swordfish.make_client(probe.Probe, port=port, timeout=5) as c:
                pids.add(c.pid())
                assert c.add(2, 3) == 5
            if len(pids) == 2:
                break
        assert pids <= workers
        pids = workers
        calls = 2 * (_ + 1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == f"stopped requests={calls}\n"
        assert gone(pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def test_supervisor_api_reports_a_factory_that_raises(tmp_path: Path) -> None:
    proc = launch("broken", tmp_path)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 1
    assert out.startswith("start failed: usage=False worker ")
    assert out.endswith(" failed to start: the app factory raised: RuntimeError: no database\n")
    assert "Traceback" in err  # the worker's traceback, for whoever reads the logs
    assert "RuntimeError: no database" in err
