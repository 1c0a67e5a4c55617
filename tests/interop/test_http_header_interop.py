"""THeader over HTTP with Apache Thrift's Python library, both directions.

- Apache's ``THeaderProtocol`` over ``THeaderTransport(THttpClient)`` (a peer subprocess,
  ``peers/apache_http_header_client.py``) runs the shared ThriftTest check table against
  Swordfish's WSGI app (under wsgiref) and ASGI app (under uvicorn), binary and compact
  inside, with and without the zlib transform. Info headers are checked both ways on every
  call: the apps echo the call's headers (a filter), the peer checks every reply.
- Swordfish's ``HttpClient`` and ``AsyncHttpClient`` with ``protocol="header"`` /
  ``"header-compact"`` run the check table against Apache's ``THttpServer`` with a
  ``THeaderProtocolFactory`` (``peers/apache_http_header_server.py``). Stock Apache answers
  with header frames that carry no info headers and no transform (its HTTP server builds the
  reply's protocol apart from the call's); the peer's ``--echo`` glue shows that headers and
  deflated replies written by Apache's ``THeaderTransport`` are read by our clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop import harness
from tests.interop.harness import PEERS_DIR
from tests.interop.peers.apache_header_common import EXPECTED_REPLY, HEADERS
from tests.interop.peers.thrifttest_checks import run_checks, run_uuid_checks

# The generated Apache code and the Swordfish modules, from the TCP THeader interop module.
from tests.interop.test_header_interop import gen_dir, sf  # noqa: F401
from tests.interop.test_http_interop import _Blocking
from tests.web.http_servers import uvicorn_thread, wsgiref_server

INNER = ("binary", "compact")
#: What our clients send, and what the Apache peer's --echo glue answers with.
SF_HEADERS = {"client": "swordfish", "ключ": "значение"}
APACHE_REPLY = {"peer": "apache", **{f"echo-{k}": v for k, v in SF_HEADERS.items()}}


def _protocol(inner: str) -> str:
    return "header" if inner == "binary" else "header-compact"


def _echo(request: Any) -> None:
    for key, value in request.headers.items():
        request.context.set_reply_header(f"echo-{key}", value)
    request.context.set_reply_header("server", "swordfish")


def _filters(kind: str) -> list[Any]:
    """Server side: every reply carries the call's headers prefixed ``echo-`` and
    ``server: swordfish`` (what the Apache peer expects: ``EXPECTED_REPLY``)."""
    from swordfish.rpc import AsyncFilter, Filter

    class Echo(Filter):  # type: ignore[type-arg]
        role = "echo-headers"
        description = "interop: echo the call's info headers on the reply"

        def __call__(self, request: Any, service: Any) -> Any:
            _echo(request)
            return service(request)

    class AsyncEcho(AsyncFilter):  # type: ignore[type-arg]
        role = "echo-headers"
        description = "interop: echo the call's info headers on the reply"

        async def __call__(self, request: Any, service: Any) -> Any:
            _echo(request)
            return await service(request)

    return [Echo() if kind == "wsgi" else AsyncEcho()]


@contextlib.contextmanager
def swordfish_app(sf: Any, kind: str, protocol: str) -> Iterator[int]:  # noqa: F811
    from swordfish.web import ThriftASGIApp, ThriftWSGIApp

    _, sf_handler = sf
    cls = ThriftWSGIApp if kind == "wsgi" else ThriftASGIApp
    app = cls(
        sf_handler.thrift_test.ThriftTest,
        sf_handler.Handler(),
        protocol=protocol,
        filters=_filters(kind),
    )
    server = wsgiref_server(app) if kind == "wsgi" else uvicorn_thread(app)  # type: ignore[arg-type]
    try:
        with server as port:
            yield port
    finally:
        app.close()


def _client_argv(gen_dir: Path, inner: str, zipped: bool, port: int) -> list[str]:  # noqa: F811
    argv = [
        sys.executable, str(PEERS_DIR / "apache_http_header_client.py"), "--gen-dir", str(gen_dir),
        "--inner", inner, "--port", str(port), "--verbose",
    ]  # fmt: skip
    return [*argv, "--zlib"] if zipped else argv


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "ztransform"])
@pytest.mark.parametrize("inner", INNER)
@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_apache_header_http_client_to_swordfish_app(
    kind: str,
    inner: str,
    zipped: bool,
    gen_dir: Path,  # noqa: F811
    sf: Any,  # noqa: F811
) -> None:
    with swordfish_app(sf, kind, _protocol(inner)) as port:
        harness.run_client(_client_argv(gen_dir, inner, zipped, port))


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_apache_compact_client_to_a_binary_header_app(
    kind: str,
    gen_dir: Path,  # noqa: F811
    sf: Any,  # noqa: F811
) -> None:
    """The protocol id is per message: a "header" app answers a compact call in compact."""
    with swordfish_app(sf, kind, "header") as port:
        harness.run_client(_client_argv(gen_dir, "compact", True, port))


def _server_argv(gen_dir: Path, inner: str, *extra: str) -> list[str]:  # noqa: F811
    return [
        sys.executable, str(PEERS_DIR / "apache_http_header_server.py"), "--gen-dir",
        str(gen_dir), "--inner", inner, *extra,
    ]  # fmt: skip


def _recorders(replies: list[dict[str, str] | None]) -> tuple[Any, Any]:
    """Client side: filters (sync, async) recording the reply headers of every call."""
    from swordfish.rpc import AsyncFilter, Filter

    class Record(Filter):  # type: ignore[type-arg]
        role = "record"
        description = "interop: record reply headers"

        def __call__(self, request: Any, service: Any) -> Any:
            try:
                return service(request)
            finally:
                if not request.oneway:
                    replies.append(request.context.reply_headers)

    class AsyncRecord(AsyncFilter):  # type: ignore[type-arg]
        role = "record"
        description = "interop: record reply headers"

        async def __call__(self, request: Any, service: Any) -> Any:
            try:
                return await service(request)
            finally:
                if not request.oneway:
                    replies.append(request.context.reply_headers)

    return Record(), AsyncRecord()


def swordfish_http_checks(
    sf: Any,  # noqa: F811
    port: int,
    protocol: str,
    flavour: str,
    zipped: bool,
) -> list[dict[str, str] | None]:
    """Runs the check table with our HTTP client; returns every reply's info headers."""
    swordfish, sf_handler = sf
    tt = sf_handler.thrift_test
    url = f"http://127.0.0.1:{port}/thrift"
    app_exc = swordfish.TApplicationException
    replies: list[dict[str, str] | None] = []
    record, arecord = _recorders(replies)
    options: dict[str, Any] = {
        "transport": "http",
        "protocol": protocol,
        "timeout": 10.0,
        "headers": SF_HEADERS,
        "header_transforms": ("zlib",) if zipped else (),
    }
    if flavour == "sync":
        with swordfish.make_client(tt.ThriftTest, url, filters=[record], **options) as client:
            failures = run_checks(client, tt, app_exc)
            failures += run_uuid_checks(client, tt, app_exc, server_has_uuid=False)
    else:
        loop = asyncio.new_event_loop()
        try:
            aclient = loop.run_until_complete(
                swordfish.make_aio_client(tt.ThriftTest, url, filters=[arecord], **options)
            )
            blocking = _Blocking(aclient, loop)
            failures = run_checks(blocking, tt, app_exc)
            failures += run_uuid_checks(blocking, tt, app_exc, server_has_uuid=False)
            loop.run_until_complete(aclient.close())
        finally:
            loop.close()
    assert not failures, f"{len(failures)} check(s) failed:\n" + "\n".join(failures)
    assert len(replies) >= 50, len(replies)
    return replies


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "ztransform"])
@pytest.mark.parametrize("inner", INNER)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_swordfish_header_http_client_to_apache_thttpserver(
    flavour: str,
    inner: str,
    zipped: bool,
    gen_dir: Path,  # noqa: F811
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With the peer's --echo glue: Apache's header frames carry info headers to our client
    (and, with --zlib, deflated replies)."""
    extra = ["--echo", *(["--zlib"] if zipped else [])]
    with harness.running_server(_server_argv(gen_dir, inner, *extra), tmp_path / "log") as srv:
        replies = swordfish_http_checks(sf, srv.port, _protocol(inner), flavour, zipped)
    bad = [r for r in replies if r != APACHE_REPLY]
    assert not bad, f"{len(bad)} of {len(replies)} replies had other headers, e.g. {bad[0]!r}"


@pytest.mark.parametrize("protocol", ["header", "header-compact"])
def test_swordfish_header_http_client_to_stock_apache_thttpserver(
    protocol: str,
    gen_dir: Path,  # noqa: F811
    sf: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Stock ``THttpServer`` + ``THeaderProtocolFactory`` (binary by default): every call works,
    compact and deflated ones included; its replies are binary header frames without info
    headers (the engine reads the protocol id of each reply)."""
    with harness.running_server(_server_argv(gen_dir, "binary"), tmp_path / "log") as srv:
        replies = swordfish_http_checks(sf, srv.port, protocol, "sync", zipped=True)
    assert all(r == {} for r in replies), [r for r in replies if r != {}][:1]


def test_expected_headers_are_what_the_peers_send() -> None:
    assert EXPECTED_REPLY == {"server": "swordfish", **{f"echo-{k}": v for k, v in HEADERS.items()}}
