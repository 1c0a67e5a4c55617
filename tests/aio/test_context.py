"""Context variables inside async handlers behave as in any asyncio task.

The server runs a handler's first step eagerly (no task when it does not await); a value the
handler sets must still be its own after an await, resettable with its token, and must not
leak into the next call.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

from swordfish.aio import make_aio_client, make_aio_server

Run = Callable[[Coroutine[Any, Any, Any]], Any]

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("TAG", default="unset")


class Handler:
    def __init__(self) -> None:
        self.seen_at_start: list[str] = []

    async def echo(self, text: str) -> str:
        self.seen_at_start.append(TAG.get())
        token = TAG.set(text)
        await asyncio.sleep(0.01)  # suspends: the rest runs in a task
        value = TAG.get()
        TAG.reset(token)  # fails if the task runs in another context than the first step
        return value

    async def add(self, a: int, b: int) -> int:
        TAG.set("leaked")  # no await: runs entirely eagerly
        return a + b


def test_context_variable_survives_await_and_does_not_leak(arun: Run, store: ModuleType) -> None:
    handler = Handler()

    async def main() -> None:
        server = await make_aio_server(store.Store, handler, "127.0.0.1", 0)
        client = await make_aio_client(store.Store, "127.0.0.1", server.port, timeout=5)
        try:
            assert await client.add(1, 2) == 3
            got = await asyncio.gather(*(client.echo(f"v{i}") for i in range(20)))
            assert got == [f"v{i}" for i in range(20)]
            # Neither the eager handler's value nor any echo's leaked into later calls.
            assert handler.seen_at_start == ["unset"] * 20
        finally:
            await client.close()
            await server.stop(2)

    arun(main())
