"""The server's terminal service: run the user's handler method for a request.

Mapping rules (the contract every server driver relies on):

- ``handler.<method>(*args)`` is called with the arguments in IDL declaration order.
- Its return value becomes ``result.success`` (ignored for void methods).
- An exception that is an instance of one of the method's declared ``throws`` types is put in
  that result field: it is an *answer*, sent as a normal reply.
- A ``TApplicationException`` raised by the handler is passed through as-is.
- Any other exception becomes ``TApplicationException(INTERNAL_ERROR, "<Type>: <message>")``
  and is logged with its traceback: the client learns the call failed, not our internals'
  layout, and the server keeps serving.
- A handler without the method: ``TApplicationException(UNKNOWN_METHOD)``.
- Oneway calls run the same way but never produce a reply; their failures are only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from .context import use_request
from .options import resolve_service
from .request import Request, Response
from .service import Service

__all__ = ["Dispatcher", "Router", "handler_method", "resolve_services"]

log = logging.getLogger("swordfish.dispatch")


def handler_method(handler: object, method: MethodSpec) -> Callable[..., Any] | None:
    """The handler's callable for ``method``, or ``None`` when it does not implement it."""
    fn = getattr(handler, method.name, None)
    return fn if callable(fn) else None


class Dispatcher(Service[Request, Response]):
    """Calls ``handler.<method>(*args)`` and builds the result struct (see module docstring)."""

    role = "dispatch"
    description = "runs the handler method and maps its outcome onto the result struct"

    def __init__(self, service: ServiceSpec, handler: object) -> None:
        self.service = service
        self.handler = handler
        # Declared exception classes per method, precomputed: (class, result field name).
        self._throws: dict[str, tuple[tuple[type, str], ...]] = {}
        for name, m in service.methods.items():
            pairs = []
            for f in m.throws:
                cls = f.type.struct
                if cls is not None:
                    pairs.append((cls, f.name))
            self._throws[name] = tuple(pairs)

    # The pieces below are public so that a driver which must call the handler its own way
    # (the asyncio server awaits coroutine handlers) reuses the exact same mapping rules.

    def lookup(self, method: MethodSpec) -> Callable[..., Any]:
        """The handler's callable for ``method``; ``TApplicationException`` when it has none."""
        fn = handler_method(self.handler, method)
        if fn is None:
            log.warning(
                "%s has no method %r for %s.%s",
                type(self.handler).__name__,
                method.name,
                method.service,
                method.name,
            )
            raise TApplicationException(
                f"{method.service}.{method.name} is not implemented by the server",
                ApplicationExceptionType.UNKNOWN_METHOD,
            )
        return fn

    @staticmethod
    def arguments(request: Request) -> list[Any]:
        """The handler's positional arguments, in IDL declaration order."""
        args = request.args
        return [getattr(args, n) for n in request.method.arg_names]

    @staticmethod
    def success(method: MethodSpec, value: Any) -> Response:
        """The result struct for a handler that returned ``value`` (``None`` for oneway)."""
        if method.oneway:
            return None
        assert method.result is not None
        if method.returns is None:
            return method.result()
        return method.result(success=value)

    def failure(self, request: Request, exc: Exception) -> Response:
        """The outcome of a handler that raised ``exc``: a result struct, or a raise."""
        method = request.method
        if method.oneway:
            log.error("oneway %s.%s failed", method.service, method.name, exc_info=exc)
            return None
        if isinstance(exc, TApplicationException):
            raise exc
        return self._failure(request, method, exc)

    def __call__(self, request: Request) -> Response:
        method = request.method
        fn = self.lookup(method)
        values = self.arguments(request)
        with use_request(request):
            try:
                value = fn(*values)
            except Exception as exc:
                return self.failure(request, exc)
        return self.success(method, value)

    def _failure(self, request: Request, method: MethodSpec, exc: Exception) -> Struct:
        for cls, field_name in self._throws[method.name]:
            if isinstance(exc, cls):
                assert method.result is not None
                return method.result(**{field_name: exc})
        log.error(
            "%s.%s raised an undeclared %s (peer %s)",
            method.service,
            method.name,
            type(exc).__name__,
            request.context.peer or "unknown",
            exc_info=exc,
        )
        raise TApplicationException(
            f"{type(exc).__name__}: {exc}", ApplicationExceptionType.INTERNAL_ERROR
        ) from exc

    def __repr__(self) -> str:
        return f"Dispatcher({self.service.name}, {type(self.handler).__name__})"


class Router(Service[Request, Response]):
    """A multiplexed server's terminal: each call goes to its own service's terminal.

    routes maps the multiplexed name (``Request.service``) to that service's terminal: a
    ``Dispatcher`` or a ``Service`` used as it is. The engine has already answered calls to
    names it does not serve; one that still arrives here (a filter rewrote ``service``) gets
    ``TApplicationException(UNKNOWN_METHOD)``.
    """

    role = "dispatch"
    description = "routes each call to the dispatcher of the service it names"

    def __init__(self, routes: dict[str, Service[Request, Response]]) -> None:
        self.routes = routes

    def route(self, request: Request) -> Service[Request, Response]:
        """The terminal for ``request``; ``TApplicationException`` when none serves it."""
        target = self.routes.get(request.service) if request.service is not None else None
        if target is None:
            raise TApplicationException(
                f"Service name not found: {request.service!r}",
                ApplicationExceptionType.UNKNOWN_METHOD,
            )
        return target

    def __call__(self, request: Request) -> Response:
        return self.route(request)(request)

    def close(self) -> None:
        for target in self.routes.values():
            target.close()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={target!r}" for name, target in self.routes.items())
        return f"Router({inner})"


def resolve_services(
    services: Mapping[str, tuple[object, object]],
) -> dict[str, tuple[ServiceSpec, object]]:
    """``{"Calc": (calc.Calculator, handler), ...}`` -> ``{"Calc": (spec, handler), ...}``.

    What a multiplexed server is given: each name (the prefix callers put before ``:``) with
    its service (a loaded service class or a ``ServiceSpec``) and its handler.
    """
    if not isinstance(services, Mapping) or not services:
        raise ValueError(
            f"services must be a non-empty mapping of name -> (service, handler), got {services!r}"
        )
    resolved: dict[str, tuple[ServiceSpec, object]] = {}
    for name, pair in services.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"service name must be a non-empty str without ':', got {name!r}")
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"services[{name!r}] must be a (service, handler) pair, got {pair!r}")
        resolved[name] = (resolve_service(pair[0]), pair[1])
    return resolved
