"""``ThriftWSGIApp``: Thrift over HTTP as a WSGI application (gunicorn, wsgiref, uWSGI, ...).

    app = ThriftWSGIApp(calc.Calculator, CalcHandler())
    # gunicorn -w 4 --threads 8 myservice:app

Each POST carries one Thrift message (see ``swordfish.framing.http``); the app decodes it with
the sans-IO engine, runs it through the filter stack and the handler (the same ``Dispatcher``
rules as every Swordfish server) and answers with the reply message. The request path is
ignored, as Apache's servers ignore it: mount the app wherever you like.

HTTP answers:

- ``200`` with the reply message (``Content-Type: application/x-thrift``, or
  ``application/vnd.apache.thrift.json`` for JSON). Declared exceptions, handler failures
  (``TApplicationException(INTERNAL_ERROR)``) and unknown methods (``UNKNOWN_METHOD``, made by
  the engine) are Thrift answers too: ``200``.
- oneway calls: ``200`` with an empty body, sent *before* the handler runs. Once the server
  has written that response (WSGI's ``close()``), the call is handed to a small pool of
  ``oneway_threads`` threads, so the client's next call on the same keep-alive connection is
  not held up behind it. When every one of those threads is busy, the call runs in the
  request's own worker instead (backpressure: nothing queues without bound). A failure is
  only logged.
- ``405`` (with ``Allow: POST``) for any other method; ``411`` for a body without a length on
  a server that cannot delimit it; ``413`` for a declared length over
  ``Limits.max_frame_size``, without reading the body; ``415`` for a body labelled as another
  Thrift protocol; ``400`` for a malformed Content-Length, a body that ends early, or bytes
  that are not exactly one well-formed Thrift message. The app keeps serving after any of them.

THeader (``protocol="header"`` or ``"header-compact"``): each body is one THeader frame, as
Apache's ``THeaderTransport`` over ``THttpClient`` sends it. Handlers read the call's info
headers with ``swordfish.current_headers()`` (filters: ``request.headers``) and add reply
headers with ``swordfish.set_reply_header()``; a call sent with the zlib transform is answered
deflated (``header_transforms=("zlib",)`` deflates every reply). Such an endpoint also answers
plain binary and compact bodies (unframed or framed), in their own format.

Timeouts on reading a slow client's body are the WSGI server's (gunicorn's ``--timeout`` for
sync workers, its keep-alive for threaded ones); the app reads at most ``max_frame_size``
bytes whatever the client sends.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..limits import Limits
from ..rpc.filter import AnyFilter, Stack
from ..rpc.options import check_positive_int
from ..rpc.request import Request, Response
from ..rpc.service import AsyncService, Service
from ._http import (
    Answer,
    HttpEndpoint,
    make_request,
    parse_body,
    precheck,
    reply_body,
    too_large,
)

__all__ = ["ThriftWSGIApp"]

log = logging.getLogger("swordfish.web.wsgi")

_READ_CHUNK = 65536

StartResponse = Callable[..., Any]


class ThriftWSGIApp:
    """A WSGI app serving one Thrift service (or several, multiplexed) over HTTP.

    service, handler: a service class from ``swordfish.load()`` (or its ``ServiceSpec``) and
        an object with one plain method per IDL method, or a sync ``Service[Request,
        Response]`` used as the terminal. ``async def`` methods need ``ThriftASGIApp``.
    services: several services behind one URL instead (Apache's multiplexed protocol):
        ``{"Calc": (calc.Calculator, CalcHandler()), ...}``; clients send ``"Calc:add"``.
    protocol: "binary" (default), "compact" or "json": the one protocol this endpoint speaks;
        or "header" / "header-compact": THeader frames around binary / compact (plain binary
        and compact bodies are answered too; see the module docstring).
    limits: ``swordfish.Limits``; ``max_frame_size`` also bounds the request body.
    header_transforms: THeader only: transforms applied to every reply (``("zlib",)``);
        without it only calls that came deflated are answered deflated.
    filters: sync ``Filter``s (or a ``Stack``), outermost first, around the dispatcher. Each
        ``Request`` carries the HTTP request headers in ``context.attributes`` under
        ``swordfish.web.HTTP_HEADERS_KEY`` and the peer address in ``context.peer``.
    oneway_threads: threads that run oneway calls after their answer (see the module
        docstring); started on the first oneway call, so an app built before gunicorn forks
        its workers owns no thread.

    Options are checked here, so a mistake fails when the module defining the app is
    imported rather than on the first request.
    """

    def __init__(
        self,
        service: object = None,
        handler: object = None,
        *,
        services: Mapping[str, tuple[object, object]] | None = None,
        protocol: str = "binary",
        limits: Limits | None = None,
        header_transforms: Iterable[str] = (),
        filters: Iterable[AnyFilter] | Stack = (),
        oneway_threads: int = 4,
    ) -> None:
        self.endpoint = HttpEndpoint(
            service, handler, services, protocol, limits, header_transforms
        )
        self.protocol = self.endpoint.protocol
        self.limits = self.endpoint.limits
        for name, (spec, h) in self.endpoint.handlers.items():
            where = "" if name is None else f"services[{name!r}]: "
            if isinstance(h, AsyncService):
                raise TypeError(f"{where}an AsyncService handler needs ThriftASGIApp")
            asyncs = [
                m
                for m in spec.methods
                if not isinstance(h, Service) and inspect.iscoroutinefunction(getattr(h, m, None))
            ]
            if asyncs:
                raise TypeError(
                    f"{where}handler methods {', '.join(asyncs)} are async def: serve them "
                    "with swordfish.web.ThriftASGIApp (under uvicorn)"
                )
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        if self.stack.is_async:
            raise TypeError("ThriftWSGIApp takes sync Filters; AsyncFilters need ThriftASGIApp")
        self.service: Service[Request, Response] = self.stack.build(self.endpoint.sync_terminal())
        self.oneway_threads = check_positive_int("oneway_threads", oneway_threads)
        self._oneway_slots = threading.BoundedSemaphore(self.oneway_threads)
        self._oneway_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def run_oneway(self, request: Request) -> None:
        """Run a oneway call whose answer is out: in the oneway pool, or here if it is busy."""
        if not self._oneway_slots.acquire(blocking=False):
            self._run_oneway(request, release=False)
            return
        with self._pool_lock:
            if self._oneway_pool is None:
                self._oneway_pool = ThreadPoolExecutor(
                    self.oneway_threads, thread_name_prefix="swordfish-oneway"
                )
            pool = self._oneway_pool
        try:
            pool.submit(self._run_oneway, request, True)
        except RuntimeError:  # the pool was shut down (close()): run it here
            self._oneway_slots.release()
            self._run_oneway(request, release=False)

    def _run_oneway(self, request: Request, release: bool) -> None:
        try:
            self.service(request)
        except Exception:
            method = request.method
            log.exception("oneway %s.%s failed", method.service, method.name)
        finally:
            if release:
                self._oneway_slots.release()

    def close(self) -> None:
        """Stop the oneway pool (calls already handed to it still run)."""
        with self._pool_lock:
            pool, self._oneway_pool = self._oneway_pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one HTTP request (see the module docstring for every status)."""
        endpoint = self.endpoint
        answer, length = precheck(
            endpoint,
            environ.get("REQUEST_METHOD", ""),
            environ.get("CONTENT_TYPE"),
            environ.get("CONTENT_LENGTH"),
        )
        if answer is not None:
            return _send(start_response, answer)
        peer = _peer(environ)
        body = self._read_body(environ, length, peer)
        if isinstance(body, Answer):
            return _send(start_response, body)
        parsed = parse_body(endpoint, body, peer)
        if isinstance(parsed, Answer):
            return _send(start_response, parsed)
        request = make_request(parsed, peer, _headers(environ))
        if parsed.call.oneway:
            # Answer first; the server calls close() once the response is written.
            start_response(
                "200 OK", [("Content-Type", endpoint.content_type), ("Content-Length", "0")]
            )
            return _Oneway(self, request)
        result: Response = None
        error: BaseException | None = None
        try:
            result = self.service(request)
        except Exception as exc:
            error = exc
        return _send(
            start_response,
            Answer(
                200,
                reply_body(endpoint, parsed, result, error, request.context.reply_headers),
                endpoint.content_type,
            ),
        )

    def _read_body(self, environ: dict[str, Any], length: int | None, peer: str) -> bytes | Answer:
        stream = environ.get("wsgi.input")
        limit = self.endpoint.max_body()
        if stream is None:
            return Answer(400, b"no request body\n")
        if length is None and not environ.get("wsgi.input_terminated"):
            # Without a length this server cannot tell where the body ends (reading to EOF
            # would wait for the client to close).
            return Answer(411, b"a Content-Length is required\n")
        chunks: list[bytes] = []
        got = 0
        want = limit + 1 if length is None else length
        try:
            while got < want:
                chunk = stream.read(min(_READ_CHUNK, want - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except Exception as exc:  # the server's error for a client gone or too slow
            log.info("%s: reading the request body failed: %s", peer, exc)
            return Answer(400, b"could not read the request body\n")
        if length is None and got > limit:
            return too_large(self.endpoint)
        if length is not None and got < length:
            return Answer(400, f"request body ended after {got} of {length} bytes\n".encode())
        return b"".join(chunks)

    def __repr__(self) -> str:
        return f"<ThriftWSGIApp {self.endpoint.name} protocol={self.protocol}>"


class _Oneway:
    """The (empty) response of a oneway call; the call runs when the server closes it."""

    def __init__(self, app: ThriftWSGIApp, request: Request) -> None:
        self.app = app
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        self.app.run_oneway(self.request)


def _send(start_response: StartResponse, answer: Answer) -> list[bytes]:
    start_response(answer.status_line, answer.header_list())
    return [answer.body]


def _peer(environ: dict[str, Any]) -> str:
    host = environ.get("REMOTE_ADDR") or "?"
    port = environ.get("REMOTE_PORT")
    return f"{host}:{port}" if port else str(host)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, lower-cased names with dashes (WSGI keeps them as HTTP_*)."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers
