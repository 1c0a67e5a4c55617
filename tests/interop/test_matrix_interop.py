"""The rest of the Apache matrix: ThriftTest over zlib, TLS, header over TLS and HTTP, HTTPS.

test_interop.py covers {binary, compact, json} x {buffered, framed} in the clear,
test_header_interop.py header and test_http_interop.py plain HTTP. This file runs the same
check table (peers/thrifttest_checks.py) through what they leave out, in both directions,
against Apache Thrift's Python library (peers/apache_matrix_peer.py, one subprocess per row):

- zlib: {binary, compact, json} over ``TZlibTransport``;
- TLS (``TSSLSocket`` / ``TSSLServerSocket``): {binary, compact, json} x {buffered, framed,
  zlib}, and header / header-compact over the same three (Apache's ``THeaderTransport`` over
  a TLS socket; info headers echoed and checked both ways, as in test_header_interop.py);
- HTTP: Apache's ``THttpClient`` with an https URL calling Swordfish's WSGI app (wsgiref)
  and ``swordfish serve --transport http --ssl`` (uvicorn), and Swordfish's HTTP clients
  calling Apache's ``THttpServer`` with its own TLS switch (``cert_file``/``key_file``);
  header over HTTP (one frame per body) in the clear and over TLS.

The Apache peers use Apache's pure-Python protocol classes: its C codec loses data through
``TZlibTransport`` on messages over about 4 KiB (see the peer's docstring).

Every row runs with Swordfish's asyncio server (Apache client rows) or its blocking client
(Swordfish client rows); the thread-pool server and the asyncio client take a diagonal of rows
that covers every protocol and every transport once, which keeps the file near a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop import harness
from tests.interop.harness import PEERS_DIR, REPO_ROOT, THRIFT_TEST_IDL
from tests.interop.peers.thrifttest_checks import run_checks, run_uuid_checks

# Session fixtures of the main interop module: the generated Apache code and the Swordfish side.
from tests.interop.test_interop import apache_gen_dir, old_peer_idl, sf  # noqa: F401
from tests.tls_certs import Certs, make_certs

PEER = PEERS_DIR / "apache_matrix_peer.py"
SERVER_NAME = "localhost"  # in the test server certificate (tests/tls_certs.py)

#: What a Swordfish header client sends, and what Apache's header server then answers with.
SF_HEADERS = {"client": "swordfish", "ключ": "значение"}
APACHE_REPLY = {"peer": "apache", **{f"echo-{k}": v for k, v in SF_HEADERS.items()}}

#: (protocol, transport, tls) of every raw-TCP row.
TCP_ROWS = (
    [(p, "zlib", False) for p in ("binary", "compact", "json")]
    + [(p, t, True) for p in ("binary", "compact", "json") for t in ("buffered", "framed", "zlib")]
    + [(p, t, True) for p in ("header", "header-compact") for t in ("buffered", "framed", "zlib")]
)
#: Rows also run with the second flavour (below): each protocol and each transport once.
DIAGONAL = {
    ("binary", "zlib", False),
    ("binary", "buffered", True),
    ("compact", "framed", True),
    ("json", "zlib", True),
    ("header", "framed", True),
    ("header-compact", "buffered", True),
}


def _tcp_params(every_row: str, diagonal: str) -> list[Any]:
    return [
        pytest.param(p, t, tls, flavour, id=f"{p}-{t}{'-tls' if tls else ''}-{flavour}")
        for p, t, tls in TCP_ROWS
        for flavour in ((every_row, diagonal) if (p, t, tls) in DIAGONAL else (every_row,))
    ]


#: The asyncio server takes every row: the thread-pool server serves one connection's calls in
#: order, so the check table's oneway call (a 1 s handler) holds up the next call by a second.
SERVER_ROWS = _tcp_params("asyncio", "threadpool")
CLIENT_ROWS = _tcp_params("sync", "async")
#: (protocol, tls, Swordfish side) of the HTTP rows. Apache's THttpClient calls the WSGI app
#: under wsgiref ("wsgi", in this process) for every protocol, and ``swordfish serve
#: --transport http --ssl --server asyncio`` (uvicorn, "cli-uvicorn") for one; Swordfish's
#: HttpClient ("sync") calls Apache's THttpServer for every protocol, AsyncHttpClient
#: ("async") for one. Plain-HTTP rows for binary/compact/json are in test_http_interop.py;
#: header runs over TLS with either protocol inside, and once in the clear (binary inside;
#: test_http_header_interop.py has the rest of the plain-HTTP header rows).
HTTP_ROWS = [(p, True) for p in ("binary", "compact", "json", "header", "header-compact")] + [
    ("header", False),
]


def _http_params(every_row: str, extra: tuple[str, bool, str]) -> list[Any]:
    rows = [(p, tls, every_row) for p, tls in HTTP_ROWS] + [extra]
    return [
        pytest.param(p, tls, side, id=f"{p}-{'https' if tls else 'http'}-{side}")
        for p, tls, side in rows
    ]


HTTP_SERVER_ROWS = _http_params("wsgi", ("compact", True, "cli-uvicorn"))
HTTP_CLIENT_ROWS = _http_params("sync", ("json", True, "async"))


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("matrix-certs"))


@pytest.fixture
def apache(require: Any, apache_gen_dir: Path) -> Path:  # noqa: F811
    """The generated ThriftTest package's directory, once the Apache library is known here."""
    require.module("thrift")
    return apache_gen_dir


