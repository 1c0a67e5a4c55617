"""Choosing the event loop: the stdlib's asyncio loop or uvloop (an optional dependency).

``make_aio_server`` and friends run on whatever loop is running; this module is for the code
that *starts* a loop (``swordfish serve --loop uvloop``, benchmarks, scripts)::

    swordfish.aio.run(main(), loop="uvloop")
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LOOPS", "new_event_loop", "run"]

T = TypeVar("T")

#: ``loop=`` values.
LOOPS = ("asyncio", "uvloop")


def new_event_loop(loop: str = "asyncio") -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind; "uvloop" needs ``pip install swordfish[aio]``."""
    if loop == "asyncio":
        return asyncio.new_event_loop()
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise RuntimeError(
                "loop='uvloop' needs the uvloop package (pip install 'swordfish[aio]')"
            ) from exc
        new: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return new
    raise ValueError(f"unknown loop {loop!r}; choose one of: {', '.join(LOOPS)}")


def run(main: Coroutine[Any, Any, T], *, loop: str = "asyncio", debug: bool | None = None) -> T:
    """``asyncio.run(main)`` on a loop of the named kind."""
    if loop not in LOOPS:
        main.close()  # never started: close it so Python does not warn it was never awaited
        raise ValueError(f"unknown loop {loop!r}; choose one of: {', '.join(LOOPS)}")
    with asyncio.Runner(loop_factory=lambda: new_event_loop(loop), debug=debug) as runner:
        return runner.run(main)
