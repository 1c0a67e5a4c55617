"""What the WSGI and ASGI apps share: options, request checks, the engine run on one body.

Both apps answer an HTTP request the same way; only how they read the body and wait for the
handler differs. This module holds the rest, so the two cannot drift:

- ``HttpEndpoint``: the checked options (service or multiplexed services, handler, protocol,
  limits, THeader transforms) and the wire format, built once per app.
- ``precheck``: method, content type and declared length, before any body byte is read.
- ``parse_body``: the sans-IO ``ServerConnection`` fed the whole body and then EOF (the body
  is one unframed message, or one THeader frame: see ``swordfish.framing.http``): a ``Call``
  to run, or the ``Answer`` to send right away (an engine-made exception reply, or 400).
- ``make_request``: the call's ``Request``; a THeader call's info headers are
  ``request.headers`` (``swordfish.current_headers()`` in the handler).
- ``reply_body``: the reply bytes for a call's outcome, with the same mapping as the stream
  servers (a ``TApplicationException`` as-is, any other failure ``INTERNAL_ERROR``),
  carrying the reply headers the handler set (``set_reply_header``) when the protocol is
  THeader.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

from ..codec.base import Codec
from ..errors import ProtocolError
from ..framing import WireFormat
from ..framing.http import (
    HTTP_PROTOCOLS,
    body_framer,
    content_type,
    content_type_problem,
    http_wire,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import ServiceSpec
from ..protocol import Call, CallRejected, ConnectionClosed, ServerConnection
from ..rpc.dispatch import Dispatcher, Router, resolve_services
from ..rpc.options import check_choice, resolve_service
from ..rpc.request import Context, Request, Response
from ..rpc.service import Service

__all__ = [
    "HTTP_HEADERS_KEY",
    "Answer",
    "HttpEndpoint",
    "Parsed",
    "parse_body",
    "make_request",
    "precheck",
    "reply_body",
    "too_large",
]

log = logging.getLogger("swordfish.web.http")

#: ``Context.attributes`` key under which the apps put the HTTP request's headers (a dict of
#: lower-cased names to values), for filters that authenticate or trace by them.
HTTP_HEADERS_KEY = "swordfish.http.headers"

_DIGITS = re.compile(r"[0-9]+")


@dataclass(slots=True)
class Answer:
    """An HTTP response to send: status, body, and its content type."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        """``"200 OK"``: WSGI's form of the status."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"

    def header_list(self) -> list[tuple[str, str]]:
        """Content-Type, Content-Length and the extra headers."""
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *self.headers,
        ]


def _error(status: int, text: str, *headers: tuple[str, str]) -> Answer:
    return Answer(status, f"{text}\n".encode(), headers=list(headers))


