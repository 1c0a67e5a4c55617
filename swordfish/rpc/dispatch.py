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
from collections.abc import Callable
from typing import Any

from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct, new_blank
from .context import use_request
from .request import Request, Response
from .service import Service

__all__ = ["Dispatcher", "handler_method"]

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

    def __call__(self, request: Request) -> Response:
        method = request.method
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
        args = request.args
        values = [getattr(args, n) for n in method.arg_names]
        with use_request(request):
            try:
                value = fn(*values)
            except TApplicationException:
                if method.oneway:
                    log.exception("oneway %s.%s failed", method.service, method.name)
                    return None
                raise
            except Exception as exc:
                if method.oneway:
                    log.exception("oneway %s.%s failed", method.service, method.name)
                    return None
                return self._failure(request, method, exc)
        if method.oneway:
            return None
        assert method.result is not None
        result = new_blank(method.result)
        if method.returns is not None:
            object.__setattr__(result, "success", value)
        return result

    def _failure(self, request: Request, method: MethodSpec, exc: Exception) -> Struct:
        for cls, field_name in self._throws[method.name]:
            if isinstance(exc, cls):
                assert method.result is not None
                result = new_blank(method.result)
                object.__setattr__(result, field_name, exc)
                return result
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
