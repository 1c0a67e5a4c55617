"""Handlers the pre-fork tests serve (imported by the workers, never by the supervisor)."""

from __future__ import annotations

import asyncio
import os
import time

VERSION = "v1"
#: When set, every add/slow call appends one line ``add A B`` / ``slow VALUE`` here (O_APPEND:
#: whole lines from any number of processes), so a test can count how often each call ran.
CALL_LOG = os.environ.get("PREFORK_CALL_LOG")


def record(line: str) -> None:
    if CALL_LOG:
        fd = os.open(CALL_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{line}\n".encode())
        finally:
            os.close(fd)


class Handler:
    """Plain methods: run in the threadpool worker's pool, or the asyncio worker's threads."""

    def pid(self) -> int:
        return os.getpid()

    def add(self, a: int, b: int) -> int:
        record(f"add {a} {b}")
        return a + b

    def slow(self, seconds: float, value: int) -> int:
        record(f"slow {value}")
        time.sleep(seconds)
        return value

    def version(self) -> str:
        return VERSION

    def runtime(self) -> str:
        return "thread"


class AsyncHandler:
    """``async def`` methods: awaited on the asyncio worker's loop."""

    async def pid(self) -> int:
        return os.getpid()

    async def add(self, a: int, b: int) -> int:
        record(f"add {a} {b}")
        return a + b

    async def slow(self, seconds: float, value: int) -> int:
        record(f"slow {value}")
        await asyncio.sleep(seconds)
        return value

    async def version(self) -> str:
        return VERSION

    async def runtime(self) -> str:
        loop = asyncio.get_running_loop()
        return f"{type(loop).__module__}.{type(loop).__name__}"