class HttpEndpoint:
    """The checked options of a Thrift-over-HTTP app (see ``ThriftWSGIApp`` for each one)."""

    def __init__(
        self,
        service: object,
        handler: object,
        services: Mapping[str, tuple[object, object]] | None,
        protocol: str,
        limits: Limits | None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        #: What the engine serves: one spec, or multiplexed name -> spec.
        self.spec: ServiceSpec | dict[str, ServiceSpec]
        #: Each handler by multiplexed name (``None`` is the key of a single service).
        self.handlers: dict[str | None, tuple[ServiceSpec, object]]
        if services is not None:
            if service is not None or handler is not None:
                raise ValueError("give either service and handler, or services, not both")
            resolved = resolve_services(services)
            self.spec = {name: spec for name, (spec, _) in resolved.items()}
            self.handlers = dict(resolved.items())
            #: For logs and reprs: the service's name, or the multiplexed names joined by "+".
            self.name = "+".join(resolved)
        else:
            if service is None or handler is None:
                raise ValueError("an app needs a service and a handler (or services)")
            spec = resolve_service(service)
            self.spec, self.handlers, self.name = spec, {None: (spec, handler)}, spec.name
        self.protocol = check_choice("protocol", protocol, HTTP_PROTOCOLS)
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a swordfish.Limits, not {type(limits).__name__}")
        self.limits = limits or DEFAULT_LIMITS
        #: The codec (inside the header frames for THeader) and the transforms of replies.
        self.wire: WireFormat = http_wire(
            self.protocol, self.limits, header_transforms=header_transforms
        )
        self.codec: Codec = self.wire.codec
        self.header_transforms = self.wire.header_transforms
        self.content_type = content_type(self.protocol)

    @property
    def multiplexed(self) -> bool:
        return None not in self.handlers

    def sync_terminal(self) -> Service[Request, Response]:
        """The blocking terminal: the ``Dispatcher`` (or a ``Service`` handler as it is), or a
        ``Router`` over one per multiplexed service; as the stream servers build it."""
        terminals = {
            name: h if isinstance(h, Service) else Dispatcher(spec, h)
            for name, (spec, h) in self.handlers.items()
        }
        if not self.multiplexed:
            return terminals[None]
        return Router({name: t for name, t in terminals.items() if name is not None})

    def max_body(self) -> int:
        return self.limits.max_frame_size


def precheck(
    endpoint: HttpEndpoint,
    method: str,
    content_type_value: str | None,
    content_length: str | None,
) -> tuple[Answer | None, int | None]:
    """``(answer, None)`` to refuse the request before reading its body, else
    ``(None, declared length or None)``.

    405 for anything but POST; 415 for a body labelled as another Thrift protocol; 400 for a
    malformed Content-Length; 413 for a declared length over ``Limits.max_frame_size`` (said
    before a byte of the body is read).
    """
    if method != "POST":
        return _error(405, "Thrift over HTTP takes POST requests only", ("Allow", "POST")), None
    problem = content_type_problem(content_type_value, endpoint.protocol)
    if problem is not None:
        return _error(415, problem), None
    if content_length is None or content_length == "":
        return None, None
    value = content_length.strip(" \t")
    if not _DIGITS.fullmatch(value):
        return _error(400, f"invalid Content-Length {content_length!r}"), None
    length = int(value)
    if length > endpoint.max_body():
        return too_large(endpoint), None
    return None, length


def too_large(endpoint: HttpEndpoint) -> Answer:
    """413: the body is over ``max_frame_size``."""
    return _error(413, f"request body over max_frame_size ({endpoint.max_body()} bytes)")


@dataclass(slots=True)
class Parsed:
    """A call decoded from a body, with the engine that must encode its reply."""

    engine: ServerConnection
    call: Call


def parse_body(endpoint: HttpEndpoint, body: bytes, peer: str | None) -> Parsed | Answer:
    """Run the engine over one whole request body: the call in it, or the answer to send now.

    A body must hold exactly one message (THeader: one header frame, or one plain binary or
    compact message, answered in kind). Malformed bytes, an empty body, a truncated message
    or bytes after the message are a 400 (the app keeps serving). A call the engine answers by
    itself (unknown method, multiplexed name not served) is a 200 carrying its
    ``TApplicationException`` reply (empty for a oneway call), as on the stream servers.
    """
    engine = ServerConnection(
        endpoint.spec, endpoint.codec, body_framer(endpoint.wire, server=True)
    )
    engine.receive_data(body)
    engine.receive_data(b"")
    try:
        event = engine.next_event()
        if isinstance(event, ConnectionClosed):
            return _error(400, "empty request body: expected one Thrift message")
        rest = engine.next_event()
    except ProtocolError as exc:
        log.warning("%s: malformed Thrift request: %s", peer or "HTTP client", exc)
        return _error(400, f"malformed Thrift request: {exc}")
    if not isinstance(rest, ConnectionClosed):
        return _error(400, "a request body must hold exactly one Thrift message")
    if isinstance(event, CallRejected):
        log.info("%s: rejected %r: %s", peer or "HTTP client", event.name, event.error)
        return Answer(200, event.data, endpoint.content_type)
    assert isinstance(event, Call)
    return Parsed(engine, event)


def make_request(parsed: Parsed, peer: str | None, headers: dict[str, str]) -> Request:
    """The ``Request`` for a parsed call: its THeader info headers as ``request.headers``
    (empty for the other protocols), the HTTP headers under ``HTTP_HEADERS_KEY``."""
    call = parsed.call
    context = Context(peer=peer, seqid=call.seqid, attributes={HTTP_HEADERS_KEY: headers})
    return Request(call.method, call.args, call.headers or {}, context, call.service)


def reply_body(
    endpoint: HttpEndpoint,
    parsed: Parsed,
    result: Response,
    error: BaseException | None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The reply message for a two-way call that returned ``result`` or raised ``error``.

    ``error`` is what the filter stack raised (the dispatcher has already mapped handler
    exceptions): a ``TApplicationException`` goes back as it is, anything else becomes
    ``INTERNAL_ERROR``; so does a result the IDL type cannot carry. ``headers`` (the
    request's ``context.reply_headers``) go back with either, where the protocol carries them.
    """
    engine, call = parsed.engine, parsed.call
    app_error: TApplicationException | None = None
    if isinstance(error, TApplicationException):
        app_error = error
    elif error is not None:
        log.error("%s.%s: the filter stack raised", endpoint.name, call.method.name, exc_info=error)
        app_error = TApplicationException(
            f"{type(error).__name__}: {error}", ApplicationExceptionType.INTERNAL_ERROR
        )
    elif result is None:
        app_error = TApplicationException(
            f"{call.method.name}: the filter stack returned no result",
            ApplicationExceptionType.INTERNAL_ERROR,
        )
    else:
        try:
            return engine.send_reply(call, result, headers)
        except Exception as exc:
            log.exception("%s.%s: cannot encode the result", endpoint.name, call.method.name)
            app_error = TApplicationException(
                f"cannot encode the result of {call.method.name}: {exc}",
                ApplicationExceptionType.INTERNAL_ERROR,
            )
    return engine.send_exception(call, app_error, headers)
