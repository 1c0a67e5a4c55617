"""Thrift-over-HTTP apps the HTTP tests serve, in this process or under a real gunicorn/uvicorn.

``gunicorn tests.web.http_apps:wsgi_app`` and ``uvicorn tests.web.http_apps:asgi_app`` import
this module by name; ``SF_HTTP_PROTOCOL`` picks the protocol (default binary). The handler
adds two probes to the Store handler of the driver tests:

- ``echo("peer?")`` answers the caller's address as the server saw it (``host:port``): one
  TCP connection per distinct port, which is how the tests count connections;
- ``fire("block:PATH")`` (oneway) waits until PATH exists (at most 20 s) before it counts,
  so a test can hold a oneway handler while it checks that the call was already answered.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import swordfish
from swordfish.rpc import current_request
from swordfish.web import ThriftASGIApp, ThriftWSGIApp

store = swordfish.load(str(Path(__file__).parents[1] / "drivers" / "store.thrift"))
PROTOCOL = os.environ.get("SF_HTTP_PROTOCOL", "binary")


class Handler:
    """Every Store method, plain (runs in WSGI workers and in the ASGI app's threads)."""

    def __init__(self) -> None:
        self.fired_count = 0

    def ping(self) -> None:
        return None

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, text: str) -> str:
        if text == "peer?":
            request = current_request()
            assert request is not None
            return request.context.peer or ""
        return text

    def echo_binary(self, data: bytes) -> bytes:
        return data

    def roundtrip(self, shape: Any) -> Any:
        return shape

    def many(self, n: int) -> list[Any]:
        return [store.Shape(name=f"s{i}", points=[store.Point(x=i, y=-i)]) for i in range(n)]

    def nested(self, m: dict[str, list[int]]) -> dict[str, list[int]]:
        return {k: list(reversed(v)) for k, v in m.items()}

    def pick(self, number: bool) -> Any:
        return store.Value(num=7) if number else store.Value(text="seven")

    def get(self, key: str) -> str:
        if key == "missing":
            raise store.NotFound(key=key)
        return f"value of {key}"

    def boom(self, kind: str) -> int:
        raise ValueError("kaboom")

    def slow(self, seconds: float, value: int) -> int:
        time.sleep(seconds)
        return value

    def fire(self, tag: str) -> None:
        if tag.startswith("block:"):
            path = Path(tag[len("block:") :])
            deadline = time.monotonic() + 20
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.fired_count += 1

    def fired(self) -> int:
        return self.fired_count


class AsyncHandler(Handler):
    """The same, with ``add``, ``slow`` and ``fire`` as ``async def`` (awaited on the loop)."""

    async def add(self, a: int, b: int) -> int:  # type: ignore[override]
        await asyncio.sleep(0)
        return a + b

    async def slow(self, seconds: float, value: int) -> int:  # type: ignore[override]
        await asyncio.sleep(seconds)
        return value

    async def fire(self, tag: str) -> None:  # type: ignore[override]
        if tag.startswith("block:"):
            path = Path(tag[len("block:") :])
            deadline = time.monotonic() + 20
            while not path.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        self.fired_count += 1


wsgi_app = ThriftWSGIApp(store.Store, Handler(), protocol=PROTOCOL)
asgi_app = ThriftASGIApp(store.Store, AsyncHandler(), protocol=PROTOCOL, body_timeout=3.0)
