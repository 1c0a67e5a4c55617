"""Real HTTP servers for the Thrift-over-HTTP tests, and a raw HTTP/1.1 request helper.

- ``gunicorn_server`` / ``uvicorn_server``: the app of ``tests.web.http_apps`` under a real
  gunicorn (threaded workers: keep-alive) or uvicorn subprocess; the port is read from the
  server's own startup line ("Listening at: ..." / "Uvicorn running on ...").
- ``wsgiref_server`` / ``uvicorn_thread``: an app object served in this process, for tests that
  need to look at the app (filters, lifespan) or start many servers cheaply.
- ``raw_request``: bytes to a port, the parsed response back: for requests no client sends.

Every wait is bounded, every process is killed in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
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

from swordfish.web import ThriftASGIApp, ThriftWSGIApp
from swordfish.web.serving import wsgi_server
from tests.paths import REPO

GUNICORN_READY = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
UVICORN_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
READY_TIMEOUT = 30.0


class ServerProcess:
    """A server subprocess whose output goes to a file polled for its ready line."""

    def __init__(self, argv: list[str], log: Path, ready: re.Pattern[str], env: dict[str, str]):
        self.log = log
        self._out = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **env},
        )
        self.port = self._wait(ready)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait(self, ready: re.Pattern[str]) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            match = ready.search(self.output())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {READY_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


@contextlib.contextmanager
def gunicorn_server(
    log: Path, protocol: str = "binary", threads: int = 4
) -> Iterator[ServerProcess]:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-b",
        "127.0.0.1:0",
        "-w",
        "1",
        "--threads",
        str(threads),  # > 1: the gthread worker, which keeps connections alive
        "--keep-alive",
        "10",
        "--graceful-timeout",
        "3",
        "tests.web.http_apps:wsgi_app",
    ]
    server = ServerProcess(argv, log, GUNICORN_READY, {"SF_HTTP_PROTOCOL": protocol})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def uvicorn_server(log: Path, protocol: str = "binary") -> Iterator[ServerProcess]:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.web.http_apps:asgi_app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--lifespan",
        "on",
        "--timeout-keep-alive",
        "10",
    ]
    server = ServerProcess(argv, log, UVICORN_READY, {"SF_HTTP_PROTOCOL": protocol})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def wsgiref_server(app: ThriftWSGIApp, model: str = "threaded", **options: Any) -> Iterator[int]:
    """``app`` under the stdlib wsgiref server (HTTP/1.0) in a thread; yields the port."""
    httpd = wsgi_server(app, "127.0.0.1", 0, model=model, **options)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@contextlib.contextmanager
def uvicorn_thread(app: ThriftASGIApp, **config: Any) -> Iterator[int]:
    """``app`` under a real uvicorn, on its own event loop in a thread; yields the port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(
            app, **{"log_level": "warning", "lifespan": "on", "timeout_keep_alive": 10, **config}
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped while starting"
            time.sleep(0.02)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def raw_request(
    port: int, data: bytes, *, timeout: float = 10.0, read_body: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (a whole HTTP request) and return (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock, read_body=read_body)


def read_response(
    sock: socket.socket, *, read_body: bool = True
) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if not read_body:
        return status, headers, rest
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest if length < 0 else rest[:length]


def post(path: str, body: bytes, *, content_type: str = "application/x-thrift") -> bytes:
    """A POST request with a Content-Length."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
