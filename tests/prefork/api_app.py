"""A program that uses the Python API: ``python tests/prefork/api_app.py good|broken STATUS``."""

from __future__ import annotations

import sys
from pathlib import Path

import swordfish
from swordfish.prefork import Supervisor, WorkerApp, WorkerStartError

IDL = Path(__file__).with_name("probe.thrift")


def good_app() -> tuple[object, object]:
    # Runs in each worker: the handler module is imported there, never in the supervisor.
    from tests.prefork.handler import AsyncHandler

    probe = swordfish.load(IDL)
    return probe.Probe, AsyncHandler()


def broken_app() -> WorkerApp:
    raise RuntimeError("no database")


def main() -> int:
    mode, status_file = sys.argv[1:3]
    supervisor = Supervisor(
        good_app if mode == "good" else broken_app,
        port=0,
        workers=2,
        worker_server="asyncio",
        graceful_timeout=2.0,
        status_file=status_file,
    )
    try:
        supervisor.start()
    except WorkerStartError as exc:
        print(f"start failed: usage={exc.usage} {exc}", flush=True)
        return 1
    print(f"port {supervisor.port} modules {'tests.prefork.handler' in sys.modules}", flush=True)
    supervisor.run()
    print(f"{supervisor.state} requests={supervisor.status()['requests']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
