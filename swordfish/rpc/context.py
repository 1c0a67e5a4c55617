"""The request being handled, reachable from anywhere in its call (``contextvars``).

Server drivers run each handler call inside ``use_request(request)``, so handler code (and the
filters inside it) can read the inbound headers and deadline without threading them through
every signature. ``contextvars`` rather than thread-locals so the asyncio driver gets per-task
values from the same code.

Headers (carried on the wire by the THeader protocols; other protocols drop them):

- a handler reads the call's headers with ``current_headers()`` and adds reply headers with
  ``set_reply_header(key, value)``;
- a caller sends headers with the calls made inside ``with call_headers({...}) as scope:``
  (sync or async: the scope follows the task) and reads the last reply's headers from
  ``scope.reply``. Clients also take ``headers=`` for every call they make; the scope's
  headers win on a clash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

from .request import Request

__all__ = [
    "REQUEST_VAR",
    "SCOPE_VAR",
    "HeaderScope",
    "call_headers",
    "current_deadline",
    "current_headers",
    "current_request",
    "outgoing_headers",
    "record_reply_headers",
    "set_reply_header",
    "use_request",
]

_current: ContextVar[Request | None] = ContextVar("swordfish_current_request", default=None)
#: The variable itself, for drivers on a hot path: ``token = REQUEST_VAR.set(request)`` ...
#: ``REQUEST_VAR.reset(token)`` is what ``use_request`` does, without the context manager's
#: generator (a measurable share of a small call's cost in the asyncio server).
REQUEST_VAR = _current
_EMPTY: Mapping[str, str] = MappingProxyType({})


def current_request() -> Request | None:
    """The request whose handler is running in this context, if any."""
    return _current.get()


def current_headers() -> Mapping[str, str]:
    """Headers of the current request (read-only; empty outside a call)."""
    request = _current.get()
    return _EMPTY if request is None else MappingProxyType(request.headers)


def current_deadline() -> float | None:
    """Absolute deadline of the current request in the driver's clock, or ``None``."""
    request = _current.get()
    return None if request is None else request.context.deadline


@contextmanager
def use_request(request: Request) -> Iterator[Request]:
    """Make ``request`` current for the duration of the block (nests and restores)."""
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


def set_reply_header(key: str, value: str) -> None:
    """Add a header to the reply of the call being handled (THeader carries it back).

    Raises ``RuntimeError`` outside a handler call.
    """
    request = _current.get()
    if request is None:
        raise RuntimeError("set_reply_header() called outside a request")
    request.context.set_reply_header(key, value)


@dataclass(slots=True)
class HeaderScope:
    """What ``call_headers`` yields: headers to send, and those of the last reply.

    send: headers added to every call made inside the block (mutable).
    reply: the reply headers of the most recent call that returned inside the block (empty
        until one does, or when the reply had none).
    """

    send: dict[str, str] = field(default_factory=dict)
    reply: dict[str, str] = field(default_factory=dict)


_scope: ContextVar[HeaderScope | None] = ContextVar("swordfish_header_scope", default=None)
#: The variable itself, for client hot paths: ``SCOPE_VAR.get() is None`` (and no client-wide
#: headers) means the call carries no headers and ``outgoing_headers`` need not be called.
SCOPE_VAR = _scope


@contextmanager
def call_headers(headers: Mapping[str, str] | None = None) -> Iterator[HeaderScope]:
    """Send ``headers`` with every client call made in the block; read reply headers after.

    ``with call_headers({"trace": "1"}) as scope: client.add(1, 2)`` then ``scope.reply``.
    Scopes nest: an inner one sends the outer one's headers too (its own win on a clash).
    """
    outer = _scope.get()
    send = dict(outer.send) if outer is not None else {}
    if headers:
        send.update(headers)
    scope = HeaderScope(send)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def outgoing_headers(defaults: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The headers a client call made now sends: ``defaults`` (the client's ``headers=``)
    overlaid with the current ``call_headers`` scope; ``None`` when there are none.

    For client drivers and stubs; cheap when no scope is active and no defaults are set.
    """
    scope = _scope.get()
    if scope is None:
        return dict(defaults) if defaults else None
    headers = dict(defaults) if defaults else {}
    headers.update(scope.send)
    return headers


def record_reply_headers(headers: Mapping[str, str] | None) -> None:
    """Client drivers/stubs: a call returned with these reply headers (for ``scope.reply``)."""
    scope = _scope.get()
    if scope is not None:
        scope.reply = dict(headers) if headers else {}
