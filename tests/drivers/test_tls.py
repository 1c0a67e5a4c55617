"""TLS and mutual TLS on every sync server model, with the sync client, over real sockets.

Certificates are made at test time (``tests/tls_certs.py``): a CA, a server certificate for
127.0.0.1/localhost, a client certificate, and a self-signed "rogue" one nobody trusts.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish import tls
from swordfish.errors import TransportError
from swordfish.sync._common import MODELS
from swordfish.sync.server import Server
from tests.drivers.conftest import StoreHandler
from tests.tls_certs import Certs, make_certs

TRANSPORTS = ("buffered", "framed")
CONFIGS = [pytest.param(m, t, id=f"{m}-{t}") for m in MODELS for t in TRANSPORTS]
# Models with a thread (or process) per connection or a selector: one stalled client must
# not hold up another. ``simple`` serves one connection at a time by design.
CONCURRENT_MODELS = ("threaded", "threadpool", "forking")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


def server_ctx(certs: Certs, mutual: bool = False) -> ssl.SSLContext:
    return tls.server_context(
        certs.server_cert, certs.server_key, certs.ca if mutual else None, mutual
    )


@contextmanager
def tls_server(
    store: ModuleType, ctx: ssl.SSLContext, model: str, transport: str = "framed", **kw: Any
) -> Iterator[Server]:
    if model == "threadpool":
        kw.setdefault("workers", 2)
    server = swordfish.make_server(
        store.Store,
        StoreHandler(store),
        port=0,
        model=model,
        transport=transport,
        ssl_context=ctx,
        **kw,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=5)


def client(
    store: ModuleType, port: int, ctx: ssl.SSLContext | None, transport: str = "framed", **kw: Any
) -> Any:
    kw.setdefault("timeout", 10)
    kw.setdefault("connect_timeout", 10)
    return swordfish.make_client(
        store.Store, "127.0.0.1", port, transport=transport, ssl_context=ctx, **kw
    )


@pytest.mark.parametrize(("model", "transport"), CONFIGS)
def test_calls_over_tls(store: ModuleType, certs: Certs, model: str, transport: str) -> None:
    with tls_server(store, server_ctx(certs), model, transport) as server:
        with client(store, server.port, tls.client_context(certs.ca), transport) as c:
            assert c.add(2, 3) == 5
            # Larger than one TLS record (16 KiB): several records per message, both ways.
            big = bytes(range(256)) * 1000
            assert c.echo_binary(big) == big
            for i in range(20):
                assert c.add(i, 1) == i + 1
            shape = store.Shape(name="s", points=[store.Point(x=1, y=2)])
            assert c.roundtrip(shape) == shape
        # A second connection (new handshake) on the same server.
        with client(store, server.port, tls.client_context(certs.ca), transport) as c:
            assert c.echo("again") == "again"


@pytest.mark.parametrize("model", MODELS)
def test_mutual_tls(store: ModuleType, certs: Certs, model: str) -> None:
    good = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
    with tls_server(store, server_ctx(certs, mutual=True), model) as server:
        with client(store, server.port, good) as c:
            assert c.add(1, 1) == 2
        for bad in (
            tls.client_context(certs.ca),  # no client certificate
            tls.client_context(certs.ca, certs.rogue_cert, certs.rogue_key),  # untrusted one
        ):
            with client(store, server.port, bad) as c, pytest.raises(TransportError) as info:
                c.add(1, 2)
            assert "TLS" in str(info.value)  # an alert, or a hang-up with the TLS hint
        # The server keeps serving clients with a valid certificate.
        with client(store, server.port, good) as c:
            assert c.add(20, 22) == 42


def test_failed_handshake_is_logged_with_peer(
    store: ModuleType, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="swordfish.server")
    with tls_server(store, server_ctx(certs, mutual=True), "threaded") as server:
        with client(store, server.port, tls.client_context(certs.ca)) as c:
            with pytest.raises(TransportError):
                c.add(1, 2)
            # The server logs after its side of the handshake failed; wait for it (bounded).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                "TLS handshake" in r.getMessage() for r in caplog.records
            ):
                time.sleep(0.05)
    records = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert records, caplog.text
    assert records[0].levelno >= logging.WARNING
    assert "127.0.0.1:" in records[0].getMessage()


@pytest.mark.parametrize("model", CONCURRENT_MODELS)
def test_stalled_handshakes_do_not_block_others(
    store: ModuleType, certs: Certs, model: str
) -> None:
    """A client that connects and never handshakes, and one that sends half a ClientHello,
    must not delay other clients (threadpool: even with one worker), and are dropped once
    the handshake timeout passes."""
    kw: dict[str, Any] = {"handshake_timeout": 4.0}
    if model == "threadpool":
        kw["workers"] = 1
    with tls_server(store, server_ctx(certs), model, **kw) as server:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        partial = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            partial.sendall(b"\x16\x03\x01\x02\x00\x01")  # a record header, then nothing
            time.sleep(0.2)  # let the server take both before the real client arrives
            started = time.monotonic()
            with client(store, server.port, tls.client_context(certs.ca)) as c:
                assert c.add(1, 2) == 3
            assert time.monotonic() - started < 3.5  # not behind either handshake timeout
            # Both stalled sockets are closed by the server (EOF or reset), within seconds.
            for sock in (silent, partial):
                sock.settimeout(10)
                try:
                    assert sock.recv(100) == b""
                except ConnectionResetError:
                    pass
        finally:
            silent.close()
            partial.close()
        with client(store, server.port, tls.client_context(certs.ca)) as c:
            assert c.add(2, 2) == 4


@pytest.mark.parametrize("model", ("simple", "threadpool"))
def test_plain_client_on_tls_port(store: ModuleType, certs: Certs, model: str) -> None:
    with tls_server(store, server_ctx(certs), model, handshake_timeout=5) as server:
        with client(store, server.port, None, timeout=10) as c, pytest.raises(TransportError):
            c.add(1, 2)
        with client(store, server.port, tls.client_context(certs.ca)) as c:
            assert c.add(1, 2) == 3


def test_hostname_mismatch_fails_on_client(store: ModuleType, certs: Certs) -> None:
    with tls_server(store, server_ctx(certs), "threadpool") as server:
        ctx = tls.client_context(certs.ca)
        with client(store, server.port, ctx, server_hostname="other.example") as c:
            with pytest.raises(TransportError, match="certificate"):
                c.add(1, 2)
        with client(store, server.port, ctx, server_hostname="localhost") as c:
            assert c.add(1, 2) == 3


def test_untrusted_server_fails_on_client(store: ModuleType, certs: Certs) -> None:
    rogue = tls.server_context(certs.rogue_cert, certs.rogue_key)
    with tls_server(store, rogue, "threaded") as server:
        with client(store, server.port, tls.client_context(certs.ca)) as c:
            with pytest.raises(TransportError, match="certificate"):
                c.add(1, 2)


@pytest.mark.parametrize("model", MODELS)
def test_stop_with_idle_tls_connection(store: ModuleType, certs: Certs, model: str) -> None:
    """The lingering close on TLS: close_notify + FIN; stop() is prompt, the client sees EOF."""
    server = swordfish.make_server(
        store.Store,
        StoreHandler(store),
        port=0,
        model=model,
        transport="framed",
        ssl_context=server_ctx(certs),
    ).start()
    c = client(store, server.port, tls.client_context(certs.ca))
    try:
        assert c.add(1, 2) == 3
        started = time.monotonic()
        server.stop(timeout=5)
        assert time.monotonic() - started < 4.5
        with pytest.raises(TransportError):
            c.add(1, 2)  # reconnects to a closed port, or finds the connection closed
    finally:
        c.close()
        server.stop()


def test_concurrent_tls_clients_threadpool(store: ModuleType, certs: Certs) -> None:
    errors: list[BaseException] = []
    with tls_server(store, server_ctx(certs), "threadpool", workers=3) as server:

        def work(n: int) -> None:
            try:
                with client(store, server.port, tls.client_context(certs.ca)) as c:
                    for i in range(30):
                        assert c.add(n, i) == n + i
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors


def test_context_helpers_and_argument_checks(store: ModuleType, certs: Certs) -> None:
    with pytest.raises(ValueError, match="cafile"):
        tls.server_context(certs.server_cert, certs.server_key, require_client_cert=True)
    with pytest.raises(ValueError, match="certfile"):
        tls.client_context(certs.ca, keyfile=certs.client_key)
    mutual = server_ctx(certs, mutual=True)
    assert mutual.verify_mode == ssl.CERT_REQUIRED
    assert server_ctx(certs).verify_mode == ssl.CERT_NONE
    assert tls.client_context(certs.ca).check_hostname
    with pytest.raises(ValueError, match="ssl_context"):
        swordfish.make_server(store.Store, StoreHandler(store), port=0, ssl_context="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="handshake_timeout"):
        swordfish.make_server(
            store.Store, StoreHandler(store), port=0, ssl_context=mutual, handshake_timeout=0
        )
    with pytest.raises(ValueError, match="server_hostname"):
        swordfish.make_client(store.Store, port=1, server_hostname="x")
