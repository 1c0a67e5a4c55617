"""What a pre-fork worker serves: ``WorkerApp``, built in the worker by the user's factory.

The factory runs in each worker *after* the fork, never in the supervisor. A worker started
by a SIGHUP reload therefore imports the handler's code afresh (whatever the supervisor has
not imported itself), and a handler that opens connections or starts threads does so in the
process that uses them, not in a parent that then forks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["AppFactory", "AppLoadError", "WorkerApp"]


@dataclass(frozen=True)
class WorkerApp:
    """The service, handler and server options of one worker.

    service: a service class from ``swordfish.load()`` (or a ``ServiceSpec``).
    handler: what ``Server``/``AsyncServer`` accept as a handler.
    protocol, transport: wire settings (every worker of a supervisor must agree, since they
        share one listening socket; the factory is the one place that decides them).
    options: further keyword arguments for the worker's server (``idle_timeout``,
        ``filters``, ``limits``, ...); the supervisor sets ``sock``, ``model``, ``workers``
        / ``handler_threads`` itself.
    """

    service: object
    handler: object
    protocol: str = "binary"
    transport: str = "buffered"
    options: Mapping[str, Any] = field(default_factory=dict)


#: A zero-argument callable run in each worker; it may also return ``(service, handler)``.
AppFactory: TypeAlias = Callable[[], "WorkerApp | tuple[object, object]"]


class AppLoadError(Exception):
    """Raised by an app factory for a configuration mistake whose message says it all.

    The worker reports the message alone (no traceback) and the supervisor's
    ``WorkerStartError`` has ``usage=True``; the command line exits with status 2 for it,
    as it does for the same mistake with the other ``--server`` models.
    """


def as_worker_app(value: object) -> WorkerApp:
    """The factory's result as a ``WorkerApp`` (accepting a ``(service, handler)`` pair)."""
    if isinstance(value, WorkerApp):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return WorkerApp(value[0], value[1])
    raise TypeError(
        f"the app factory must return a WorkerApp or a (service, handler) pair, not {value!r}"
    )
