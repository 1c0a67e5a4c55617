"""The client proxy: ``stub.add(1, 2)`` -> args struct -> ``Request`` -> stack -> value.

The stub turns Python calls into requests for a service (normally a filter stack ending in a
driver's connection) and turns the result struct back into Python: the ``success`` value, the
declared exception raised, ``None`` for void, and ``TApplicationException(MISSING_RESULT)``
when a non-void method answered with nothing set (what Apache Thrift clients do too).

A stub has no public attributes of its own, so every IDL method name is reachable on it,
including names such as ``close`` that a client object also uses.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..model.application import ApplicationExceptionType, TApplicationException
from ..model.service import MethodSpec, ServiceSpec
from ..model.struct import Struct
from .context import SCOPE_VAR, outgoing_headers, record_reply_headers
from .request import Context, Request, Response
from .service import Service

__all__ = ["IDLMethodAttributes", "MethodTable", "Stub", "StubMethod", "build_args", "unwrap"]


def build_args(method: MethodSpec, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Struct:
    """The args struct for a call, with errors that name the method, not the struct class."""
    names = method.arg_names
    if len(args) > len(names):
        raise TypeError(
            f"{method.name}() takes at most {len(names)} argument(s) ({len(args)} given)"
        )
    for key in kwargs:
        if key not in names:
            raise TypeError(f"{method.name}() got an unexpected argument {key!r}")
        if names.index(key) < len(args):
            raise TypeError(f"{method.name}() got multiple values for argument {key!r}")
    return method.args(*args, **kwargs)


def unwrap(method: MethodSpec, result: Response) -> Any:
    """The call's value from its result struct, or raise the declared exception it carries."""
    if method.oneway:
        return None
    if result is None:
        raise TApplicationException(
            f"{method.name}: no result", ApplicationExceptionType.MISSING_RESULT
        )
    if method.returns is not None:
        value = getattr(result, "success", None)
        if value is not None:
            return value
    for f in method.throws:
        exc = getattr(result, f.name, None)
        if exc is not None:
            raise exc
    if method.returns is None:
        return None
    raise TApplicationException(
        f"{method.name} failed: unknown result", ApplicationExceptionType.MISSING_RESULT
    )


def _signature(method: MethodSpec) -> inspect.Signature:
    params = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        for n in method.arg_names
    ]
    return inspect.Signature(params)


class StubMethod:
    """One remote method, callable like a local function."""

    __slots__ = ("__signature__", "_invoke", "method")

    def __init__(self, method: MethodSpec, invoke: Callable[[MethodSpec, Struct], Any]) -> None:
        self.method = method
        self._invoke = invoke
        self.__signature__ = _signature(method)

    @property
    def __name__(self) -> str:
        return self.method.name

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        ret = self.method.returns.describe() if self.method.returns is not None else "void"
        kind = "oneway " if self.method.oneway else ""
        throws = ", ".join(f.type.describe() for f in self.method.throws)
        text = f"{kind}{ret} {self.method.service}.{self.method.name}{self.__signature__}"
        return text + (f" throws ({throws})" if throws else "")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(self.method, build_args(self.method, args, kwargs))

    def __repr__(self) -> str:
        return f"<remote method {self.method.service}.{self.method.name}>"


class MethodTable:
    """Attribute access yields remote methods; the base of the sync and async stubs.

    Method lookups go through ``__getattr__`` (reached only when normal lookup fails), so IDL
    method names never collide with the stub's own ``_sf_``-prefixed slots.
    """

    __slots__ = ("_sf_methods", "_sf_spec")

    def __init__(self, spec: ServiceSpec, invoke: Callable[[MethodSpec, Struct], Any]) -> None:
        self._sf_spec = spec
        self._sf_methods = {name: StubMethod(m, invoke) for name, m in spec.methods.items()}

    def __getattr__(self, name: str) -> StubMethod:
        try:
            methods = object.__getattribute__(self, "_sf_methods")
        except AttributeError:
            raise AttributeError(name) from None
        try:
            return methods[name]  # type: ignore[no-any-return]
        except KeyError:
            spec = object.__getattribute__(self, "_sf_spec")
            raise AttributeError(f"service {spec.name} has no method {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(self._sf_methods)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._sf_spec.name}: {', '.join(self._sf_methods)}>"


class Stub(MethodTable):
    """Attribute access yields remote methods: ``stub.add(1, 2)``.

    service: where requests go (a driver's terminal service, usually wrapped in filters).
    make_context: builds each call's ``Context`` (the driver sets its deadline there).
    headers: headers sent with every call (read at each call, so the owner may change the
        mapping later), overlaid with those of the current ``call_headers`` scope; the reply's
        headers are recorded in that scope (``scope.reply``), even when the call raises.
    """

    __slots__ = ("_sf_headers", "_sf_make_context", "_sf_service")

    def __init__(
        self,
        spec: ServiceSpec,
        service: Service[Request, Response],
        *,
        make_context: Callable[[MethodSpec], Context] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._sf_service = service
        self._sf_make_context = make_context
        self._sf_headers = headers
        super().__init__(spec, self._sf_invoke)

    def _sf_invoke(self, method: MethodSpec, args: Struct) -> Any:
        make = self._sf_make_context
        context = make(method) if make is not None else Context()
        if not self._sf_headers and SCOPE_VAR.get() is None:  # no headers: the hot path
            return unwrap(method, self._sf_service(Request(method, args, {}, context)))
        request = Request(method, args, outgoing_headers(self._sf_headers) or {}, context)
        try:
            return unwrap(method, self._sf_service(request))
        finally:
            record_reply_headers(request.context.reply_headers)


class IDLMethodAttributes:
    """Mixin for client fronts: IDL methods as attributes (``client.add(1, 2)``).

    Attribute lookup reaches the stub only for names the client does not have itself, and
    never for dunder names or the attributes a client sets in ``__init__`` (``_sf_own``: while
    ``__init__`` runs they do not exist yet, and a lookup must not recurse into the stub).
    ``dir()`` lists the IDL methods, for completion in a REPL.
    """

    #: Attributes the client sets itself; a missing one is an AttributeError, never a stub call.
    _sf_own: tuple[str, ...] = ("stub", "service", "connection", "headers")
    stub: Any
    service: ServiceSpec

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in type(self)._sf_own:
            raise AttributeError(name)
        return getattr(self.stub, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.service.methods))
