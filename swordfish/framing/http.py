"""Thrift over HTTP, sans-IO: what a request or response body is, and how it is labelled.

The wire (Apache ``THttpClient`` / ``THttpServer``, and every other Apache HTTP transport):
the client POSTs the protocol bytes of one message as the request body, unframed (as on the
"buffered" transport), and the reply message is the response body. The path is not part of
the protocol: servers ignore it. A oneway call is answered ``200`` with an empty body.

This module holds what the HTTP clients (``swordfish.sync.http``, ``swordfish.aio.http``) and
the WSGI/ASGI apps (``swordfish.web``) must agree on and that knows nothing of sockets:

- ``http_wire`` / ``body_framer``: the one place that decides what a body holds. With
  ``binary``, ``compact`` and ``json`` a body is one unframed message; with the THeader
  protocols (``header``, ``header-compact``) it is one THeader frame (info headers, the zlib
  transform, a protocol id), exactly what Apache's ``THeaderTransport`` writes when it wraps
  ``THttpClient``: the frame's own length first, no second framing. A server's header
  framer (``server=True``) also takes a plain unframed or framed binary/compact body and
  answers it in kind: the framer is fresh for every body, so that detection costs nothing and
  a header endpoint also serves plain ``THttpClient`` callers.
- ``content_type`` (what we send) and ``content_type_problem`` (what we accept). Apache's
  servers send ``application/x-thrift`` whatever the protocol and never look at the request's
  type; the JavaScript client labels JSON ``application/vnd.apache.thrift.json``, and IANA
  registered ``application/vnd.apache.thrift.{binary,compact,json}``. So we send
  ``application/x-thrift`` for binary, compact and THeader and the ``.json`` type for JSON,
  and accept anything except a type that *names* a different Thrift protocol than the one
  served (a THeader endpoint, which also answers plain binary and compact, refuses only JSON).
- ``HttpStatusError``: the client's error for a response that is not ``200``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import TransportError
from ..limits import Limits
from . import HEADER_PROTOCOLS, PROTOCOLS, WireFormat, wire_format
from .base import Framer
from .header import HeaderFramer
from .unframed import UnframedFramer

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_THRIFT",
    "HTTP_PROTOCOLS",
    "HttpStatusError",
    "body_framer",
    "content_type",
    "content_type_problem",
    "http_wire",
]

#: Apache's label for Thrift bodies of any protocol (what ``THttpClient`` and ``THttpServer``
#: send).
CONTENT_TYPE_THRIFT = "application/x-thrift"
#: The JSON protocol's label (Apache's JavaScript client; registered with IANA).
CONTENT_TYPE_JSON = "application/vnd.apache.thrift.json"

#: ``protocol=`` values over HTTP: the codecs (a body is one unframed message of one of them)
#: and the THeader protocols (a body is one header frame around binary or compact).
HTTP_PROTOCOLS = PROTOCOLS

# Registered types that name one protocol: a body labelled with one of them is not for a
# server of another protocol.
_NAMED = {
    "application/vnd.apache.thrift.binary": "binary",
    "application/vnd.apache.thrift.compact": "compact",
    "application/vnd.apache.thrift.json": "json",
}


def http_wire(
    protocol: str, limits: Limits | None = None, *, header_transforms: Iterable[str] = ()
) -> WireFormat:
    """``protocol=`` (one of ``HTTP_PROTOCOLS``, already checked) resolved once per client or
    app: the codec and, for the THeader protocols, the transforms of what this side sends
    (``("zlib",)``; a ``ValueError`` for other protocols, as on the TCP drivers)."""
    return wire_format(protocol, "buffered", limits, header_transforms=header_transforms)


def body_framer(wire: WireFormat, *, server: bool = False) -> Framer:
    """A fresh framer for one HTTP body (request or response) of ``wire``'s protocol.

    The codecs: one unframed message. THeader: one header frame (``HeaderFramer`` with no
    outer framing); ``server=True`` also accepts a plain unframed or framed binary/compact
    body, answered in its own format, and answers a deflated call deflated.
    """
    if wire.protocol in HEADER_PROTOCOLS:
        return HeaderFramer(
            wire.codec, wire.limits, transforms=wire.header_transforms, accept_plain=server
        )
    return UnframedFramer(wire.codec, wire.limits)


def content_type(protocol: str) -> str:
    """The ``Content-Type`` (and ``Accept``) to send with bodies of ``protocol``
    (``application/x-thrift`` for THeader too: what Apache's ``THttpClient`` sends)."""
    return CONTENT_TYPE_JSON if protocol == "json" else CONTENT_TYPE_THRIFT


def content_type_problem(value: str | None, protocol: str) -> str | None:
    """Why a request labelled ``value`` cannot be a ``protocol`` body, or ``None`` if it may be.

    Liberal: a missing type, ``application/x-thrift``, ``application/octet-stream``,
    ``application/json`` and unknown types are all accepted (Apache's clients label every
    protocol ``application/x-thrift``; the body decides). Only a registered Thrift type that
    names another protocol is refused, so that a client speaking the wrong protocol is told so
    instead of getting a parse error. A THeader endpoint takes plain binary and compact bodies
    too, so it refuses only a JSON label.
    """
    if not value:
        return None
    media = value.split(";", 1)[0].strip().lower()
    named = _NAMED.get(media)
    if named is None or named == protocol:
        return None
    if protocol in HEADER_PROTOCOLS and named != "json":
        return None
    return f"this endpoint speaks the {protocol} protocol, but the request is {media}"


class HttpStatusError(TransportError):
    """The HTTP server answered with a status other than ``200``: no Thrift reply came.

    status: the HTTP status code; reason: its reason phrase; body: the first bytes of the
    response body (a server's explanation), for the message and for callers that want it.
    """

    def __init__(self, message: str, *, status: int, reason: str = "", body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body

    @classmethod
    def from_response(
        cls, what: str, url: str, status: int, reason: str, body: bytes
    ) -> HttpStatusError:
        """The error for ``what`` (a method name) answered ``status`` by ``url``."""
        text = body[:200].decode("utf-8", "replace").strip()
        detail = f": {text}" if text else ""
        phrase = f" {reason}" if reason else ""
        return cls(
            f"{what}: HTTP {status}{phrase} from {url}{detail}",
            status=status,
            reason=reason,
            body=bytes(body[:4096]),
        )
