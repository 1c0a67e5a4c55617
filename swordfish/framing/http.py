"""Thrift over HTTP, sans-IO: what a request or response body is, and how it is labelled.

The wire (Apache ``THttpClient`` / ``THttpServer``, and every other Apache HTTP transport):
the client POSTs the protocol bytes of one message as the request body, unframed (as on the
"buffered" transport), and the reply message is the response body. The path is not part of
the protocol: servers ignore it. A oneway call is answered ``200`` with an empty body.

This module holds what the HTTP clients (``swordfish.sync.http``, ``swordfish.aio.http``) and
the WSGI/ASGI apps (``swordfish.web``) must agree on and that knows nothing of sockets:

- ``body_framer``: the one place that decides how a body is split into messages. Bodies are
  unframed today; a THeader body would be chosen here, and nowhere else.
- ``content_type`` (what we send) and ``content_type_problem`` (what we accept). Apache's
  servers send ``application/x-thrift`` whatever the protocol and never look at the request's
  type; the JavaScript client labels JSON ``application/vnd.apache.thrift.json``, and IANA
  registered ``application/vnd.apache.thrift.{binary,compact,json}``. So we send
  ``application/x-thrift`` for binary and compact and the ``.json`` type for JSON, and accept
  anything except a type that *names* a different Thrift protocol than the one served.
- ``HttpStatusError``: the client's error for a response that is not ``200``.
"""

from __future__ import annotations

from ..codec import CODEC_NAMES
from ..codec.base import Codec
from ..errors import TransportError
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer
from .unframed import UnframedFramer

__all__ = [
    "BODY_FRAMINGS",
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_THRIFT",
    "HTTP_PROTOCOLS",
    "HttpStatusError",
    "body_framer",
    "content_type",
    "content_type_problem",
]

#: Apache's label for Thrift bodies of any protocol (what ``THttpClient`` and ``THttpServer``
#: send).
CONTENT_TYPE_THRIFT = "application/x-thrift"
#: The JSON protocol's label (Apache's JavaScript client; registered with IANA).
CONTENT_TYPE_JSON = "application/vnd.apache.thrift.json"

#: ``protocol=`` values over HTTP: the codecs (a body is one unframed message of one of them).
HTTP_PROTOCOLS = CODEC_NAMES

#: How a body may be framed: only "buffered" (one unframed message) for now.
BODY_FRAMINGS = ("buffered",)

# Registered types that name one protocol: a body labelled with one of them is not for a
# server of another protocol.
_NAMED = {
    "application/vnd.apache.thrift.binary": "binary",
    "application/vnd.apache.thrift.compact": "compact",
    "application/vnd.apache.thrift.json": "json",
}


def body_framer(codec: Codec, limits: Limits | None = None, framing: str = "buffered") -> Framer:
    """A fresh framer for one HTTP body (request or response), of ``framing`` (see
    ``BODY_FRAMINGS``)."""
    if framing != "buffered":
        raise ValueError(
            f"unknown HTTP body framing {framing!r}; choose one of: {', '.join(BODY_FRAMINGS)}"
        )
    return UnframedFramer(codec, limits or DEFAULT_LIMITS)


def content_type(protocol: str) -> str:
    """The ``Content-Type`` (and ``Accept``) to send with bodies of ``protocol``."""
    return CONTENT_TYPE_JSON if protocol == "json" else CONTENT_TYPE_THRIFT


def content_type_problem(value: str | None, protocol: str) -> str | None:
    """Why a request labelled ``value`` cannot be a ``protocol`` body, or ``None`` if it may be.

    Liberal: a missing type, ``application/x-thrift``, ``application/octet-stream``,
    ``application/json`` and unknown types are all accepted (Apache's clients label every
    protocol ``application/x-thrift``; the body decides). Only a registered Thrift type that
    names another protocol is refused, so that a client speaking the wrong protocol is told so
    instead of getting a parse error.
    """
    if not value:
        return None
    media = value.split(";", 1)[0].strip().lower()
    named = _NAMED.get(media)
    if named is None or named == protocol:
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
