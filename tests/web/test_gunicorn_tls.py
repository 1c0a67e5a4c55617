"""TLS in the gunicorn workers, configured with gunicorn's own settings, under a real gunicorn.

``--certfile``/``--keyfile`` serve TLS, ``--ca-certs`` with ``--cert-reqs 2`` requires client
certificates (mutual TLS), and gunicorn's ``ssl_context`` server hook can adjust the context.
Clients: Swordfish's TLS client and Apache's ``TSSLSocket`` (tests/interop/peers). A client
that fails the handshake costs only its own connection: the workers keep serving.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import swordfish
from swordfish import tls
from swordfish.errors import TransportError
from tests.paths import REPO
from tests.tls_certs import Certs, make_certs
from tests.web.test_gunicorn import ASYNC, BOOT_S, SERVICE, SYNC, Gunicorn

FRAMED_APP = 'examples.gunicorn.calc_app:make_app(transport="framed")'
APACHE_PEER = REPO / "tests/interop/peers/apache_tls_peer.py"
WORKER_KINDS = [SYNC, ASYNC]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("gunicorn-tls-certs"))


@pytest.fixture
def gunicorn(tmp_path: Path, require: Any) -> Iterator[Callable[..., Gunicorn]]:
    require.module("gunicorn")
    started: list[Gunicorn] = []

    def start(*options: str, worker: str = SYNC, app: str | None = FRAMED_APP) -> Gunicorn:
        g = Gunicorn(tmp_path / f"gunicorn-{len(started)}.log", worker, app, options)
        started.append(g)
        return g

    try:
        yield start
    finally:
        for g in started:
            g.kill()


def server_flags(certs: Certs, *, mutual: bool) -> tuple[str, ...]:
    flags = ("--certfile", certs.server_cert, "--keyfile", certs.server_key)
    if mutual:
        flags += ("--ca-certs", certs.ca, "--cert-reqs", "2")
    return flags


def tls_client(g: Gunicorn, context: ssl.SSLContext) -> Any:
    return swordfish.make_client(
        SERVICE, "127.0.0.1", g.port, transport="framed", ssl_context=context, timeout=10.0
    )


def client_context(certs: Certs, *, with_cert: bool) -> ssl.SSLContext:
    if with_cert:
        return tls.client_context(certs.ca, certs.client_cert, certs.client_key)
    return tls.client_context(certs.ca)


def apache_add(g: Gunicorn, certs: Certs, *, with_cert: bool) -> subprocess.CompletedProcess[str]:
    """Apache's TSSLSocket client calling add(20, 22) (Calculator.add has Store.add's shape)."""
    argv = [sys.executable, str(APACHE_PEER), "client", "--port", str(g.port), "--cafile", certs.ca]
    if with_cert:
        argv += ["--certfile", certs.client_cert, "--keyfile", certs.client_key]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.mark.parametrize("worker", WORKER_KINDS, ids=["sync", "async"])
def test_workers_serve_tls_from_gunicorn_settings(
    gunicorn: Callable[..., Gunicorn], certs: Certs, worker: str, require: Any
) -> None:
    require.module("thrift")
    g = gunicorn("-w", "2", *server_flags(certs, mutual=False), worker=worker)
    pids = g.wait_ready(2)
    assert "framed, tls," in g.log(), g.explain()
    seen = set()
    for i in range(4):
        with tls_client(g, client_context(certs, with_cert=False)) as c:
            assert c.add(i, 40) == 40 + i
            seen.add(c.pid())
    assert seen <= pids
    done = apache_add(g, certs, with_cert=False)
    assert done.returncode == 0 and "result 42" in done.stdout, (
        done.stdout + done.stderr + g.explain()
    )
    with pytest.raises(TransportError):  # plaintext is not a TLS handshake
        with swordfish.make_client(
            SERVICE, "127.0.0.1", g.port, transport="framed", timeout=5
        ) as c:
            c.add(1, 1)
    with tls_client(g, client_context(certs, with_cert=False)) as c:
        assert c.add(1, 2) == 3
    assert set(g.ready_pids()) == pids, g.explain()  # nobody was replaced


@pytest.mark.parametrize("worker", WORKER_KINDS, ids=["sync", "async"])
def test_mutual_tls_rejects_a_client_without_a_certificate(
    gunicorn: Callable[..., Gunicorn], certs: Certs, worker: str, require: Any
) -> None:
    require.module("thrift")
    g = gunicorn("-w", "2", *server_flags(certs, mutual=True), worker=worker)
    pids = g.wait_ready(2)
    with tls_client(g, client_context(certs, with_cert=True)) as c:
        assert c.add(20, 22) == 42
    for _ in range(3):
        with pytest.raises(TransportError):
            with tls_client(g, client_context(certs, with_cert=False)) as c:
                c.add(1, 1)
    refused = apache_add(g, certs, with_cert=False)
    assert refused.returncode != 0, refused.stdout
    done = apache_add(g, certs, with_cert=True)
    assert done.returncode == 0 and "result 42" in done.stdout, done.stdout + done.stderr
    with tls_client(g, client_context(certs, with_cert=True)) as c:
        assert c.add(2, 3) == 5
    assert set(g.ready_pids()) == pids, g.explain()  # still the same two workers


def test_the_ssl_context_hook_has_the_last_word(
    gunicorn: Callable[..., Gunicorn], certs: Certs, tmp_path: Path
) -> None:
    config = tmp_path / "tls_conf.py"
    config.write_text(
        "import ssl\n\n"
        "def ssl_context(conf, default_ssl_context_factory):\n"
        "    context = default_ssl_context_factory()\n"
        "    context.minimum_version = ssl.TLSVersion.TLSv1_3\n"
        "    return context\n"
    )
    g = gunicorn("-c", str(config), "-w", "1", *server_flags(certs, mutual=False))
    g.wait_ready(1)
    old = client_context(certs, with_cert=False)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(TransportError):
        with tls_client(g, old) as c:
            c.add(1, 1)
    with tls_client(g, client_context(certs, with_cert=False)) as c:
        assert c.add(1, 1) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--cert-reqs", "2"), "--cert-reqs 2 (CERT_REQUIRED) needs --ca-certs"),
        (("--cert-reqs", "1"), "--cert-reqs 1 (CERT_OPTIONAL) needs --ca-certs"),
        (("--ca-certs", "{app}", "--cert-reqs", "2"), "unusable TLS settings"),
    ],
)
def test_unusable_tls_settings_stop_gunicorn_at_start(
    gunicorn: Callable[..., Gunicorn], certs: Certs, options: tuple[str, ...], message: str
) -> None:
    not_a_cert = str(REPO / "examples" / "gunicorn" / "calc_app.py")
    options = tuple(o.format(app=not_a_cert) for o in options)
    g = gunicorn(*server_flags(certs, mutual=False), *options)
    assert g.wait_exit(BOOT_S) == 1
    assert message in g.log(), g.explain()
    assert "swordfish worker ready" not in g.log()


def test_a_file_that_is_no_certificate_stops_gunicorn_at_start(
    gunicorn: Callable[..., Gunicorn],
) -> None:
    not_a_cert = str(REPO / "examples" / "gunicorn" / "calc_app.py")
    g = gunicorn("--certfile", not_a_cert, "--keyfile", not_a_cert)
    assert g.wait_exit(BOOT_S) == 1
    assert "ThriftWorker: unusable TLS settings" in g.log(), g.explain()
