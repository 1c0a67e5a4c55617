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
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeAlias, TypeVar, overload

from .request import Request, Response
from .service import Service, ServiceStatus

__all__ = [
    "AnyFilter",
    "Filter",
    "FilteredService",
    "FunctionFilter",
    "RpcFilter",
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


class Filter(abc.ABC, Generic[ReqIn, RepOut, ReqOut, RepIn]):
    """Wraps a service: receives ``ReqIn``, calls a ``Service[ReqOut, RepIn]``, returns ``RepOut``.

    Subclasses implement ``__call__`` and set ``role`` and ``description`` (class attributes;
    an instance may override them).
    """

    role: str = "filter"
    description: str = ""

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
        if isinstance(next, Filter):
            return _AndThen(self, next)
        if isinstance(next, Service):
            return FilteredService(self, next)
        raise TypeError(
            f"and_then() takes a Filter or a Service, not {type(next).__name__} "
            "(wrap a plain function with Service.from_function)"
        )

    @staticmethod
    def from_function(
        fn: Callable[[ReqIn, Service[ReqOut, RepIn]], RepOut],
        *,
        role: str,
        description: str = "",
    ) -> Filter[ReqIn, RepOut, ReqOut, RepIn]:
        """A filter from ``fn(request, service) -> response``."""
        return FunctionFilter(fn, role=role, description=description)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} role={self.role!r}>"


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
        self.role = f"{outer.role}+{inner.role}"
        self.description = f"{outer.role} then {inner.role}"

    def __call__(self, request: ReqIn, service: Service[Req2, Rep2]) -> RepOut:
        return self.outer(request, FilteredService(self.inner, service))


AnyFilter: TypeAlias = Filter[Any, Any, Any, Any]


class Stack:
    """An ordered, printable list of filters with unique roles (outermost first).

    Stacks are immutable: ``replace``/``remove``/``insert_*``/``append``/``prepend`` return a
    new stack, so a shared default stack cannot be edited under another user's feet.
    """

    __slots__ = ("_filters",)

    def __init__(self, filters: Iterable[AnyFilter] = ()) -> None:
        items = tuple(filters)
        seen: set[str] = set()
        for f in items:
            if not isinstance(f, Filter):
                raise TypeError(f"a Stack holds Filters, not {type(f).__name__}")
            if f.role in seen:
                raise ValueError(f"duplicate role {f.role!r} in stack")
            seen.add(f.role)
        self._filters = items

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(f.role for f in self._filters)

    @property
    def filters(self) -> tuple[AnyFilter, ...]:
        return self._filters

    def __len__(self) -> int:
        return len(self._filters)

    def __iter__(self) -> Iterator[AnyFilter]:
        return iter(self._filters)

    def __contains__(self, role: object) -> bool:
        return any(f.role == role for f in self._filters)

    def __getitem__(self, role: str) -> AnyFilter:
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

    def replace(self, role: str, new: AnyFilter) -> Stack:
        """The stack with the filter of ``role`` swapped for ``new`` (same position)."""
        i = self._index(role)
        return Stack(self._filters[:i] + (new,) + self._filters[i + 1 :])

    def remove(self, role: str) -> Stack:
        i = self._index(role)
        return Stack(self._filters[:i] + self._filters[i + 1 :])

    def insert_before(self, role: str, new: AnyFilter) -> Stack:
        i = self._index(role)
        return Stack(self._filters[:i] + (new,) + self._filters[i:])

    def insert_after(self, role: str, new: AnyFilter) -> Stack:
        i = self._index(role)
        return Stack(self._filters[: i + 1] + (new,) + self._filters[i + 1 :])

    def prepend(self, new: AnyFilter) -> Stack:
        """``new`` becomes the outermost filter."""
        return Stack((new,) + self._filters)

    def append(self, new: AnyFilter) -> Stack:
        """``new`` becomes the innermost filter (closest to the terminal service)."""
        return Stack(self._filters + (new,))

    def build(self, service: Service[Any, Any]) -> Service[Any, Any]:
        """Wrap ``service`` in every filter; the first filter ends up outermost."""
        for f in reversed(self._filters):
            service = FilteredService(f, service)
        return service

    def __str__(self) -> str:
        if not self._filters:
            return "Stack (empty)"
        width = max(len(r) for r in self.roles)
        lines = ["Stack (outermost first):"]
        for i, f in enumerate(self._filters, 1):
            desc = f"  {f.description}" if f.description else ""
            lines.append(f"  {i}. {f.role:<{width}}{desc}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Stack({list(self.roles)!r})"