def peer_argv(
    role: str,
    gen_dir: Path,
    protocol: str,
    transport: str,
    certs: Certs | None,
    port: int = 0,
) -> list[str]:
    """Command line of peers/apache_matrix_peer.py; ``certs`` switches TLS on."""
    argv = [sys.executable, str(PEER), role, "--gen-dir", str(gen_dir)]
    argv += ["--protocol", protocol, "--transport", transport, "--port", str(port)]
    if certs is not None and role == "server":
        argv += ["--tls", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    elif certs is not None:
        argv += ["--tls", "--cafile", certs.ca]
    if role == "client":
        argv.append("--verbose")
    return argv


# -- Swordfish servers (in this process) --------------------------------------------------------


def _echo_headers(flavour: str) -> Any:
    """Server side of the header rows: answer every call with its info headers prefixed
    ``echo-`` plus ``server: swordfish``, what the Apache header client checks."""
    from swordfish.rpc import AsyncFilter, Filter

    def echo(request: Any) -> None:
        for key, value in request.headers.items():
            request.context.set_reply_header(f"echo-{key}", value)
        request.context.set_reply_header("server", "swordfish")

    if flavour == "asyncio":

        class AsyncEcho(AsyncFilter):  # type: ignore[type-arg]
            role = "echo-headers"
            description = "interop: echo the call's info headers on the reply"

            async def __call__(self, request: Any, service: Any) -> Any:
                echo(request)
                return await service(request)

        return AsyncEcho()

    class Echo(Filter):  # type: ignore[type-arg]
        role = "echo-headers"
        description = "interop: echo the call's info headers on the reply"

        def __call__(self, request: Any, service: Any) -> Any:
            echo(request)
            return service(request)

    return Echo()


@contextlib.contextmanager
def sf_server(
    sf: Any,  # noqa: F811
    flavour: str,
    protocol: str,
    transport: str,
    certs: Certs | None,
) -> Iterator[int]:
    """A Swordfish ThriftTest server, thread pool or asyncio (on its own loop thread)."""
    swordfish, sf_handler = sf
    from swordfish import tls

    options: dict[str, Any] = {"protocol": protocol, "transport": transport}
    if certs is not None:
        options["ssl_context"] = tls.server_context(certs.server_cert, certs.server_key)
    if protocol.startswith("header"):
        options["filters"] = [_echo_headers(flavour)]
    service, handler = sf_handler.thrift_test.ThriftTest, sf_handler.Handler()
    if flavour == "threadpool":
        server = swordfish.make_server(service, handler, "127.0.0.1", 0, model=flavour, **options)
        server.start()
        try:
            yield server.port
        finally:
            server.stop(timeout=5)
        return

    from swordfish.aio import make_aio_server

    loop = asyncio.new_event_loop()
    started: list[Any] = []
    errors: list[BaseException] = []
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            started.append(
                loop.run_until_complete(
                    make_aio_server(service, handler, "127.0.0.1", 0, **options)
                )
            )
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            ready.set()
        if started:
            loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert ready.wait(20), "the asyncio server did not start within 20 s"
        if errors:
            raise errors[0]
        yield started[0].port
    finally:
        if started:
            asyncio.run_coroutine_threadsafe(started[0].stop(timeout=5), loop).result(20)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()


# -- Swordfish clients (in this process) --------------------------------------------------------


class _Blocking:
    """An asyncio client driven from sync code, so the sync check table can run it."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return call


def _recorder(replies: list[Any], flavour: str) -> Any:
    """Client side of the header rows: record the reply headers of every call."""
    from swordfish.rpc import AsyncFilter, Filter

    if flavour == "async":

        class AsyncRecord(AsyncFilter):  # type: ignore[type-arg]
            role = "record"
            description = "interop: record reply headers"

            async def __call__(self, request: Any, service: Any) -> Any:
                try:
                    return await service(request)
                finally:
                    replies.append(request.context.reply_headers)

        return AsyncRecord()

    class Record(Filter):  # type: ignore[type-arg]
        role = "record"
        description = "interop: record reply headers"

        def __call__(self, request: Any, service: Any) -> Any:
            try:
                return service(request)
            finally:
                replies.append(request.context.reply_headers)

    return Record()


def sf_client_checks(
    sf: Any,  # noqa: F811
    flavour: str,
    target: tuple[str, int],
    protocol: str,
    transport: str,
    certs: Certs | None,
) -> None:
    """The check table (uuid included: Apache must answer UNKNOWN_METHOD) with a Swordfish
    client, blocking or asyncio, against an Apache server; header rows check reply headers."""
    swordfish, sf_handler = sf
    from swordfish import tls

    tt = sf_handler.thrift_test
    app_exc = swordfish.TApplicationException
    host, port = target
    options: dict[str, Any] = {"protocol": protocol, "transport": transport, "timeout": 20.0}
    if certs is not None:
        options["ssl_context"] = tls.client_context(certs.ca)
        if transport != "http":  # an https URL names its host itself
            options["server_hostname"] = SERVER_NAME
    replies: list[Any] = []
    if protocol.startswith("header"):
        options["headers"] = SF_HEADERS
        options["filters"] = [_recorder(replies, flavour)]

    def checks(client: Any) -> list[str]:
        failures = run_checks(client, tt, app_exc)
        return failures + run_uuid_checks(client, tt, app_exc, server_has_uuid=False)

    if flavour == "sync":
        with swordfish.make_client(tt.ThriftTest, host, port, **options) as client:
            failures = checks(client)
    else:
        loop = asyncio.new_event_loop()
        try:
            aclient = loop.run_until_complete(
                swordfish.make_aio_client(tt.ThriftTest, host, port, **options)
            )
            try:
                failures = checks(_Blocking(aclient, loop))
            finally:
                loop.run_until_complete(aclient.close())
        finally:
            loop.close()
    assert not failures, f"{len(failures)} check(s) failed:\n" + "\n".join(failures)
    if protocol.startswith("header"):
        got = [r for r in replies if r is not None]  # oneway calls have no reply
        assert len(got) >= 50, len(got)
        bad = [r for r in got if r != APACHE_REPLY]
        assert not bad, f"{len(bad)} of {len(got)} replies had other headers, e.g. {bad[0]!r}"


# -- raw TCP rows: zlib, TLS, header over TLS ---------------------------------------------------


@pytest.mark.parametrize(("protocol", "transport", "tls", "server"), SERVER_ROWS)
def test_apache_client_to_sf(
    protocol: str,
    transport: str,
    tls: bool,
    server: str,
    apache: Path,
    certs: Certs,
    sf: Any,  # noqa: F811
) -> None:
    with sf_server(sf, server, protocol, transport, certs if tls else None) as port:
        harness.run_client(
            peer_argv("client", apache, protocol, transport, certs if tls else None, port)
        )


@pytest.mark.parametrize(("protocol", "transport", "tls", "client"), CLIENT_ROWS)
def test_sf_client_to_apache(
    protocol: str,
    transport: str,
    tls: bool,
    client: str,
    apache: Path,
    certs: Certs,
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    argv = peer_argv("server", apache, protocol, transport, certs if tls else None)
    with harness.running_server(argv, tmp_path / "apache.log") as server:
        target = ("127.0.0.1", server.port)
        sf_client_checks(sf, client, target, protocol, transport, certs if tls else None)


# -- HTTP rows: HTTPS, and header over HTTP -----------------------------------------------------


@contextlib.contextmanager
def sf_wsgi_server(
    sf: Any,  # noqa: F811
    protocol: str,
    certs: Certs | None,
) -> Iterator[int]:
    """``ThriftWSGIApp`` under Swordfish's wsgiref server (threaded), HTTPS with ``certs``."""
    _, sf_handler = sf
    from swordfish import tls
    from swordfish.web import ThriftWSGIApp
    from swordfish.web.serving import wsgi_server

    filters = [_echo_headers("threadpool")] if protocol.startswith("header") else []
    app = ThriftWSGIApp(
        sf_handler.thrift_test.ThriftTest, sf_handler.Handler(), protocol=protocol, filters=filters
    )
    context = None if certs is None else tls.server_context(certs.server_cert, certs.server_key)
    server = wsgi_server(app, "127.0.0.1", 0, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(20)


@pytest.mark.parametrize(("protocol", "tls", "server"), HTTP_SERVER_ROWS)
def test_apache_http_client_to_sf(
    protocol: str,
    tls: bool,
    server: str,
    apache: Path,
    certs: Certs,
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``THttpClient("https://...", ssl_context=...)`` (or http for the header row) ->
    Swordfish's WSGI app, or ``swordfish serve --transport http --ssl`` under uvicorn."""
    if server == "wsgi":
        with sf_wsgi_server(sf, protocol, certs if tls else None) as port:
            client = peer_argv("client", apache, protocol, "http", certs if tls else None, port)
            harness.run_client(client)
        return
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(THRIFT_TEST_IDL),
        "--service", "ThriftTest", "--handler", "tests.interop.sf_handler:Handler",
        "--host", "127.0.0.1", "--port", "0", "--protocol", protocol,
        "--transport", "http", "--server", "asyncio",
        "--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key,
    ]  # fmt: skip
    process = harness.ServerProcess(argv, tmp_path / "server.log", cwd=REPO_ROOT)
    try:
        process.wait_ready()
        assert ", tls" in process.output(), process.output()
        client = peer_argv("client", apache, protocol, "http", certs, process.port)
        harness.run_client(client, server=process)
    finally:
        process.stop()


@pytest.mark.parametrize(("protocol", "tls", "client"), HTTP_CLIENT_ROWS)
def test_sf_http_client_to_apache(
    protocol: str,
    tls: bool,
    client: str,
    apache: Path,
    certs: Certs,
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``HttpClient`` / ``AsyncHttpClient`` (with ``ssl_context`` for https) -> Apache's
    ``THttpServer`` (HTTPS through its own ``cert_file``/``key_file`` switch)."""
    argv = peer_argv("server", apache, protocol, "http", certs if tls else None)
    with harness.running_server(argv, tmp_path / "apache.log") as server:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{server.port}/thrift"
        sf_client_checks(sf, client, (url, 0), protocol, "http", certs if tls else None)


def test_apache_tls_client_refuses_an_untrusted_server(
    apache: Path,
    certs: Certs,
    sf: Any,  # noqa: F811
) -> None:
    """The TLS rows prove something: the same Apache client, trusting only the rogue
    certificate instead of the test CA, fails against the Swordfish server."""
    with sf_server(sf, "threadpool", "binary", "framed", certs) as port:
        argv = peer_argv("client", apache, "binary", "framed", certs, port)
        argv[argv.index("--cafile") + 1] = certs.rogue_cert
        with pytest.raises(AssertionError, match="client exited with"):
            harness.run_client(argv)


def test_apache_zlib_client_fails_against_a_plain_server(
    apache: Path,
    sf: Any,  # noqa: F811
) -> None:
    """The zlib rows prove something: the same Apache zlib client fails against a Swordfish
    server that expects plain framed binary."""
    with sf_server(sf, "asyncio", "binary", "framed", None) as port:
        with pytest.raises(AssertionError, match="client exited with"):
            harness.run_client(peer_argv("client", apache, "binary", "zlib", None, port))
