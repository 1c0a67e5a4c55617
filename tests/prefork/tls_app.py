"""A Supervisor serving TLS through the Python API, for tests/prefork/test_prefork_tls.py.

    python tests/prefork/tls_app.py good|broken STATUS_FILE CERT_DIR PID_FILE

The context factory appends the pid of the process that calls it to PID_FILE, so the test can
check that each worker built its own context and the supervisor built none. ``broken`` points
the factory at a certificate that does not exist.
"""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path

import swordfish
from swordfish import tls
from swordfish.prefork import Supervisor, WorkerApp, WorkerStartError

IDL = Path(__file__).with_name("probe.thrift")


def app() -> WorkerApp:
    from tests.prefork.handler import Handler

    return WorkerApp(swordfish.load(IDL).Probe, Handler(), transport="framed")


class ContextFactory:
    def __init__(self, cert_dir: Path, pid_file: Path, cert: str) -> None:
        self.cert = cert_dir / cert
        self.key = cert_dir / "server.key"
        self.pid_file = pid_file

    def __call__(self) -> ssl.SSLContext:
        with open(self.pid_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        return tls.server_context(self.cert, self.key)


def main() -> int:
    mode, status_file, cert_dir, pid_file = sys.argv[1:5]
    cert = "server.pem" if mode == "good" else "missing.pem"
    supervisor = Supervisor(
        app,
        port=0,
        workers=2,
        graceful_timeout=2.0,
        status_file=status_file,
        ssl_context_factory=ContextFactory(Path(cert_dir), Path(pid_file), cert),
    )
    try:
        supervisor.start()
    except WorkerStartError as exc:
        print(f"start failed: usage={exc.usage} {exc}", flush=True)
        return 1
    print(f"port {supervisor.port} pid {os.getpid()}", flush=True)
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
