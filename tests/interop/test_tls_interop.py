"""TLS across implementations and processes: Apache Thrift's ``TSSLSocket`` client against
Swordfish TLS servers, a Swordfish client against Apache's ``TSSLServerSocket``, and the
``swordfish serve`` / ``swordfish call`` command line with ``--ssl`` (binary, framed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish import tls
from swordfish.cli import main
from swordfish.errors import TransportError
from tests.drivers.conftest import StoreHandler
from tests.tls_certs import Certs, make_certs

from .harness import PEERS_DIR, run_client, running_server

PEER = str(PEERS_DIR / "apache_tls_peer.py")
IDL = "tests/drivers/store.thrift"
SERVE = [sys.executable, "-m", "swordfish", "serve", IDL, "--service", "Store"]
HANDLER = ["--handler", "tests.cli.handler:Handler", "--transport", "framed", "--port", "0"]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


@pytest.fixture
def apache(require: Any) -> None:
    require.module("thrift")


@pytest.fixture(scope="session")
def store() -> ModuleType:
    return swordfish.load(IDL)


@pytest.mark.parametrize("model", ["threaded", "threadpool", "asyncio"])
@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_apache_client_to_swordfish_server(
    apache: None, certs: Certs, tmp_path: Path, model: str, mutual: bool
) -> None:
    flags = ["--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    if mutual:
        flags += ["--cafile", certs.ca, "--require-client-cert"]
    argv = [*SERVE, *HANDLER, "--server", model, *flags]
    with running_server(argv, tmp_path / "server.log") as server:
        client = [sys.executable, PEER, "client", "--port", str(server.port), "--cafile", certs.ca]
        client += ["--certfile", certs.client_cert, "--keyfile", certs.client_key]
        run_client(client, server=server)
        assert "listening on" in server.output() and ", tls)" in server.output()


@pytest.fixture
def apache_server(apache: None, certs: Certs, tmp_path: Path) -> Iterator[int]:
    argv = [sys.executable, PEER, "server", "--certfile", certs.server_cert]
    argv += ["--keyfile", certs.server_key, "--cafile", certs.ca]  # mutual TLS
    with running_server(argv, tmp_path / "apache.log") as server:
        yield server.port


def test_swordfish_clients_to_apache_server(
    apache_server: int, certs: Certs, store: ModuleType
) -> None:
    ctx = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
    opts: dict[str, Any] = {"transport": "framed", "timeout": 20, "server_hostname": "localhost"}
    with swordfish.make_client(store.Store, port=apache_server, ssl_context=ctx, **opts) as c:
        assert c.add(20, 22) == 42
        assert c.add(-1, 1) == 0

    async def aio() -> int:
        async with swordfish.AsyncClient(
            store.Store, port=apache_server, ssl_context=ctx, **opts
        ) as ac:
            result: int = await ac.add(1, 2)
            return result

    import asyncio

    assert asyncio.run(aio()) == 3
    # Apache's server requires a client certificate: without one, a TransportError.
    plain = tls.client_context(certs.ca)
    with swordfish.make_client(store.Store, port=apache_server, ssl_context=plain, **opts) as c:
        with pytest.raises(TransportError):
            c.add(1, 2)
    # ...and it still serves the next client.
    with swordfish.make_client(store.Store, port=apache_server, ssl_context=ctx, **opts) as c:
        assert c.add(2, 2) == 4


# -- the command line ---------------------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("model", ["threadpool", "asyncio"])
def test_cli_serve_and_call_with_ssl(
    capsys: pytest.CaptureFixture[str], certs: Certs, tmp_path: Path, model: str
) -> None:
    flags = ["--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    flags += ["--cafile", certs.ca, "--require-client-cert"]
    with running_server([*SERVE, *HANDLER, "--server", model, *flags], tmp_path / "s.log") as srv:
        base = ["call", IDL, "--service", "Store", "--port", str(srv.port)]
        base += ["--transport", "framed", "--timeout", "20", "--ssl", "--cafile", certs.ca]
        mine = ["--certfile", certs.client_cert, "--keyfile", certs.client_key]
        rc, out, err = run_main(capsys, *base, *mine, "add", '{"a": 2, "b": 40}')
        assert (rc, json.loads(out)) == (0, 42), err
        rc, out, err = run_main(capsys, *base, "add", '{"a": 2, "b": 40}')  # no client cert
        assert rc == 1 and out == ""
        # TransportError, or its subclass ConnectionClosedError, naming TLS either way.
        assert err.startswith("swordfish: error: ") and "TLS" in err, err
        rc, out, err = run_main(
            capsys, *base, *mine, "--server-hostname", "elsewhere", "add", '{"a": 1, "b": 1}'
        )
        assert rc == 1 and "certificate" in err, err


SERVE_ARGS = ["serve", IDL, "--service", "Store", "--handler", "tests.cli.handler:Handler"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--certfile", "x.pem"], "--certfile needs --ssl"),
        (["--ssl"], "serve --ssl needs --certfile (the server's certificate)"),
        (["--ssl", "--certfile", "{cert}", "--require-client-cert"], "--require-client-cert "
         "needs --cafile"),
        (["--ssl", "--keyfile", "{key}"], "--keyfile needs --certfile"),
    ],
)  # fmt: skip
def test_cli_serve_tls_usage_errors(
    capsys: pytest.CaptureFixture[str], certs: Certs, extra: list[str], message: str
) -> None:
    extra = [a.format(cert=certs.server_cert, key=certs.server_key) for a in extra]
    rc, _, err = run_main(capsys, *SERVE_ARGS, "--port", "0", *extra)
    assert rc == 2
    assert err.strip() == f"swordfish: error: {message}"


def test_cli_tls_file_errors_and_call_usage(
    capsys: pytest.CaptureFixture[str], certs: Certs, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.pem")
    rc, _, err = run_main(capsys, *SERVE_ARGS, "--port", "0", "--ssl", "--certfile", missing)
    assert rc == 2 and "cannot load TLS files" in err, err
    call = ["call", IDL, "--service", "Store", "--port", "1", "add", "{}"]
    for extra, message in (
        (["--cafile", certs.ca], "--cafile needs --ssl"),
        (["--server-hostname", "x"], "--server-hostname needs --ssl"),
        (["--ssl", "--keyfile", certs.client_key], "--keyfile needs --certfile"),
    ):
        rc, _, err = run_main(capsys, *call, *extra)
        assert rc == 2, err
        assert err.strip() == f"swordfish: error: {message}"


def test_sync_and_async_clients_against_sync_server_in_process(
    certs: Certs, store: ModuleType
) -> None:
    """Sanity for the peers above: our own server and clients agree over TLS, framed."""
    ctx = tls.server_context(certs.server_cert, certs.server_key, certs.ca, True)
    with swordfish.make_server(
        store.Store, StoreHandler(store), port=0, transport="framed", ssl_context=ctx
    ) as server:
        client_ctx = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
        with swordfish.make_client(
            store.Store, port=server.port, transport="framed", ssl_context=client_ctx
        ) as c:
            assert c.add(1, 2) == 3
