"""The request being handled, reachable from anywhere in its call (``contextvars``).

Server drivers run each handler call inside ``use_request(request)``, so handler code (and the
filters inside it) can read the inbound headers and deadline without threading them through
every signature. ``contextvars`` rather than thread-locals so the asyncio driver gets per-task
values from the same code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from .request import Request

__all__ = [
    "REQUEST_VAR",
    "current_deadline",
    "current_headers",
    "current_request",
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
