"""Shared pieces of the asyncio driver tests: both loops, async handler, raw-socket helpers.

Tests are plain functions that run one coroutine on a fresh loop of the parametrized kind
(``run(main(), loop)``), so every scenario runs on the stdlib loop and on uvloop without a
pytest plugin. Real loopback sockets throughout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

import pytest

import swordfish
from swordfish.aio import run
from tests.drivers.conftest import IDL, StoreHandler

T = TypeVar("T")

LOOP_NAMES = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOP_NAMES)
def loop_name(request: pytest.FixtureRequest, require: Any) -> str:
    if request.param == "uvloop":
        require.module("uvloop")
    return str(request.param)


@pytest.fixture(scope="session")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


@pytest.fixture
def arun(loop_name: str) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine to completion on a new loop of this test's kind (bounded in time)."""

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(60):
                return await coro

        return run(bounded(), loop=loop_name)

    return runner


class AsyncStoreHandler(StoreHandler):
    """The Store handler with coroutine methods where waiting matters."""

    def __init__(self, mod: ModuleType) -> None:
        super().__init__(mod)
        self.finished: list[int] = []
        self.gate: asyncio.Event | None = None
        self.running = 0
        self.max_running = 0

    async def add(self, a: int, b: int) -> int:  # type: ignore[override]
        return a + b

    async def slow(self, seconds: float, value: int) -> int:  # type: ignore[override]
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if seconds < 0 and self.gate is not None:
                await self.gate.wait()  # negative: wait for the test to open the gate
            else:
                await asyncio.sleep(seconds)
        finally:
            self.running -= 1
        self.finished.append(value)
        return value

    async def get(self, key: str) -> str:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().get(key)


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_by_peer(reader: asyncio.StreamReader, within: float = 3.0) -> bool:
    """Read until EOF; True if the server closed (or reset) within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True
