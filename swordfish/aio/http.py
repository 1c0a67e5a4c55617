"""asyncio Thrift-over-HTTP client: ``AsyncHttpClient``, with a bounded keep-alive pool.

The asyncio twin of ``swordfish.sync.http.HttpClient``, with the same wire, pool, error and
no-retry rules (read that module's docstring); the call's encoding and reply checks are the
shared sans-IO ``HttpExchange``. What differs:

- Any number of calls may be awaited concurrently; each takes a pooled connection of its own
  (at most ``pool_size``; beyond that a call waits, within its deadline, for one).
- The deadline covers the whole call exactly (``asyncio.timeout``): waiting for a
  connection, connecting, sending and the whole reply. Past it the call raises
  ``TransportTimeout`` (``timeout``) or ``DeadlineExceeded`` (an absolute ``deadline``), and
  its connection is closed. Cancelling the awaiting task closes it too.
- ``client.with_options(timeout=..., deadline=...)`` gives a stub whose calls use those.

Headers (``headers=``, ``client.headers``, ``swordfish.call_headers``, ``http_headers=``) and
THeader (``protocol="header"``, ``header_transforms=``) follow the sync client's rules.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from ..errors import DeadlineExceeded, Rejected, TransportTimeout
from ..framing.http import HttpStatusError
from ..limits import Limits
from ..model.service import MethodSpec
from ..model.struct import Struct
from ..rpc.context import SCOPE_VAR, outgoing_headers, record_reply_headers
from ..rpc.filter import AnyAsyncFilter, Stack
from ..rpc.http import (
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_POOL_SIZE,
    HttpCallOptions,
    HttpExchange,
    client_url,
    map_http_error,
)
from ..rpc.options import (
    check_timeout,
)
from ..rpc.request import Context, Request, Response
from ..rpc.service import AsyncService, ServiceStatus
from ..rpc.stub import IDLMethodAttributes, unwrap
from ..tls import check_context
from .client import TIMEOUT_ERROR_KEY, AsyncStub

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_POOL_SIZE",
    "AsyncHttpClient",
    "AsyncHttpConnectionService",
    "HttpStatusError",
]

_UNSET: Any = object()


class AsyncHttpConnectionService(HttpCallOptions, AsyncService[Request, Response]):
    """The async HTTP client's terminal: POSTs ``request.args`` and awaits the result struct.

    It reads ``request.context.deadline`` (a filter may change it) and raises the error class
    stored under ``TIMEOUT_ERROR_KEY`` (default ``DeadlineExceeded``) when it passes.
    ``request.headers`` and reply headers: as for ``swordfish.sync.http.HttpConnectionService``.
    """

    role = "connection"
    description = "POSTs the call and awaits its reply over pooled keep-alive HTTP connections"

    _http: httpx.AsyncClient

    def _open_pool(self) -> None:
        check_context(self.ssl_context)
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(**self.pool_options()),
            verify=self.ssl_context if self.ssl_context is not None else True,
            trust_env=False,
            follow_redirects=False,
            # The whole call is bounded by asyncio.timeout; only connecting has its own bound.
            timeout=httpx.Timeout(None, connect=self.connect_timeout),
        )

    @property
    def status(self) -> ServiceStatus:
        return ServiceStatus.CLOSED if self._closed else ServiceStatus.OPEN

    async def __call__(self, request: Request) -> Response:
        name = request.name
        if self._closed:
            raise Rejected(f"{name}: the client is closed")
        context = request.context
        deadline = context.deadline
        exchange, http_headers = self.start(request)
        left = None if deadline is None else deadline - time.monotonic()
        try:
            async with asyncio.timeout(left):
                status, reason, body = await self._post(exchange, http_headers)
        except TimeoutError as exc:
            if isinstance(exc, TransportTimeout):
                raise
            error = context.attributes.get(TIMEOUT_ERROR_KEY, DeadlineExceeded)
            raise error(
                f"{name}: no reply from {self.url} in time; the connection was closed"
            ) from None
        try:
            return exchange.outcome(self.url, status, reason, body)
        finally:
            if exchange.reply_headers is not None:
                context.reply_headers = exchange.reply_headers

    async def _post(
        self, exchange: HttpExchange, http_headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        name = exchange.method.name
        try:
            async with self._http.stream(
                "POST",
                self.url,
                content=exchange.body,
                headers=http_headers,
                extensions=self.extensions,
            ) as response:
                declared = response.headers.get("content-length")
                exchange.check_length(declared)
                chunks = []
                size = 0
                # See HttpConnectionService: an answered oneway call without a delimited body.
                if not exchange.skip_body(response.status_code, declared):
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        exchange.check_size(size)
                        chunks.append(chunk)
                return response.status_code, response.reason_phrase, b"".join(chunks)
        except httpx.TransportError as exc:
            raise map_http_error(name, self.url, exc) from exc
        except RuntimeError as exc:  # httpx: the client has been closed
            if self._closed:
                raise Rejected(f"{name}: the client is closed") from exc
            raise

    async def close(self) -> None:
        """Close every pooled connection; later calls fail with ``Rejected``."""
        self._closed = True
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"<AsyncHttpConnectionService {self.url}{' closed' if self._closed else ''}>"


class AsyncHttpClient(IDLMethodAttributes):
    """An asyncio Thrift-over-HTTP client for one service: ``await client.add(1, 2)``.

    Options as for ``swordfish.sync.http.HttpClient`` (url or host/port/path, protocol,
    timeout, connect_timeout, limits, service_name, ssl_context, server_hostname, pool_size,
    keepalive_expiry, headers, http_headers, header_transforms); ``filters`` are
    ``AsyncFilter``s. ``client.headers`` is the mutable dict of headers sent with every call.
    Connections open on demand, so ``connect()`` (which ``make_aio_client`` awaits) has
    nothing to do.
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
        filters: Iterable[AnyAsyncFilter] | Stack = (),
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
        self.connection = AsyncHttpConnectionService(
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
        self._chain: AsyncService[Request, Response] = self.stack.build_async(self.connection)
        self.stub = AsyncStub(self.service, self._invoke)

    @property
    def url(self) -> str:
        return self.connection.url

    @property
    def closed(self) -> bool:
        return self.connection.status is ServiceStatus.CLOSED

    async def connect(self) -> Self:
        """Nothing to open ahead of time: connections open on demand (kept for symmetry with
        ``AsyncClient``, so ``make_aio_client`` builds either)."""
        if self.closed:
            raise Rejected("the client is closed")
        return self

    def _request(
        self,
        method: MethodSpec,
        args: Struct,
        timeout: float | None,
        deadline: float | None,
        headers: dict[str, str] | None = None,
    ) -> Request:
        if timeout is _UNSET:
            timeout = self.timeout
        by_timeout = None if timeout is None else time.monotonic() + timeout
        error: type[TransportTimeout] | type[DeadlineExceeded] = TransportTimeout
        at = by_timeout
        if deadline is not None and (by_timeout is None or deadline <= by_timeout):
            at, error = deadline, DeadlineExceeded
        return Request(
            method,
            args,
            headers or {},
            Context(deadline=at, attributes={TIMEOUT_ERROR_KEY: error}),
        )

    async def _invoke(
        self,
        method: MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Any:
        if not self.headers and SCOPE_VAR.get() is None:  # no headers: the hot path
            return unwrap(method, await self._chain(self._request(method, args, timeout, deadline)))
        request = self._request(method, args, timeout, deadline, outgoing_headers(self.headers))
        try:
            return unwrap(method, await self._chain(request))
        finally:
            record_reply_headers(request.context.reply_headers)

    def with_options(
        self, *, timeout: float | None = _UNSET, deadline: float | None = None
    ) -> AsyncStub:
        """A stub whose calls use this ``timeout`` (seconds) and/or absolute ``deadline``."""

        async def invoke(method: MethodSpec, args: Struct) -> Any:
            return await self._invoke(method, args, timeout=timeout, deadline=deadline)

        return AsyncStub(self.service, invoke)

    async def call(
        self,
        method: str | MethodSpec,
        args: Struct,
        *,
        timeout: float | None = _UNSET,
        deadline: float | None = None,
    ) -> Response:
        """Send ``args`` (the method's args struct) and return the reply's result struct."""
        if isinstance(method, MethodSpec):
            spec = method
        else:
            found = self.service.methods.get(method)
            if found is None:
                raise AttributeError(f"service {self.service.name} has no method {method!r}")
            spec = found
        headers = outgoing_headers(self.headers)
        request = self._request(spec, args, timeout, deadline, headers)
        try:
            return await self._chain(request)
        finally:
            if headers is not None:
                record_reply_headers(request.context.reply_headers)

    async def close(self) -> None:
        """Close the pooled connections and refuse later calls. Idempotent."""
        await self.connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncHttpClient {self.service.name} {self.connection!r}>"
