"""One Thrift call over HTTP, sans-IO: what the sync and asyncio HTTP clients share.

``HttpExchange`` encodes a call into a request body with a fresh ``ClientConnection`` (so the
seqid and reply checks are the engine's, as on every other transport) and turns the HTTP
response into the call's result struct, a raised ``TApplicationException``, or an error:
``HttpStatusError`` for a status other than 200, ``RemoteProtocolError`` for a body that is
not exactly the reply to this call. The drivers only move the bytes (``swordfish.sync.http``
with a blocking pool, ``swordfish.aio.http`` with an asyncio one).

With the THeader protocols the body is one header frame (``framing.http.body_framer``): the
call's info headers go in it and the reply's come out on ``HttpExchange.reply_headers``. The
plain protocols have no place for headers in the body; ``check_http_headers`` checks that
headers can go out as HTTP request headers instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    ConnectionClosedError,
    LimitExceeded,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)
from ..framing import WireFormat
from ..framing.http import HTTP_PROTOCOLS, HttpStatusError, body_framer, content_type, http_wire
from ..limits import DEFAULT_LIMITS, Limits
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from ..protocol import ClientConnection, ConnectionClosed, ExceptionReply, Reply
from .options import check_choice, check_positive_int, check_timeout, resolve_service
from .request import Request, Response

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_POOL_SIZE",
    "HttpCallOptions",
    "HttpExchange",
    "check_http_headers",
    "client_url",
    "http_url",
    "map_http_error",
]

#: Connections an HTTP client keeps open to its server at most.
DEFAULT_POOL_SIZE = 10
#: Seconds an idle pooled connection is kept.
DEFAULT_KEEPALIVE_EXPIRY = 30.0

# RFC 9110: a field name is a token; a value here is visible ASCII, spaces and tabs (httpx
# encodes header values as ASCII).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")


def check_http_headers(headers: Mapping[str, str], what: str) -> dict[str, str]:
    """``headers`` as a dict, or ``LocalProtocolError`` naming the first one that cannot be an
    HTTP request header (a name that is not a token, a value with a line break or a
    character outside ASCII): said before anything is sent, and naming ``what``."""
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise LocalProtocolError(f"{what}: headers must be str: str, got {name!r}: {value!r}")
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise LocalProtocolError(
                f"{what}: {name!r}: {value!r} cannot be sent as an HTTP header (only the THeader "
                "protocols carry arbitrary info headers)"
            )
        checked[name] = value
    return checked


def map_http_error(name: str, url: str, exc: Exception) -> TransportError:
    """The Swordfish error for an HTTP library's transport failure during call ``name``.

    Classified by the names of httpx's exception classes (``PoolTimeout``, ``ConnectTimeout``,
    ``TimeoutException``, ``ConnectError``, ``RemoteProtocolError``), so both HTTP drivers
    share one mapping and this sans-IO layer does not import the (optional) HTTP library.
    """
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "PoolTimeout" in kinds:
        return TransportTimeout(f"{name}: timed out waiting for a free connection to {url}")
    if "ConnectTimeout" in kinds:
        return TransportTimeout(f"{name}: timed out connecting to {url}")
    if "TimeoutException" in kinds:
        return TransportTimeout(f"{name}: no reply from {url} in time; the connection was closed")
    if "ConnectError" in kinds:
        return TransportError(f"{name}: cannot connect to {url}: {exc}")
    if "RemoteProtocolError" in kinds and "disconnect" in str(exc).lower():
        return ConnectionClosedError(f"{name}: {url} closed the connection before replying")
    return TransportError(f"{name}: HTTP exchange with {url} failed: {type(exc).__name__}: {exc}")


def http_url(host: str, port: int, path: str | None, *, tls: bool) -> str:
    """``http[s]://host:port/path`` (``host`` may already be a whole ``http[s]://`` URL)."""
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {host!r}")
        if path is not None:
            raise ValueError("give the path inside the URL or as path=, not both")
        if tls and parts.scheme != "https":
            raise ValueError(f"ssl_context given for a plain http:// URL {host!r}")
        return host
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"port must be an int in 1..65535, got {port!r}")
    path = path or "/"
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    name = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{name}:{port}{path}"


def client_url(host: str, port: int, path: str | None, url: str | None, *, tls: bool) -> str:
    """The URL an HTTP client posts to: ``url`` when given (a whole ``http[s]://`` URL, no
    ``path``), else built from ``host``, ``port`` and ``path``. Both clients take the same
    options, so they resolve them here alike."""
    if url is None:
        return http_url(host, port, path, tls=tls)
    if path is not None:
        raise ValueError("give the path inside url, not as path=")
    if "://" not in url:
        raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
    return http_url(url, 0, None, tls=tls)


