"""TLS in pre-fork workers: real supervisor subprocesses, real handshakes, Apache's TSSLSocket.

Each worker builds its own ``SSLContext`` after the fork (``ssl_context_factory``); both worker
servers (threadpool, asyncio) serve TLS and mutual TLS, and a client that fails the handshake
costs only its own connection.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import swordfish
from swordfish import tls
from swordfish.errors import TransportError
from swordfish.prefork import Supervisor
from tests.tls_certs import Certs, make_certs

from .helpers import ROOT, Supervised, gone, probe
from .test_options import run_main

WORKER_SERVERS = ("threadpool", "asyncio")
APACHE_PEER = ROOT / "tests/interop/peers/apache_tls_peer.py"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("prefork-tls-certs"))


def tls_flags(certs: Certs, *, mutual: bool) -> list[str]:
    flags = ["--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    if mutual:
        flags += ["--cafile", certs.ca, "--require-client-cert"]
    return flags


def tls_client(sup: Supervised, certs: Certs, *, with_cert: bool) -> Any:
    context = tls.client_context(
        certs.ca,
        certs.client_cert if with_cert else None,
        certs.client_key if with_cert else None,
    )
    return sup.client(transport="framed", ssl_context=context)


def apache_add(port: int, certs: Certs, *, with_cert: bool) -> subprocess.CompletedProcess[str]:
    """Apache's TSSLSocket client calling add(20, 22) (Probe.add has Store.add's wire shape)."""
    argv = [sys.executable, str(APACHE_PEER), "client", "--port", str(port), "--cafile", certs.ca]
    if with_cert:
        argv += ["--certfile", certs.client_cert, "--keyfile", certs.client_key]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)


def serving_pids(sup: Supervised) -> set[int]:
    return sup.ready_pids(sup.wait_status(lambda s: len(sup.ready_pids(s)) == 2, "2 workers"))


@pytest.mark.parametrize("worker_server", WORKER_SERVERS)
def test_workers_serve_tls(
    supervised: Callable[..., Supervised], certs: Certs, worker_server: str, require: Any
) -> None:
    require.module("thrift")
    sup = supervised(
        "--workers", "2", "--worker-server", worker_server, "--transport", "framed",
        *tls_flags(certs, mutual=False),
    )  # fmt: skip
    sup.wait_listening()
    assert ", tls)" in sup.log
    workers = serving_pids(sup)
    assert sup.status()["tls"] is True
    answered = set()
    for i in range(6):
        with tls_client(sup, certs, with_cert=False) as c:
            assert c.add(i, 40) == 40 + i
            answered.add(c.pid())
    assert answered <= workers
    done = apache_add(sup.port, certs, with_cert=False)
    assert done.returncode == 0 and "result 42" in done.stdout, done.stdout + done.stderr
    # A plaintext client is not served (its bytes are not a TLS handshake)...
    with pytest.raises(TransportError):
        with sup.client(transport="framed", timeout=5.0) as plain:
            plain.add(1, 1)
    # ... and costs only its own connection.
    with tls_client(sup, certs, with_cert=False) as c:
        assert c.add(1, 2) == 3
    status = sup.status()
    assert status["restarts"] == 0 and sup.ready_pids(status) == workers
    assert sup.stop()[0] == 0


@pytest.mark.parametrize("worker_server", WORKER_SERVERS)
def test_mutual_tls_rejects_a_client_without_a_certificate(
    supervised: Callable[..., Supervised], certs: Certs, worker_server: str, require: Any
) -> None:
    require.module("thrift")
    sup = supervised(
        "--workers", "2", "--worker-server", worker_server, "--transport", "framed",
        *tls_flags(certs, mutual=True),
    )  # fmt: skip
    sup.wait_listening()
    workers = serving_pids(sup)
    with tls_client(sup, certs, with_cert=True) as c:
        assert c.add(20, 22) == 42
    for _ in range(3):  # every worker may see one; none may fall over
        with pytest.raises(TransportError):
            with tls_client(sup, certs, with_cert=False) as c:
                c.add(1, 1)
    refused = apache_add(sup.port, certs, with_cert=False)
    assert refused.returncode != 0, refused.stdout
    done = apache_add(sup.port, certs, with_cert=True)
    assert done.returncode == 0 and "result 42" in done.stdout, done.stdout + done.stderr
    with tls_client(sup, certs, with_cert=True) as c:
        assert c.add(2, 3) == 5
    status = sup.status()
    assert status["restarts"] == 0 and sup.ready_pids(status) == workers, sup.log


def launch(mode: str, tmp_path: Path, certs: Certs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/prefork/tls_app.py"),
            mode,
            str(tmp_path / "s.json"),
            str(certs.dir),
            str(tmp_path / "pids"),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_worker_builds_its_own_context(tmp_path: Path, certs: Certs) -> None:
    proc = launch("good", tmp_path, certs)
    workers: set[int] = set()
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[0] == "port", first
        port, supervisor_pid = int(first[1]), int(first[3])
        status = json.loads((tmp_path / "s.json").read_text())
        workers = {w["pid"] for w in status["workers"]}
        assert len(workers) == 2 and status["tls"] is True
        built_by = [int(line) for line in (tmp_path / "pids").read_text().split()]
        # Once in each worker, never in the supervisor.
        assert sorted(built_by) == sorted(workers) and supervisor_pid not in built_by
        context = tls.client_context(certs.ca)
        with swordfish.make_client(
            probe.Probe, port=port, transport="framed", ssl_context=context, timeout=5
        ) as c:
            assert c.add(2, 3) == 5
            assert c.pid() in workers
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert gone(workers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def test_a_failing_context_factory_fails_the_start(tmp_path: Path, certs: Certs) -> None:
    proc = launch("broken", tmp_path, certs)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 1, err
    assert out.startswith("start failed: usage=False worker "), out
    assert "cannot build the TLS context: FileNotFoundError" in out


def test_a_shared_context_object_is_refused() -> None:
    def app() -> Any:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="not an SSLContext shared across fork"):
        Supervisor(app, port=0, ssl_context_factory=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        Supervisor(app, port=0, ssl_context_factory="server.pem")  # type: ignore[arg-type]


def test_cli_checks_the_tls_files_before_forking(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.pem")
    rc, err = run_main(
        capsys,
        "--handler", "tests.prefork.handler:Handler", "--server", "prefork",
        "--ssl", "--certfile", missing,
    )  # fmt: skip
    assert rc == 2 and "cannot load TLS files" in err, err
