"""Thrift over HTTP with Apache Thrift's own HTTP transports, both directions, every protocol.

- Apache's ``THttpClient`` (a peer subprocess running the shared check table) calls
  Swordfish's WSGI app (under wsgiref via ``swordfish serve --transport http`` and under a
  real gunicorn) and its ASGI app (under uvicorn, ``swordfish serve --server asyncio``).
- Swordfish's ``HttpClient`` and ``AsyncHttpClient`` run the check table against Apache's
  ``THttpServer`` (a peer subprocess).

The check table includes a oneway call that must return before the server's 1 s handler ends:
both servers answer it at once, and the clients must not wait for more.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop import harness
from tests.interop.harness import PEERS_DIR, PROTOCOLS, REPO_ROOT, THRIFT_TEST_IDL
from tests.interop.peers.thrifttest_checks import run_checks, run_uuid_checks

# Session fixtures of the main interop module: the generated Apache code and peer command lines.
from tests.interop.test_interop import apache_gen_dir, old_peer_idl, peer_argv, sf  # noqa: F401
from tests.web.http_servers import GUNICORN_READY, ServerProcess

PeerArgv = Callable[..., list[str]]
SWORDFISH_SERVERS = ["threaded", "asyncio", "gunicorn"]


def http_peer(peer_argv: PeerArgv, role: str, protocol: str, port: int = 0) -> list[str]:  # noqa: F811
    """The command line of ``peers/apache_http_{role}.py`` (same flags as the TCP peers)."""
    argv = peer_argv("apache", role, protocol, "buffered", port=port)
    argv[1] = str(PEERS_DIR / f"apache_http_{role}.py")
    return argv


def start_swordfish(server: str, protocol: str, log: Path) -> Any:
    if server == "gunicorn":
        argv = [
            sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:0", "-w", "1",
            "--threads", "4", "tests.interop.sf_http_apps:wsgi_app",
        ]  # fmt: skip
        return ServerProcess(argv, log, GUNICORN_READY, {"SF_HTTP_PROTOCOL": protocol})
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(THRIFT_TEST_IDL),
        "--service", "ThriftTest", "--handler", "tests.interop.sf_handler:Handler",
        "--host", "127.0.0.1", "--port", "0", "--protocol", protocol,
        "--transport", "http", "--server", server,
    ]  # fmt: skip
    process = harness.ServerProcess(argv, log, cwd=REPO_ROOT)
    process.wait_ready()
    return process


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("server", SWORDFISH_SERVERS)
def test_apache_http_client_to_swordfish_app(
    server: str,
    protocol: str,
    peer_argv: PeerArgv,  # noqa: F811
    tmp_path: Path,
) -> None:
    client_argv = http_peer(peer_argv, "client", protocol)  # resolves the Apache peer first
    process = start_swordfish(server, protocol, tmp_path / "server.log")
    try:
        client_argv[client_argv.index("--port") + 1] = str(process.port)
        harness.run_client(client_argv)
    finally:
        process.stop()


class _Blocking:
    """An ``AsyncHttpClient`` driven from sync code, so the sync check table can run it."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return call


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_swordfish_http_client_to_apache_http_server(
    protocol: str,
    flavour: str,
    peer_argv: PeerArgv,  # noqa: F811
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    argv = http_peer(peer_argv, "server", protocol)
    with harness.running_server(argv, tmp_path / "server.log") as server:
        url = f"http://127.0.0.1:{server.port}/thrift"
        app_exc = swordfish.TApplicationException
        if flavour == "sync":
            client = swordfish.make_client(
                tt.ThriftTest, url, transport="http", protocol=protocol, timeout=10.0
            )
            with client:
                failures = run_checks(client, tt, app_exc)
                failures += run_uuid_checks(client, tt, app_exc, server_has_uuid=False)
        else:
            loop = asyncio.new_event_loop()
            try:
                aclient = loop.run_until_complete(
                    swordfish.make_aio_client(
                        tt.ThriftTest, url, transport="http", protocol=protocol, timeout=10.0
                    )
                )
                blocking = _Blocking(aclient, loop)
                failures = run_checks(blocking, tt, app_exc)
                failures += run_uuid_checks(blocking, tt, app_exc, server_has_uuid=False)
                loop.run_until_complete(aclient.close())
            finally:
                loop.close()
    assert not failures, f"{len(failures)} check(s) failed:\n" + "\n".join(failures)


@pytest.mark.parametrize("server", ["threaded", "asyncio"])
def test_swordfish_http_client_to_swordfish_app(
    server: str,
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The baseline, uuid included (the Apache peers predate uuid)."""
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    process = start_swordfish(server, "compact", tmp_path / "server.log")
    try:
        with swordfish.make_client(
            tt.ThriftTest, "127.0.0.1", process.port, transport="http", protocol="compact"
        ) as client:
            app_exc = swordfish.TApplicationException
            failures = run_checks(client, tt, app_exc)
            failures += run_uuid_checks(client, tt, app_exc, server_has_uuid=True)
    finally:
        process.stop()
    assert not failures, f"{len(failures)} check(s) failed:\n" + "\n".join(failures)
