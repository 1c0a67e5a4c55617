"""``swordfish serve|call --transport http``, as users run them (subprocesses), TLS included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swordfish import tls
from swordfish.sync.http import HttpClient
from tests.paths import REPO
from tests.tls_certs import Certs, make_certs
from tests.web.http_apps import store

IDL = "tests/drivers/store.thrift"
HANDLER = "tests.web.http_apps:Handler"
LISTENING = re.compile(
    r"listening on 127\.0\.0\.1:(\d+) \(server=(\w+), protocol=(\w+), transport=http(, tls)?\)"
)
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


class Serve:
    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swordfish", "serve", IDL, "--service", "Store",
             "--handler", HANDLER, "--port", "0", "--transport", "http", *args],
            cwd=REPO, env=ENV, stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            match = LISTENING.search(log.read_text())
            if match:
                self.match = match
                self.port = int(match.group(1))
                break
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[type]:
    started: list[Serve] = []

    class Tracked(Serve):
        def __init__(self, *args: str) -> None:
            super().__init__(tmp_path / f"serve{len(started)}.log", *args)
            started.append(self)

    try:
        yield Tracked
    finally:
        for s in started:
            s.stop()


def call(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swordfish", "call", IDL, "--service", "Store", *args],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("server", ["threaded", "threadpool", "simple", "asyncio"])
def test_serve_and_call_over_http(serve: type, server: str) -> None:
    served = serve("--server", server, "--protocol", "compact")
    assert served.match.group(2) == server
    done = call("--port", str(served.port), "--transport", "http", "--protocol", "compact",
                "--path", "/rpc/store", "add", '{"a": 40, "b": 2}')  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    started = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(10) == 0, served.log.read_text()
    assert time.monotonic() - started < 3.5
    assert "stopping" in served.log.read_text()


def test_serve_and_call_over_https(serve: type, certs: Certs) -> None:
    for server in ("threaded", "asyncio"):
        served = serve("--server", server, "--ssl", "--certfile", certs.server_cert,
                       "--keyfile", certs.server_key)  # fmt: skip
        assert served.match.group(4) == ", tls"
        done = call("--port", str(served.port), "--transport", "http", "--ssl",
                    "--cafile", certs.ca, "echo", '{"text": "secret"}')  # fmt: skip
        assert done.returncode == 0, done.stderr + served.log.read_text()
        assert done.stdout.strip() == '"secret"'
        context = tls.client_context(certs.ca)
        with HttpClient(store.Store, "127.0.0.1", served.port, ssl_context=context) as c:
            assert c.url.startswith("https://")
            assert c.add(1, 2) == 3
        # Plain HTTP to the HTTPS port fails, and the server keeps serving.
        with HttpClient(store.Store, "127.0.0.1", served.port, timeout=5) as plain:
            with pytest.raises(Exception):  # noqa: B017 - any transport error is right here
                plain.add(1, 2)
        with HttpClient(store.Store, "127.0.0.1", served.port, ssl_context=context) as c:
            assert c.add(2, 2) == 4
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--server", "forking"), "--transport http is served with"),
        (("--server", "prefork"), "--transport http is served with"),
        (("--server", "threaded", "--loop", "asyncio"), "--loop applies"),
        (("--server", "threaded", "--protocol", "thrift"), "invalid choice"),
    ],
)
def test_serve_usage_errors(args: tuple[str, ...], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "swordfish", "serve", IDL, "--service", "Store",
         "--handler", HANDLER, "--port", "0", "--transport", "http", *args],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_call_usage_and_failures() -> None:
    done = call("--path", "/x", "add", '{"a": 1, "b": 2}')
    assert done.returncode == 2 and "--path applies to --transport http only" in done.stderr
    done = call("--transport", "http", "--path", "no-slash", "add", "{}")
    assert done.returncode == 2 and "path must start with '/'" in done.stderr
    done = call("--transport", "http", "--port", "1", "--timeout", "5", "add", "{}")
    assert done.returncode == 1 and "TransportError" in done.stderr
