"""``Service``: a function from request to response, with a lifecycle.

Finagle's model: a service is just ``request -> response``; everything else (timeouts,
retries, metrics, serialization) is a ``Filter`` wrapped around it. Both the client's terminal
(write the call, read the reply) and the server's terminal (run the user's handler) are
services, so the same filters compose on either side.

``AsyncService`` is the same contract for the asyncio drivers: ``await service(request)`` and
``await service.close()``. It is plain ``async def``, so this module stays sans-IO: no event
loop is imported or assumed here.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["AsyncFunctionService", "AsyncService", "FunctionService", "Service", "ServiceStatus"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")


class ServiceStatus(enum.Enum):
    """Whether a service can take calls (load balancers and pools read this)."""

    OPEN = "open"
    BUSY = "busy"
    CLOSED = "closed"


class _Status:
    """What sync and async services share: a ``status`` that is ``OPEN`` by default."""

    @property
    def status(self) -> ServiceStatus:
        """``OPEN`` unless a subclass knows better."""
        return ServiceStatus.OPEN


class Service(_Status, abc.ABC, Generic[Req, Rep]):
    """``service(request) -> response``; ``close()`` releases what it holds.

    Subclasses implement ``__call__``. ``close`` is a no-op by default so stateless services
    (a dispatcher, a function) need not write one; services holding connections override it.
    """

    @abc.abstractmethod
    def __call__(self, request: Req) -> Rep:
        """Handle one request. Failures are raised, never returned."""

    def close(self) -> None:
        """Release resources; later calls may fail. Idempotent."""

    @staticmethod
    def from_function(fn: Callable[[Req], Rep]) -> Service[Req, Rep]:
        """Wrap a plain callable (handy for tests and tiny terminals)."""
        return FunctionService(fn)


class FunctionService(Service[Req, Rep]):
    """A service backed by a function of the request."""

    def __init__(self, fn: Callable[[Req], Rep]) -> None:
        self._fn = fn

    def __call__(self, request: Req) -> Rep:
        return self._fn(request)

    def __repr__(self) -> str:
        return f"FunctionService({getattr(self._fn, '__qualname__', self._fn)!r})"


class AsyncService(_Status, abc.ABC, Generic[Req, Rep]):
    """``await service(request) -> response``; ``await close()`` releases what it holds.

    The asyncio twin of ``Service``: same contract, awaited. Kept a separate class (not a flag
    on ``Service``) so the type checker, and ``Stack``, can tell which chain a filter belongs
    to: a sync filter cannot call an awaitable service, nor the other way round.
    """

    @abc.abstractmethod
    def __call__(self, request: Req) -> Awaitable[Rep]:
        """Handle one request (implement it as ``async def``). Failures are raised."""

    async def close(self) -> None:
        """Release resources; later calls may fail. Idempotent."""

    @staticmethod
    def from_function(fn: Callable[[Req], Awaitable[Rep]]) -> AsyncService[Req, Rep]:
        """Wrap an ``async def fn(request)`` (handy for tests and tiny terminals)."""
        return AsyncFunctionService(fn)


class AsyncFunctionService(AsyncService[Req, Rep]):
    """An async service backed by ``async def fn(request)``."""

    def __init__(self, fn: Callable[[Req], Awaitable[Rep]]) -> None:
        self._fn = fn

    async def __call__(self, request: Req) -> Rep:
        return await self._fn(request)

    def __repr__(self) -> str:
        return f"AsyncFunctionService({getattr(self._fn, '__qualname__', self._fn)!r})"
