"""THeader interop with Apache's Python THeaderProtocol/THeaderTransport, both directions.

Every combination of binary/compact inside, with and without the zlib transform, over
"buffered" (header frames straight on the socket), "framed" (framed twice: Apache's
THeaderTransport over TFramedTransport) and "zlib" (over TZlibTransport), runs the shared
ThriftTest check table. Info headers are checked both ways on every call: each side echoes
the other's headers back (see peers/apache_header_common.py), and a Swordfish filter
verifies what came back on each reply. A Swordfish header server also serves Apache's plain
(non-header) clients, and a Swordfish plain client is served by Apache's header server.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop import harness
from tests.interop.harness import PEERS_DIR, THRIFT_TEST_IDL
from tests.interop.peers.apache_header_common import EXPECTED_REPLY, HEADERS
from tests.interop.peers.thrifttest_checks import run_checks, run_uuid_checks

INNER = ("binary", "compact")
CARRIERS = ("buffered", "framed", "zlib")
COMBOS = [
    pytest.param(inner, carrier, zipped, id=f"{inner}-{carrier}{'-ztransform' if zipped else ''}")
    for inner in INNER
    for carrier in CARRIERS
    for zipped in (False, True)
]
#: What an Apache header server answers a Swordfish client's headers with.
SF_HEADERS = {"client": "swordfish", "ключ": "значение"}
APACHE_REPLY = {"peer": "apache", **{f"echo-{k}": v for k, v in SF_HEADERS.items()}}


def _protocol(inner: str) -> str:
    return "header" if inner == "binary" else "header-compact"


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory, require: Any) -> Path:
    require.module("thrift")
    compiler = require.binary("thrift")
    idl = tmp_path_factory.mktemp("idl") / "ThriftTest.thrift"
    idl.write_text(harness.idl_for_old_peers(THRIFT_TEST_IDL.read_text()))
    out = tmp_path_factory.mktemp("apache-gen")
    done = subprocess.run(
        [compiler, "--gen", "py", "-out", str(out), str(idl)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"thrift --gen py failed:\n{done.stdout}\n{done.stderr}"
    return out


def _peer(
    role: str, gen_dir: Path, inner: str, carrier: str, zipped: bool, port: int = 0
) -> list[str]:
    argv = [
        sys.executable, str(PEERS_DIR / f"apache_header_{role}.py"),
        "--gen-dir", str(gen_dir), "--inner", inner, "--transport", carrier, "--port", str(port),
    ]  # fmt: skip
    if zipped:
        argv.append("--zlib")
    if role == "client":
        argv.append("--verbose")
    return argv


@pytest.fixture(scope="module")
def sf() -> Any:
    import swordfish
    from tests.interop import sf_handler

    return swordfish, sf_handler


def _echo_filter(swordfish: Any) -> Any:
    """Server side: every reply carries the call's headers prefixed ``echo-`` and
    ``server: swordfish`` (set before the call runs, so failures carry them too)."""
    from swordfish.rpc import Filter

    class EchoHeaders(Filter):  # type: ignore[type-arg]
        role = "echo-headers"
        description = "interop: echo the call's info headers on the reply"

        def __call__(self, request: Any, service: Any) -> Any:
            for key, value in request.headers.items():
                request.context.set_reply_header(f"echo-{key}", value)
            request.context.set_reply_header("server", "swordfish")
            return service(request)

    return EchoHeaders()


def _recording_filter(replies: list[dict[str, str] | None]) -> Any:
    """Client side: records the reply headers of every call."""
    from swordfish.rpc import Filter

    class Record(Filter):  # type: ignore[type-arg]
        role = "record"
        description = "interop: record reply headers"

        def __call__(self, request: Any, service: Any) -> Any:
            try:
                return service(request)
            finally:
                replies.append(request.context.reply_headers)

    return Record()


@contextlib.contextmanager
def swordfish_server(sf: Any, protocol: str, carrier: str, **kw: Any) -> Iterator[int]:
    swordfish, sf_handler = sf
    server = swordfish.make_server(
        sf_handler.thrift_test.ThriftTest,
        sf_handler.Handler(),
        host="127.0.0.1",
        port=0,
        protocol=protocol,
        transport=carrier,
        model="threadpool",
        filters=[_echo_filter(swordfish)],
        **kw,
    )
    server.start()
    try:
        yield server.port
    finally:
        server.stop(timeout=5)


def swordfish_checks(
    sf: Any,
    port: int,
    protocol: str,
    carrier: str,
    zipped: bool,
    *,
    expect: dict[str, str] | None,
    server_has_uuid: bool,
) -> None:
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    replies: list[dict[str, str] | None] = []
    client = swordfish.make_client(
        tt.ThriftTest,
        "127.0.0.1",
        port,
        protocol=protocol,
        transport=carrier,
        timeout=10.0,
        headers=SF_HEADERS if expect is not None else None,
        header_transforms=("zlib",) if zipped else (),
        filters=[_recording_filter(replies)],
    )
    try:
        failures = run_checks(client, tt, swordfish.TApplicationException)
        failures += run_uuid_checks(
            client, tt, swordfish.TApplicationException, server_has_uuid=server_has_uuid
        )
    finally:
        client.close()
    assert not failures, f"{len(failures)} check(s) failed:\n" + "\n".join(failures)
    if expect is None:
        return
    # Every reply (oneway calls have none) carried the headers the server echoes.
    got = [r for r in replies if r is not None]
    assert len(got) >= 50, len(got)
    bad = [r for r in got if r != expect]
    assert not bad, f"{len(bad)} of {len(got)} replies had other headers, e.g. {bad[0]!r}"


@pytest.mark.parametrize(("inner", "carrier", "zipped"), COMBOS)
def test_apache_client_to_swordfish_server(
    inner: str, carrier: str, zipped: bool, gen_dir: Path, sf: Any
) -> None:
    with swordfish_server(sf, _protocol(inner), carrier) as port:
        harness.run_client(_peer("client", gen_dir, inner, carrier, zipped, port))


@pytest.mark.parametrize(("inner", "carrier", "zipped"), COMBOS)
def test_swordfish_client_to_apache_server(
    inner: str, carrier: str, zipped: bool, gen_dir: Path, sf: Any, tmp_path: Path
) -> None:
    argv = _peer("server", gen_dir, inner, carrier, zipped)
    with harness.running_server(argv, tmp_path / "server.log") as server:
        swordfish_checks(
            sf,
            server.port,
            _protocol(inner),
            carrier,
            zipped,
            expect=APACHE_REPLY,
            server_has_uuid=False,
        )


@pytest.mark.parametrize("protocol", ["header", "header-compact"])
@pytest.mark.parametrize("carrier", CARRIERS)
def test_swordfish_both_ends_over_header(protocol: str, carrier: str, sf: Any) -> None:
    """The check table over header, Swordfish at both ends (testUuid included)."""
    expect = {"server": "swordfish", **{f"echo-{k}": v for k, v in SF_HEADERS.items()}}
    with swordfish_server(sf, protocol, carrier) as port:
        swordfish_checks(sf, port, protocol, carrier, True, expect=expect, server_has_uuid=True)


@pytest.mark.parametrize("protocol", ["binary", "compact"])
@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_apache_plain_client_to_swordfish_header_server(
    protocol: str, transport: str, gen_dir: Path, sf: Any, tmp_path: Path, require: Any
) -> None:
    """Non-header Apache clients are detected and answered in their own format."""
    with swordfish_server(sf, "header", "buffered") as port:
        argv = [
            sys.executable, str(PEERS_DIR / "apache_client.py"), "--gen-dir", str(gen_dir),
            "--protocol", protocol, "--transport", transport, "--port", str(port), "--verbose",
        ]  # fmt: skip
        harness.run_client(argv)


@pytest.mark.parametrize("protocol", ["binary", "compact"])
@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_swordfish_plain_client_to_apache_header_server(
    protocol: str, transport: str, gen_dir: Path, sf: Any, tmp_path: Path
) -> None:
    argv = _peer("server", gen_dir, "binary", "buffered", False)
    with harness.running_server(argv, tmp_path / "server.log") as server:
        swordfish_checks(
            sf, server.port, protocol, transport, False, expect=None, server_has_uuid=False
        )


def test_expected_headers_are_what_the_peers_send() -> None:
    """The two tables the peers and this file share agree with each other."""
    assert EXPECTED_REPLY == {"server": "swordfish", **{f"echo-{k}": v for k, v in HEADERS.items()}}
