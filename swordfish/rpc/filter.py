"""Filters and stacks: how cross-cutting behaviour wraps a ``Service``.

Finagle's contract. A ``Filter`` is ``(request, service) -> response``: it may change the
request, call ``service`` zero or more times, and change or replace the response. Filters
compose with ``and_then``: ``f.and_then(g)`` is a filter, ``f.and_then(svc)`` is a service.
A filter may change types (``Filter[ReqIn, RepOut, ReqOut, RepIn]``), so a step such as
serialization can be one more link in the chain; ``SimpleFilter[Req, Rep]`` keeps them.

Every filter has a ``role`` (a short stable name, used to find and replace it) and a
one-sentence ``description``. A ``Stack`` is an ordered list of filters with unique roles: it
can be printed, and modules can be inserted, removed or replaced by role before it is built
around a terminal service. The first filter of a stack is the outermost: it sees each request
first and each response last.

``AsyncFilter`` is the same contract for the asyncio drivers: ``await filter(request,
service)`` around an ``AsyncService``. Sync and async filters share everything but the call
(role, description, composition rules, the ``Stack`` that orders them); they do not mix in
one chain, because a sync filter cannot wait for an async service. A stack holds one kind:
``build`` wraps a ``Service``, ``build_async`` an ``AsyncService``.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, TypeAlias, TypeVar, overload

from .request import Request, Response
from .service import AsyncService, Service, ServiceStatus

__all__ = [
    "AnyAsyncFilter",
    "AnyFilter",
    "AsyncFilter",
    "AsyncFilteredService",
    "AsyncFunctionFilter",
    "AsyncRpcFilter",
    "Filter",
    "FilteredService",
    "FunctionFilter",
    "RpcFilter",
    "SimpleAsyncFilter",
    "SimpleFilter",
    "Stack",
]

ReqIn = TypeVar("ReqIn")
RepOut = TypeVar("RepOut")
ReqOut = TypeVar("ReqOut")
RepIn = TypeVar("RepIn")
Req2 = TypeVar("Req2")
Rep2 = TypeVar("Rep2")
Req = TypeVar("Req")
Rep = TypeVar("Rep")


class _Named:
    """What every filter has, sync or async: a ``role`` and a one-sentence ``description``."""

    role: str = "filter"
    description: str = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} role={self.role!r}>"


def _compose(
    outer: _Named,
    next: object,
    filter_type: type,
    service_type: type,
    chain: Callable[[Any, Any], Any],
    wrap: Callable[[Any, Any], Any],
) -> Any:
    """``outer.and_then(next)`` for either flavour: a longer filter, or a service."""
    if isinstance(next, filter_type):
        return chain(outer, next)
    if isinstance(next, service_type):
        return wrap(outer, next)
    if isinstance(next, (_Named, Service, AsyncService)):
        kind = "an async" if filter_type is AsyncFilter else "a sync"
        raise TypeError(
            f"and_then(): {kind} filter cannot wrap {type(next).__name__} "
            "(sync and async filters and services do not mix in one chain)"
        )
    a = "an" if filter_type is AsyncFilter else "a"
    raise TypeError(
        f"and_then() takes {a} {filter_type.__name__} or {a} {service_type.__name__}, "
        f"not {type(next).__name__} (wrap a plain function with "
        f"{service_type.__name__}.from_function)"
    )


class Filter(_Named, abc.ABC, Generic[ReqIn, RepOut, ReqOut, RepIn]):
    """Wraps a service: receives ``ReqIn``, calls a ``Service[ReqOut, RepIn]``, returns ``RepOut``.

    Subclasses implement ``__call__`` and set ``role`` and ``description`` (class attributes;
    an instance may override them).
    """

    @abc.abstractmethod
    def __call__(self, request: ReqIn, service: Service[ReqOut, RepIn]) -> RepOut:
        """Handle ``request``, usually by calling ``service`` with it (or a changed copy)."""

    @overload
    def and_then(
        self, next: Filter[ReqOut, RepIn, Req2, Rep2]
    ) -> Filter[ReqIn, RepOut, Req2, Rep2]: ...

    @overload
    def and_then(self, next: Service[ReqOut, RepIn]) -> Service[ReqIn, RepOut]: ...

    def and_then(self, next: Any) -> Any:
        """Compose: ``self`` runs first (outside), ``next`` inside it."""
        return _compose(self, next, Filter, Service, _AndThen, FilteredService)

    @staticmethod
    def from_function(
        fn: Callable[[ReqIn, Service[ReqOut, RepIn]], RepOut],
        *,
        role: str,
        description: str = "",
    ) -> Filter[ReqIn, RepOut, ReqOut, RepIn]:
        """A filter from ``fn(request, service) -> response``."""
        return FunctionFilter(fn, role=role, description=description)


#: A filter that keeps the request and response types.
SimpleFilter: TypeAlias = Filter[Req, Rep, Req, Rep]
#: The filters of an RPC stack: ``Request`` in, result struct (or ``None``) out.
RpcFilter: TypeAlias = Filter[Request, Response, Request, Response]


class FunctionFilter(Filter[ReqIn, RepOut, ReqOut, RepIn]):
    """A filter backed by ``fn(request, service)``."""

    def __init__(
        self,
        fn: Callable[[ReqIn, Service[ReqOut, RepIn]], RepOut],
        *,
        role: str,
        description: str = "",
    ) -> None:
        self._fn = fn
        self.role = role
        self.description = description

    def __call__(self, request: ReqIn, service: Service[ReqOut, RepIn]) -> RepOut:
        return self._fn(request, service)


class FilteredService(Service[ReqIn, RepOut]):
    """``filter`` applied in front of ``service``; closing it closes the service."""

    def __init__(
        self, filter: Filter[ReqIn, RepOut, ReqOut, RepIn], service: Service[ReqOut, RepIn]
    ) -> None:
        self.filter = filter
        self.service = service

    def __call__(self, request: ReqIn) -> RepOut:
        return self.filter(request, self.service)

    def close(self) -> None:
        self.service.close()

    @property
    def status(self) -> ServiceStatus:
        return self.service.status

    def __repr__(self) -> str:
        return f"FilteredService({self.filter!r}, {self.service!r})"


class _AndThen(Filter[ReqIn, RepOut, Req2, Rep2]):
    """``outer.and_then(inner)``: ``outer`` wraps ``inner``, which wraps the service."""

    def __init__(
        self,
        outer: Filter[ReqIn, RepOut, ReqOut, RepIn],
        inner: Filter[ReqOut, RepIn, Req2, Rep2],
    ) -> None:
        self.outer = outer
        self.inner = inner
        self.role, self.description = _joined(outer, inner)

    def __call__(self, request: ReqIn, service: Service[Req2, Rep2]) -> RepOut:
        return self.outer(request, FilteredService(self.inner, service))


def _joined(outer: _Named, inner: _Named) -> tuple[str, str]:
    """Role and description of ``outer.and_then(inner)``."""
    return f"{outer.role}+{inner.role}", f"{outer.role} then {inner.role}"


AnyFilter: TypeAlias = Filter[Any, Any, Any, Any]


# -- asyncio flavour -----------------------------------------------------------------------------


class AsyncFilter(_Named, abc.ABC, Generic[ReqIn, RepOut, ReqOut, RepIn]):
    """``Filter`` for awaitable services: ``await filter(request, service) -> response``.

    Subclasses implement ``async def __call__`` and set ``role`` and ``description``. Same
    composition rules as ``Filter``: ``f.and_then(g)`` is an ``AsyncFilter``,
    ``f.and_then(service)`` an ``AsyncService``.
    """

    @abc.abstractmethod
    def __call__(self, request: ReqIn, service: AsyncService[ReqOut, RepIn]) -> Awaitable[RepOut]:
        """Handle ``request``, usually by awaiting ``service`` with it (or a changed copy).

        Declared as returning an awaitable so that plain ``async def __call__`` implements it
        and so can a method that hands back another filter's coroutine (no extra frame).
        """

    @overload
    def and_then(
        self, next: AsyncFilter[ReqOut, RepIn, Req2, Rep2]
    ) -> AsyncFilter[ReqIn, RepOut, Req2, Rep2]: ...

    @overload
    def and_then(self, next: AsyncService[ReqOut, RepIn]) -> AsyncService[ReqIn, RepOut]: ...

    def and_then(self, next: Any) -> Any:
        """Compose: ``self`` runs first (outside), ``next`` inside it."""
        return _compose(self, next, AsyncFilter, AsyncService, _AsyncAndThen, AsyncFilteredService)

    @staticmethod
    def from_function(
        fn: Callable[[ReqIn, AsyncService[ReqOut, RepIn]], Awaitable[RepOut]],
        *,
        role: str,
        description: str = "",
    ) -> AsyncFilter[ReqIn, RepOut, ReqOut, RepIn]:
        """A filter from ``async def fn(request, service) -> response``."""
        return AsyncFunctionFilter(fn, role=role, description=description)


#: An async filter that keeps the request and response types.
SimpleAsyncFilter: TypeAlias = AsyncFilter[Req, Rep, Req, Rep]
#: The filters of an asyncio RPC stack: ``Request`` in, result struct (or ``None``) out.
AsyncRpcFilter: TypeAlias = AsyncFilter[Request, Response, Request, Response]


class AsyncFunctionFilter(AsyncFilter[ReqIn, RepOut, ReqOut, RepIn]):
    """An async filter backed by ``async def fn(request, service)``."""

    def __init__(
        self,
        fn: Callable[[ReqIn, AsyncService[ReqOut, RepIn]], Awaitable[RepOut]],
        *,
        role: str,
        description: str = "",
    ) -> None:
        self._fn = fn
        self.role = role
        self.description = description

    async def __call__(self, request: ReqIn, service: AsyncService[ReqOut, RepIn]) -> RepOut:
        return await self._fn(request, service)


class AsyncFilteredService(AsyncService[ReqIn, RepOut]):
    """``filter`` applied in front of an async ``service``; closing it closes the service."""

    def __init__(
        self,
        filter: AsyncFilter[ReqIn, RepOut, ReqOut, RepIn],
        service: AsyncService[ReqOut, RepIn],
    ) -> None:
        self.filter = filter
        self.service = service

    def __call__(self, request: ReqIn) -> Awaitable[RepOut]:
        # Not ``async def``: hand back the filter's own coroutine, so each link of a chain
        # costs one coroutine, not two (the asyncio server steps the outermost one eagerly).
        return self.filter(request, self.service)

    async def close(self) -> None:
        await self.service.close()

    @property
    def status(self) -> ServiceStatus:
        return self.service.status

    def __repr__(self) -> str:
        return f"AsyncFilteredService({self.filter!r}, {self.service!r})"


class _AsyncAndThen(AsyncFilter[ReqIn, RepOut, Req2, Rep2]):
    """``outer.and_then(inner)`` for async filters."""

    def __init__(
        self,
        outer: AsyncFilter[ReqIn, RepOut, ReqOut, RepIn],
        inner: AsyncFilter[ReqOut, RepIn, Req2, Rep2],
    ) -> None:
        self.outer = outer
        self.inner = inner
        self.role, self.description = _joined(outer, inner)

    def __call__(self, request: ReqIn, service: AsyncService[Req2, Rep2]) -> Awaitable[RepOut]:
        return self.outer(request, AsyncFilteredService(self.inner, service))


AnyAsyncFilter: TypeAlias = AsyncFilter[Any, Any, Any, Any]
#: What a ``Stack`` holds: filters of one flavour (see ``Stack``).
StackFilter: TypeAlias = AnyFilter | AnyAsyncFilter


class Stack:
    """An ordered, printable list of filters with unique roles (outermost first).

    Stacks are immutable: ``replace``/``remove``/``insert_*``/``append``/``prepend`` return a
    new stack, so a shared default stack cannot be edited under another user's feet.

    A stack holds sync ``Filter``s (``build`` wraps a ``Service``) or ``AsyncFilter``s
    (``build_async`` wraps an ``AsyncService``), never both: mixing them is a ``TypeError``
    when the stack is made, not a surprise on the first call. The empty stack builds either.
    """

    __slots__ = ("_filters",)

    def __init__(self, filters: Iterable[StackFilter] = ()) -> None:
        items = tuple(filters)
        seen: set[str] = set()
        for f in items:
            if not isinstance(f, (Filter, AsyncFilter)):
                raise TypeError(f"a Stack holds Filters or AsyncFilters, not {type(f).__name__}")
            if f.role in seen:
                raise ValueError(f"duplicate role {f.role!r} in stack")
            seen.add(f.role)
        if items and any(
            isinstance(f, AsyncFilter) != isinstance(items[0], AsyncFilter) for f in items
        ):
            kinds = ", ".join(
                f"{f.role} ({'async' if isinstance(f, AsyncFilter) else 'sync'})" for f in items
            )
            raise TypeError(f"a Stack cannot mix sync and async filters: {kinds}")
        self._filters = items

    @property
    def is_async(self) -> bool:
        """True when the stack holds ``AsyncFilter``s (False when empty)."""
        return bool(self._filters) and isinstance(self._filters[0], AsyncFilter)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(f.role for f in self._filters)

    @property
    def filters(self) -> tuple[StackFilter, ...]:
        return self._filters

    def __len__(self) -> int:
        return len(self._filters)

    def __iter__(self) -> Iterator[StackFilter]:
        return iter(self._filters)

    def __contains__(self, role: object) -> bool:
        return any(f.role == role for f in self._filters)

    def __getitem__(self, role: str) -> StackFilter:
        return self._filters[self._index(role)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stack):
            return NotImplemented
        return self._filters == other._filters

    __hash__ = None  # type: ignore[assignment]

    def _index(self, role: str) -> int:
        for i, f in enumerate(self._filters):
            if f.role == role:
                return i
        raise KeyError(f"no filter with role {role!r} in stack (roles: {list(self.roles)})")

    def replace(self, role: str, new: StackFilter) -> Stack:
        """The stack with the filter of ``role`` swapped for ``new`` (same position)."""
        i = self._index(role)
        return Stack(self._filters[:i] + (new,) + self._filters[i + 1 :])

    def remove(self, role: str) -> Stack:
        i = self._index(role)
        return Stack(self._filters[:i] + self._filters[i + 1 :])

    def insert_before(self, role: str, new: StackFilter) -> Stack:
        i = self._index(role)
        return Stack(self._filters[:i] + (new,) + self._filters[i:])

    def insert_after(self, role: str, new: StackFilter) -> Stack:
        i = self._index(role)
        return Stack(self._filters[: i + 1] + (new,) + self._filters[i + 1 :])

    def prepend(self, new: StackFilter) -> Stack:
        """``new`` becomes the outermost filter."""
        return Stack((new,) + self._filters)

    def append(self, new: StackFilter) -> Stack:
        """``new`` becomes the innermost filter (closest to the terminal service)."""
        return Stack(self._filters + (new,))

    def build(self, service: Service[Any, Any]) -> Service[Any, Any]:
        """Wrap ``service`` in every filter; the first filter ends up outermost."""
        for f in reversed(self._filters):
            if not isinstance(f, Filter):
                raise TypeError(f"{self!r} holds async filters: use build_async()")
            service = FilteredService(f, service)
        return service

    def build_async(self, service: AsyncService[Any, Any]) -> AsyncService[Any, Any]:
        """Wrap an async ``service`` in every filter; the first filter ends up outermost."""
        for f in reversed(self._filters):
            if not isinstance(f, AsyncFilter):
                raise TypeError(f"{self!r} holds sync filters: use build()")
            service = AsyncFilteredService(f, service)
        return service

    def __str__(self) -> str:
        if not self._filters:
            return "Stack (empty)"
        width = max(len(r) for r in self.roles)
        kind = "async, " if self.is_async else ""
        lines = [f"Stack ({kind}outermost first):"]
        for i, f in enumerate(self._filters, 1):
            desc = f"  {f.description}" if f.description else ""
            lines.append(f"  {i}. {f.role:<{width}}{desc}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Stack({list(self.roles)!r})"
