"""Blocking Thrift-over-HTTP client: ``HttpClient``, with a bounded keep-alive pool.

Each call is one POST: the call's message is the request body, the reply message the
response body (the wire of Apache's ``THttpClient``; see ``swordfish.framing.http``). The
sans-IO ``HttpExchange`` (``swordfish.rpc.http``) encodes the call and checks the reply (seqid,
method name, exactly one message) with the same ``ClientConnection`` as every other transport;
HTTP itself is httpx's (``pip install 'swordfish[http]'``), which keeps connections alive and
pools them. The rules:

- At most ``pool_size`` connections are open to the server; calls from several threads share
  them, each on its own connection at a time (a call waits, within its timeout, for a free
  one). Idle connections are closed after ``keepalive_expiry`` seconds, and one the server
  has closed meanwhile is noticed and replaced before a call is written on it.
- Each call has a deadline (``timeout`` seconds from its start; ``None`` = wait forever):
  waiting for a pooled connection, connecting (also bounded by ``connect_timeout``), sending
  and receiving are each bounded by the time left when the call started, and the reply is
  read in pieces, checked against the deadline after each. A timeout is a
  ``TransportTimeout``; that connection is closed, never reused.
- A status other than 200 is an ``HttpStatusError`` (a ``TransportError``) naming the status,
  the URL and the start of the server's explanation. A reply body over ``max_frame_size`` is a
  ``LimitExceeded`` (read no further), a malformed one a ``RemoteProtocolError``.
- Nothing is retried: a call that failed may or may not have run on the server (HTTP gives
  no way to tell), and Thrift calls are not known to be idempotent. Put a retry filter in
  ``filters`` for methods that are.
- Oneway calls return once the server has answered 200 (it does so before running them).
- Headers: ``headers=`` / ``client.headers`` and ``swordfish.call_headers`` are the call's
  headers, as on ``Client``. With the THeader protocols ("header", "header-compact") they
  are info headers inside the body (a THeader frame) and the reply's come back on
  ``call_headers``' ``scope.reply`` (filters: ``request.context.reply_headers``). The other
  protocols have no place for them in the body, so they go as HTTP request headers (a name
  or value HTTP cannot carry is a ``LocalProtocolError``, raised before anything is sent).
  ``http_headers=`` are HTTP request headers for every call, whatever the protocol.

Thread safety: one ``HttpClient`` may be shared by any number of threads.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Self

import httpx

from ..errors import Rejected, TransportTimeout
from ..framing.http import HttpStatusError
from ..limits import Limits
from ..model.service import MethodSpec
from ..rpc.filter import AnyFilter, Stack
from ..rpc.http import (
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_POOL_SIZE,
    HttpCallOptions,
    client_url,
    map_http_error,
)
from ..rpc.options import check_timeout
from ..rpc.request import Context, Request, Response
from ..rpc.service import Service, ServiceStatus
from ..rpc.stub import IDLMethodAttributes, Stub
from ..tls import check_context

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_POOL_SIZE",
    "HttpClient",
    "HttpConnectionService",
    "HttpStatusError",
]


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


class HttpConnectionService(HttpCallOptions, Service[Request, Response]):
    """The HTTP client's terminal service: POSTs the call and reads the reply.

    Returns the result struct (``None`` for oneway) and raises ``TApplicationException`` for
    an exception reply, like ``ConnectionService``; ``Stub`` turns that into a Python value.
    ``request.headers`` go out with the call (THeader: in the body; other protocols: as HTTP
    headers) and a THeader reply's headers land on ``request.context.reply_headers``.

    http_headers: HTTP request headers sent with every call (``self.http_headers`` holds them
    with ``Content-Type`` and ``Accept``).
    """

    role = "connection"
    description = "POSTs the call and reads its reply over pooled keep-alive HTTP connections"

    _http: httpx.Client

    def _open_pool(self) -> None:
        check_context(self.ssl_context)
        self._http = httpx.Client(
            limits=httpx.Limits(**self.pool_options()),
            verify=self.ssl_context if self.ssl_context is not None else True,
            trust_env=False,  # no proxies or netrc from the environment: calls go to `url`
            follow_redirects=False,
        )

    @property
    def status(self) -> ServiceStatus:
        return ServiceStatus.CLOSED if self._closed else ServiceStatus.OPEN

    def _timeouts(self, name: str, deadline: float | None) -> httpx.Timeout:
        left = _remaining(deadline)
        if left is not None and left <= 0:
            raise TransportTimeout(f"{name}: the deadline passed before the call was sent")
        connect = self.connect_timeout
        if left is not None and (connect is None or left < connect):
            connect = left
        return httpx.Timeout(left, connect=connect)

    def __call__(self, request: Request) -> Response:
        name = request.name
        if self._closed:
            raise Rejected(f"{name}: the client is closed")
        deadline = request.context.deadline
        exchange, http_headers = self.start(request)
        timeouts = self._timeouts(name, deadline)
        try:
            with self._http.stream(
                "POST",
                self.url,
                content=exchange.body,
                headers=http_headers,
                timeout=timeouts,
                extensions=self.extensions,
            ) as response:
                declared = response.headers.get("content-length")
                exchange.check_length(declared)
                chunks = []
                size = 0
                # An answered oneway call whose empty body is not delimited (Apache's
                # THttpServer speaks HTTP/1.0 and closes only after running the call) is done
                # at the status line; its connection is then closed, not reused.
                stream = () if exchange.skip_body(response.status_code, declared) else None
                for chunk in stream if stream is not None else response.iter_bytes():
                    size += len(chunk)
                    exchange.check_size(size)
                    chunks.append(chunk)
                    left = _remaining(deadline)
                    if left is not None and left <= 0:
                        raise TransportTimeout(
                            f"{name}: no whole reply from {self.url} in time; "
                            "the connection was closed"
                        )
                status, reason = response.status_code, response.reason_phrase
        except httpx.TransportError as exc:
            raise map_http_error(name, self.url, exc) from exc
        except RuntimeError as exc:  # httpx: "Cannot send a request, as the client has been closed"
            if self._closed:
                raise Rejected(f"{name}: the client is closed") from exc
            raise
        try:
            return exchange.outcome(self.url, status, reason, b"".join(chunks))
        finally:
            if exchange.reply_headers is not None:
                request.context.reply_headers = exchange.reply_headers

    def close(self) -> None:
        """Close every pooled connection; later calls fail with ``Rejected``."""
        self._closed = True
        self._http.close()

    def __repr__(self) -> str:
        return f"<HttpConnectionService {self.url}{' closed' if self._closed else ''}>"


class HttpClient(IDLMethodAttributes):
    """A blocking Thrift-over-HTTP client for one service: ``client.add(1, 2)``.

    The URL is ``url`` when given, else ``http://host:port/path`` (``https://`` with
    ``ssl_context``); ``host`` may also be a whole URL. Apache servers ignore the path; a
    server behind a router needs the right one.

    timeout, connect_timeout, limits, filters, service_name, ssl_context, server_hostname:
        as for ``swordfish.Client`` (``filters`` are sync ``Filter``s; ``service_name`` calls a
        multiplexed endpoint).
    protocol: "binary", "compact" or "json": the one the endpoint speaks; or "header" /
        "header-compact": each body a THeader frame around binary / compact (Apache's
        ``THeaderTransport`` over ``THttpClient``).
    pool_size: connections kept open to the server at most (calls beyond wait for one).
    keepalive_expiry: seconds an idle connection is kept (``None`` = until the server closes
        it).
    headers: headers sent with every call (``client.headers``, a dict you may change), as on
        ``Client``; ``swordfish.call_headers`` adds per-call ones and reads the reply's. THeader
        protocols carry them as info headers in the body; the others as HTTP request headers.
    http_headers: HTTP request headers sent with every call, whatever the protocol
        (authentication, routing).
    header_transforms: THeader payload transforms for the calls sent (``("zlib",)``); the
        server answers deflated calls deflated.

    Use as a context manager, or call ``close()``. See the module docstring for the pooling,
    timeout and error rules.
    """

    def __init__(
        self,
        service: object,
        host: str = "127.0.0.1",
        port: int = 9090,
        *,
        path: str | None = None,
        url: str | None = None,
        protocol: str = "binary",
        timeout: float | None = 30.0,
        connect_timeout: float | None = 5.0,
        limits: Limits | None = None,
        filters: Iterable[AnyFilter] | Stack = (),
        service_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
        headers: Mapping[str, str] | None = None,
        http_headers: Mapping[str, str] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        url = client_url(host, port, path, url, tls=ssl_context is not None)
        self.connection = HttpConnectionService(
            service,
            url,
            protocol=protocol,
            connect_timeout=connect_timeout,
            limits=limits,
            service_name=service_name,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            pool_size=pool_size,
            keepalive_expiry=keepalive_expiry,
            http_headers=http_headers,
            header_transforms=header_transforms,
        )
        self.service = self.connection.spec
        #: Headers sent with every call (mutable).
        self.headers: dict[str, str] = dict(headers or {})
        self.timeout = check_timeout("timeout", timeout)
        self.stack = filters if isinstance(filters, Stack) else Stack(filters)
        self.stub = Stub(
            self.service,
            self.stack.build(self.connection),
            make_context=self._make_context,
            headers=self.headers,
        )

    def _make_context(self, method: MethodSpec) -> Context:
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        return Context(deadline=deadline)

    @property
    def url(self) -> str:
        return self.connection.url

    def close(self) -> None:
        """Close the pooled connections and refuse later calls. Idempotent."""
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HttpClient {self.service.name} {self.connection!r}>"
