"""Swordfish and Node.js's ``thrift`` npm package speak ThriftTest to each other.

The Node side runs the programs in tests/interop/node/: ``server.js`` and ``client.js`` on the
npm ``thrift`` package pinned in node/package.json (installed by ``make node-peer``), with
ThriftTest code that Debian's ``thrift --gen js:node`` generates once per session. The Node
client runs a JavaScript port of the shared check table (node/thrifttest_checks.js, from
peers/thrifttest_checks.py); Swordfish clients run the Python table itself.

- ``test_node_client_to_swordfish_servers``: Node clients against an in-process ``threaded``
  server and an in-process asyncio server at once (``tls`` cases: server-side TLS for the
  first, mutual TLS for the second). HTTP is served by ``swordfish serve --transport http``
  (``--server threaded``; ``tls`` cases: ``--server asyncio`` with mutual TLS).
- ``test_swordfish_clients_to_node_server``: the blocking ``Client`` and the ``AsyncClient``
  (over HTTP: ``make_client``'s ``HttpClient``) against one Node server (mutual TLS in
  ``tls`` cases).
- ``test_node_client_to_node_server``: the Node peers against each other: the reference for
  THeader, and THeader over HTTP(S), which Swordfish does not speak.
- ``test_node_tls_rejections`` and ``test_node_client_detects_wrong_answers``: the TLS checks
  and the Node check table do fail when they should.

Differences that are the Node library's are pinned as exact expectations
(``NODE_SERVER_KNOWN_FAILURES``, the Node client's ``--no-signed-zero`` and
``--generic-error-type``), so that a fixed release shows up: its ``writeDouble`` drops the
sign of -0.0 (``v < 0`` is false for it; JSON prints it as ``0``), and
``TApplicationException.write`` never writes the ``type`` field (it reads ``this.code``), so
every application error from a Node server arrives as UNKNOWN (0). Two more are worked
around inside the peers (see node/client.js and node/server.js): the generated client never
writes THeader frames by itself, and the library's HTTP server never answers a oneway POST.

A machine without node, npm's ``thrift`` or the ``thrift`` compiler skips these tests, and
fails them under ``CI=true`` (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.interop import harness
from tests.interop.harness import NODE_DIR, NODE_MODULES, THRIFT_TEST_IDL
from tests.interop.peers.thrifttest_checks import run_checks, run_uuid_checks
from tests.tls_certs import Certs, make_certs

# -- the matrix ---------------------------------------------------------------------------------


def cases(
    protocols: tuple[str, ...], transports: tuple[str, ...], security: tuple[str, ...]
) -> list[Any]:
    """pytest params ``(protocol, transport, security)``, id ``protocol-transport-security``;
    security is ``plain`` or ``tls``."""
    return [
        pytest.param(p, t, s, id=f"{p}-{t}-{s}")
        for p in protocols
        for t in transports
        for s in security
    ]


#: The cases both Node and Swordfish speak. Node's library has no zlib transform, so the
#: "zlib" transport and THeader transforms have no Node case.
CASES = cases(
    ("binary", "compact", "json", "header", "header-compact"),
    ("buffered", "framed", "http"),
    ("plain", "tls"),
)

#: Node client against Node server: the reference for THeader and THeader over HTTP(S) (if a
#: pair passes here and fails against Swordfish, the fault is Swordfish's).
NODE_PAIR_CASES = [
    *cases(("header",), ("buffered",), ("plain",)),
    *cases(("header-compact",), ("framed",), ("plain",)),
    *cases(("header",), ("http",), ("plain",)),
    *cases(("header-compact",), ("http",), ("tls",)),
]

#: What the Python check table reports against a Node server, and why; each must occur (so
#: a fixed Node release fails here and says to drop the entry), and nothing else may.
NODE_SERVER_KNOWN_FAILURES = {
    r"testDouble\(-0\.0\): returned 0\.0 \(float\), want -0\.0": (
        "node thrift writeDouble drops the sign of -0.0"
    ),
    r"testException\('TException'\): type=(0|<\w+\.UNKNOWN: 0>) \(want 6\)": (
        "node thrift TApplicationException.write omits the type field (reads this.code)"
    ),
    r"testUuid\(UUID\('[0-9a-f-]+'\)\): type=(0|<\w+\.UNKNOWN: 0>) \(want 1\)": (
        "node thrift TApplicationException.write omits the type field (reads this.code)"
    ),
}

#: The Node client's options against a Swordfish server: Node cannot send -0.0 (see above).
NODE_CLIENT_TO_SWORDFISH = ["--no-signed-zero"]
#: ...and against the Node server, where application errors arrive as type 0. Over JSON also
#: NODE_JSON_TO_NODE: Node's JSON writer prints NaN/Infinity bare and its own reader refuses
#: them (Swordfish reads them: Node to Node only).
NODE_CLIENT_TO_NODE = ["--no-signed-zero", "--generic-error-type", "0"]
NODE_JSON_TO_NODE = ["--finite-doubles-only"]


def _pinned_thrift_version() -> str:
    package = json.loads((NODE_DIR / "package.json").read_text())
    version: str = package["dependencies"]["thrift"]
    return version


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node(require: Any) -> str:
    """The ``node`` binary, once the pinned npm ``thrift`` is installed beside the peers."""
    path: str = require.binary("node")
    want = _pinned_thrift_version()
    installed = NODE_MODULES / "thrift" / "package.json"
    have = json.loads(installed.read_text())["version"] if installed.is_file() else "nothing"
    # The conftest hook turns these skips into failures under CI=true.
    if have != want:
        pytest.skip(
            f"missing dependency: npm package thrift@{want} in {NODE_MODULES} (found {have}); "
            "run `make node-peer` (npm ci --prefix tests/interop/node)"
        )
    # thrift 0.24 require()s uuid 14, an ES module: Node >= 20.19 loads that, older ones fail.
    done = subprocess.run(
        [path, "-e", "require('thrift')"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"missing dependency: a node that loads npm thrift@{want} (see node/package.json "
            f"engines); {path} failed:\n{done.stderr[-2000:]}"
        )
    return path


@pytest.fixture(scope="session")
def node_gen_dir(tmp_path_factory: pytest.TempPathFactory, require: Any, node: str) -> Path:
    """ThriftTest for Node, generated by Debian's compiler (0.17: no uuid, see harness)."""
    compiler = require.binary("thrift")
    root = tmp_path_factory.mktemp("node-gen")
    idl = root / "ThriftTest.thrift"
    idl.write_text(harness.idl_for_old_peers(THRIFT_TEST_IDL.read_text()))
    out = root / "gen"
    out.mkdir()
    done = subprocess.run(
        [compiler, "--gen", "js:node", "-out", str(out), str(idl)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"thrift --gen js:node failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "ThriftTest.js").is_file() and (out / "ThriftTest_types.js").is_file()
    # The generated files require('thrift') from their own directory (see node/common.js).
    (out / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    return out


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("node-tls-certs"))


@pytest.fixture(scope="session")
def sf() -> Any:
    import swordfish
    from tests.interop import sf_handler

    return swordfish, sf_handler


NodeArgv = Callable[..., list[str]]
T = TypeVar("T")


@pytest.fixture
def node_argv(node: str, node_gen_dir: Path) -> NodeArgv:
    """``node_argv(role, protocol, transport, port=0, extra=[...])``."""

    def make(
        role: str, protocol: str, transport: str, port: int = 0, extra: list[str] | None = None
    ) -> list[str]:
        return harness.node_peer_argv(
            role, protocol, transport, node=node, gen_dir=node_gen_dir, port=port, extra=extra
        )

    return make


# -- TLS options of each side -------------------------------------------------------------------


def node_client_tls(certs: Certs, *, mutual: bool) -> list[str]:
    flags = ["--ssl", "--cafile", certs.ca]
    return flags + (
        ["--certfile", certs.client_cert, "--keyfile", certs.client_key] if mutual else []
    )


def node_server_tls(certs: Certs, *, mutual: bool) -> list[str]:
    flags = ["--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    return flags + (["--cafile", certs.ca, "--require-client-cert"] if mutual else [])


def cli_server_tls(certs: Certs, *, mutual: bool) -> list[str]:
    flags = ["--ssl", "--certfile", certs.server_cert, "--keyfile", certs.server_key]
    return flags + (["--cafile", certs.ca, "--require-client-cert"] if mutual else [])


# -- Swordfish servers --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """A Swordfish server a Node client is pointed at."""

    name: str
    port: int
    process: harness.ServerProcess | None  # None: in-process
    mutual: bool  # requires a client certificate (tls rows only)


@pytest.fixture(scope="module")
def aio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a background thread, for the in-process asyncio server and
    the AsyncClient (the test thread blocks on them through ``on_loop``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="node-interop-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def on_loop(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float = 60
) -> T:
    """Run ``coro`` on ``loop`` (another thread) and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=timeout)


def server_tls_context(certs: Certs, *, mutual: bool) -> ssl.SSLContext:
    from swordfish import tls

    if mutual:
        return tls.server_context(certs.server_cert, certs.server_key, certs.ca, True)
    return tls.server_context(certs.server_cert, certs.server_key)


@contextlib.contextmanager
def threaded_server(
    sf: Any, protocol: str, transport: str, ssl_context: ssl.SSLContext | None
) -> Iterator[int]:
    """An in-process ``model="threaded"`` server."""
    swordfish, sf_handler = sf
    server = swordfish.make_server(
        sf_handler.thrift_test.ThriftTest,
        sf_handler.Handler(),
        host="127.0.0.1",
        port=0,
        protocol=protocol,
        transport=transport,
        model="threaded",
        ssl_context=ssl_context,
    )
    server.start()
    try:
        yield server.port
    finally:
        server.stop(timeout=5)


@contextlib.contextmanager
def asyncio_server(
    sf: Any,
    loop: asyncio.AbstractEventLoop,
    protocol: str,
    transport: str,
    ssl_context: ssl.SSLContext | None,
) -> Iterator[int]:
    """An in-process ``AsyncServer`` on ``loop`` (the handler is plain: run in its threads)."""
    swordfish, sf_handler = sf
    server = on_loop(
        loop,
        swordfish.make_aio_server(
            sf_handler.thrift_test.ThriftTest,
            sf_handler.Handler(),
            host="127.0.0.1",
            port=0,
            protocol=protocol,
            transport=transport,
            ssl_context=ssl_context,
        ),
    )
    try:
        yield server.port
    finally:
        on_loop(loop, server.stop(5))


def cli_server_argv(
    protocol: str, transport: str, security: str, certs: Certs, *, model: str, mutual: bool
) -> list[str]:
    """``swordfish serve --server MODEL``, with TLS in ``tls`` rows."""
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(THRIFT_TEST_IDL),
        "--service", "ThriftTest", "--handler", "tests.interop.sf_handler:Handler",
        "--host", "127.0.0.1", "--port", "0",
        "--protocol", protocol, "--transport", transport, "--server", model,
    ]  # fmt: skip
    return argv + (cli_server_tls(certs, mutual=mutual) if security == "tls" else [])


@contextlib.contextmanager
def swordfish_servers(
    sf: Any,
    loop: asyncio.AbstractEventLoop,
    protocol: str,
    transport: str,
    security: str,
    certs: Certs,
    tmp_path: Path,
) -> Iterator[list[Target]]:
    """The Swordfish servers of one row.

    Raw TCP rows: an in-process ``threaded`` server (server-side TLS in ``tls`` rows) and an
    in-process asyncio server (mutual TLS), both served at once. HTTP rows (``make_server``
    serves raw TCP only): ``swordfish serve --transport http``, ``--server threaded`` in
    ``plain`` rows and ``--server asyncio`` with mutual TLS in ``tls`` rows.
    """
    tls = security == "tls"
    if transport == "http":
        model = "asyncio" if tls else "threaded"
        argv = cli_server_argv(protocol, transport, security, certs, model=model, mutual=tls)
        with harness.running_server(argv, tmp_path / "server.log") as process:
            if tls:
                assert ", tls)" in process.output(), process.output()
            yield [Target(f"`swordfish serve --server {model}`", process.port, process, tls)]
        return
    with contextlib.ExitStack() as stack:
        threaded_ctx = server_tls_context(certs, mutual=False) if tls else None
        asyncio_ctx = server_tls_context(certs, mutual=True) if tls else None
        threaded_port = stack.enter_context(threaded_server(sf, protocol, transport, threaded_ctx))
        asyncio_port = stack.enter_context(
            asyncio_server(sf, loop, protocol, transport, asyncio_ctx)
        )
        yield [
            Target("in-process threaded", threaded_port, None, False),
            Target("in-process asyncio", asyncio_port, None, tls),
        ]


def run_clients_concurrently(
    jobs: dict[str, tuple[list[str], harness.ServerProcess | None]],
) -> None:
    """Run several client programs at once; fail with every failing one's report."""
    errors: dict[str, BaseException] = {}

    def run(name: str, argv: list[str], server: harness.ServerProcess | None) -> None:
        try:
            harness.run_client(argv, server=server)
        except BaseException as exc:  # reported from the test thread
            errors[name] = exc

    threads = [
        threading.Thread(target=run, args=(name, argv, server))
        for name, (argv, server) in jobs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AssertionError(
            "\n\n".join(f"=== against the {name} server ===\n{exc}" for name, exc in errors.items())
        )


# -- Node client -> Swordfish servers -----------------------------------------------------------


@pytest.mark.parametrize(("protocol", "transport", "security"), CASES)
def test_node_client_to_swordfish_servers(
    protocol: str,
    transport: str,
    security: str,
    node_argv: NodeArgv,
    sf: Any,
    aio_loop: asyncio.AbstractEventLoop,
    certs: Certs,
    tmp_path: Path,
) -> None:
    with swordfish_servers(sf, aio_loop, protocol, transport, security, certs, tmp_path) as targets:
        jobs: dict[str, tuple[list[str], harness.ServerProcess | None]] = {}
        for target in targets:
            extra = list(NODE_CLIENT_TO_SWORDFISH)
            if security == "tls":
                extra += node_client_tls(certs, mutual=target.mutual)
            argv = node_argv("client", protocol, transport, port=target.port, extra=extra)
            jobs[target.name] = (argv, target.process)
        run_clients_concurrently(jobs)


# -- Swordfish clients -> Node server -----------------------------------------------------------


def check_against_node(client: Any, tt: Any, app_exc: type[BaseException]) -> list[str]:
    """The Python check table (and testUuid: the Node code has no such method) against a Node
    server; returns the failures that are not NODE_SERVER_KNOWN_FAILURES, and a line for each
    known failure that did not happen."""
    failures = run_checks(client, tt, app_exc)
    failures += run_uuid_checks(client, tt, app_exc, server_has_uuid=False)
    unexpected = [
        f for f in failures if not any(re.fullmatch(p, f) for p in NODE_SERVER_KNOWN_FAILURES)
    ]
    missing = [
        f"known Node difference did not happen (fixed? drop it from NODE_SERVER_KNOWN_FAILURES):"
        f" {pattern} ({why})"
        for pattern, why in NODE_SERVER_KNOWN_FAILURES.items()
        if not any(re.fullmatch(pattern, f) for f in failures)
    ]
    return unexpected + missing


class BlockingAsyncClient:
    """The blocking call shape of the shared check table over an ``AsyncClient`` running on
    its own event loop thread: ``client.testI32(1)`` waits for the coroutine's result."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return on_loop(self._loop, method(*args, **kwargs))

        return call


@contextlib.contextmanager
def async_client(
    sf: Any, loop: asyncio.AbstractEventLoop, **options: Any
) -> Iterator[BlockingAsyncClient]:
    swordfish, sf_handler = sf
    client = on_loop(loop, swordfish.make_aio_client(sf_handler.thrift_test.ThriftTest, **options))
    try:
        yield BlockingAsyncClient(client, loop)
    finally:
        on_loop(loop, client.close())


@pytest.mark.parametrize(("protocol", "transport", "security"), CASES)
def test_swordfish_clients_to_node_server(
    protocol: str,
    transport: str,
    security: str,
    node_argv: NodeArgv,
    sf: Any,
    aio_loop: asyncio.AbstractEventLoop,
    certs: Certs,
    tmp_path: Path,
) -> None:
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    from swordfish import tls

    extra = node_server_tls(certs, mutual=True) if security == "tls" else []
    options: dict[str, Any] = {"protocol": protocol, "transport": transport, "timeout": 20.0}
    if security == "tls":
        options["ssl_context"] = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
    argv = node_argv("server", protocol, transport, extra=extra)
    with harness.running_server(argv, tmp_path / "node-server.log") as server:
        report: list[str] = []
        with swordfish.make_client(tt.ThriftTest, "127.0.0.1", server.port, **options) as client:
            report += [
                f"Client: {f}"
                for f in check_against_node(client, tt, swordfish.TApplicationException)
            ]
        if transport != "http":  # AsyncClient speaks raw Thrift over TCP only
            with async_client(
                sf, aio_loop, host="127.0.0.1", port=server.port, **options
            ) as aclient:
                report += [
                    f"AsyncClient: {f}"
                    for f in check_against_node(aclient, tt, swordfish.TApplicationException)
                ]
        assert not report, "\n".join(report) + f"\n--- node server ---\n{server.output()}"


# -- TLS is checked, both ways ------------------------------------------------------------------


def test_node_tls_rejections(node_argv: NodeArgv, sf: Any, certs: Certs, tmp_path: Path) -> None:
    """A Node client that does not trust the server's CA is refused by a Swordfish TLS server
    (the check table never runs); a Swordfish client without a certificate is refused by a
    Node server that requires one, and that server still serves the next client."""
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    from swordfish import tls
    from swordfish.errors import TransportError

    with threaded_server(sf, "binary", "framed", server_tls_context(certs, mutual=False)) as port:
        extra = ["--ssl", "--cafile", certs.rogue_cert, *NODE_CLIENT_TO_SWORDFISH]
        with pytest.raises(AssertionError, match="client exited with 1"):
            harness.run_client(node_argv("client", "binary", "framed", port=port, extra=extra))

    argv = node_argv("server", "binary", "framed", extra=node_server_tls(certs, mutual=True))
    with harness.running_server(argv, tmp_path / "node-server.log") as server:
        opts: dict[str, Any] = {"transport": "framed", "timeout": 10.0}
        no_cert = tls.client_context(certs.ca)
        with swordfish.make_client(
            tt.ThriftTest, port=server.port, ssl_context=no_cert, **opts
        ) as c:
            with pytest.raises(TransportError):
                c.testI32(1)
        good = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
        with swordfish.make_client(tt.ThriftTest, port=server.port, ssl_context=good, **opts) as c:
            assert c.testI32(7) == 7
        assert "TLS handshake failed" in server.output(), server.output()


# -- Node client -> Node server (the peer programs themselves) ----------------------------------


@pytest.mark.parametrize(("protocol", "transport", "security"), NODE_PAIR_CASES)
def test_node_client_to_node_server(
    protocol: str, transport: str, security: str, node_argv: NodeArgv, certs: Certs, tmp_path: Path
) -> None:
    """The Node peers agree with each other and with the check table (the reference for the
    THeader cases, and THeader over HTTP(S), which only Node speaks); over TLS the server
    requires a client certificate."""
    server_extra = node_server_tls(certs, mutual=True) if security == "tls" else []
    client_extra = list(NODE_CLIENT_TO_NODE)
    if protocol == "json":
        client_extra += NODE_JSON_TO_NODE
    if security == "tls":
        client_extra += node_client_tls(certs, mutual=True)
    argv = node_argv("server", protocol, transport, extra=server_extra)
    with harness.running_server(argv, tmp_path / "node-server.log") as server:
        client = node_argv("client", protocol, transport, port=server.port, extra=client_extra)
        harness.run_client(client, server=server)


def test_node_client_detects_wrong_answers(node_argv: NodeArgv, sf: Any) -> None:
    """The Node client does fail on a wrong answer: against a Swordfish server (type 6) it is
    told to expect the Node server's TApplicationException type 0, and says exactly that."""
    with threaded_server(sf, "compact", "buffered", None) as port:
        extra = [*NODE_CLIENT_TO_SWORDFISH, "--generic-error-type", "0"]
        argv = node_argv("client", "compact", "buffered", port=port, extra=extra)
        with pytest.raises(AssertionError) as info:
            harness.run_client(argv)
    message = str(info.value)
    assert "client exited with 1" in message
    assert "1 check(s) failed" in message
    assert 'testException("TException"): type=6 (want 0)' in message