class HttpExchange:
    """The request body for one call, then the call's outcome from the HTTP response."""

    __slots__ = ("_conn", "_limits", "body", "method", "reply_headers", "seqid")

    def __init__(
        self,
        spec: ServiceSpec,
        wire: WireFormat,
        method: MethodSpec,
        args: Struct,
        service_name: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._conn = ClientConnection(
            spec, wire.codec, body_framer(wire), service_name=service_name
        )
        self._limits = wire.limits
        self.method = method
        #: The reply's info headers once ``outcome`` has read a THeader reply (else ``None``).
        self.reply_headers: dict[str, str] | None = None
        #: Raises ``LocalProtocolError`` (nothing was sent) when the args cannot be encoded.
        #: ``headers`` go into a THeader body; other protocols' bodies have no place for them.
        self.seqid, self.body = self._conn.send_call(method, args, headers)

    def check_length(self, declared: str | None) -> None:
        """``LimitExceeded`` when a response declares a body over ``max_frame_size``."""
        if declared is not None and declared.strip().isdigit():
            self.check_size(int(declared))

    def check_size(self, size: int) -> None:
        """``LimitExceeded`` when ``size`` response bytes are over ``max_frame_size``."""
        if size > self._limits.max_frame_size:
            raise LimitExceeded(
                f"{self.method.name}: reply body over max_frame_size "
                f"({self._limits.max_frame_size} bytes)"
            )

    def skip_body(self, status: int, declared: str | None) -> bool:
        """Whether the response body need not be read: a oneway call answered 200 whose
        body has no declared length (its end would only show when the server closes)."""
        return self.method.oneway and status == 200 and declared is None

    def outcome(self, url: str, status: int, reason: str, body: bytes) -> Response:
        """The result struct (``None`` for oneway); raises what the response says went wrong.

        A ``TApplicationException`` reply is raised as itself (an answer, not a failure of
        the transport). A THeader reply's info headers are on ``reply_headers`` afterwards,
        whichever way it ends.
        """
        name = self.method.name
        if status != 200:
            raise HttpStatusError.from_response(name, url, status, reason, body)
        if self.method.oneway:
            return None  # answered at once; whatever the body holds is not a reply
        conn = self._conn
        conn.receive_data(body)
        conn.receive_data(b"")
        event = conn.next_event()
        if not isinstance(event, (Reply, ExceptionReply)):
            raise RemoteProtocolError(f"{name}: empty HTTP response body from {url}")
        if not isinstance(conn.next_event(), ConnectionClosed):
            raise RemoteProtocolError(f"{name}: bytes after the reply in the body from {url}")
        self.reply_headers = event.headers
        if isinstance(event, ExceptionReply):
            raise event.error
        return event.result


class HttpCallOptions:
    """The checked options of an HTTP client's terminal service, and the start of each call:
    what the blocking and the asyncio ``HttpConnectionService`` share (they differ only in the
    httpx client they drive and how they wait)."""

    def __init__(
        self,
        service: object,
        url: str,
        *,
        protocol: str = "binary",
        connect_timeout: float | None = 5.0,
        limits: Limits | None = None,
        service_name: str | None = None,
        ssl_context: Any = None,
        server_hostname: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
        http_headers: Mapping[str, str] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self.spec = resolve_service(service)
        self.service_name = service_name
        self.url = url
        self.protocol = check_choice("protocol", protocol, HTTP_PROTOCOLS)
        self.connect_timeout = check_timeout("connect_timeout", connect_timeout)
        # An ssl.SSLContext (this layer cannot import ssl: the drivers check it with
        # swordfish.tls.check_context before building their pool).
        self.ssl_context = ssl_context
        if server_hostname is not None and ssl_context is None:
            raise ValueError("server_hostname applies only with ssl_context")
        self.server_hostname = server_hostname
        self.pool_size = check_positive_int("pool_size", pool_size)
        self.keepalive_expiry = check_timeout("keepalive_expiry", keepalive_expiry)
        self.limits = limits or DEFAULT_LIMITS
        self.wire = http_wire(self.protocol, self.limits, header_transforms=header_transforms)
        kind = content_type(self.protocol)
        try:
            extra = check_http_headers(http_headers or {}, "http_headers")
        except LocalProtocolError as exc:  # a construction argument: a ValueError
            raise ValueError(str(exc)) from None
        #: HTTP request headers sent with every call.
        self.http_headers = {"Content-Type": kind, "Accept": kind, **extra}
        #: httpx request extensions (the TLS server name when it is not the URL's host).
        self.extensions: dict[str, Any] = (
            {} if server_hostname is None else {"sni_hostname": server_hostname}
        )
        self._closed = False
        self._open_pool()

    def _open_pool(self) -> None:
        """The driver's HTTP client, built from the checked options (``pool_options``)."""
        raise NotImplementedError

    def pool_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Limits``: the bounded keep-alive pool."""
        return {
            "max_connections": self.pool_size,
            "max_keepalive_connections": self.pool_size,
            "keepalive_expiry": self.keepalive_expiry,
        }

    def start(self, request: Request) -> tuple[HttpExchange, dict[str, str]]:
        """The exchange for ``request`` and the HTTP headers to send with it: a THeader body
        carries ``request.headers`` itself; other protocols have no place for them in the
        body, so they go out as HTTP headers (checked before anything is sent)."""
        headers = request.headers
        http_headers = self.http_headers
        if self.wire.is_header:
            exchange = HttpExchange(
                self.spec, self.wire, request.method, request.args, self.service_name, headers
            )
        else:
            if headers:
                http_headers = {**http_headers, **check_http_headers(headers, request.name)}
            exchange = HttpExchange(
                self.spec, self.wire, request.method, request.args, self.service_name
            )
        request.context.seqid = exchange.seqid
        return exchange, http_headers
