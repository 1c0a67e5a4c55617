"""A handler the CLI tests import by name (``tests.cli.handler:Handler``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import swordfish

store = swordfish.load(Path(__file__).parents[1] / "drivers" / "store.thrift")


class Handler:
    def ping(self) -> None:
        pass

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, text: str) -> str:
        return text

    def echo_binary(self, data: bytes) -> bytes:
        return data

    def roundtrip(self, shape: Any) -> Any:
        return shape

    def nested(self, m: dict[str, list[int]]) -> dict[str, list[int]]:
        return m

    def get(self, key: str) -> str:
        if key == "missing":
            raise store.NotFound(key=key)
        return key

    def boom(self, kind: str) -> int:
        raise ValueError(kind)

    def slow(self, seconds: float, value: int) -> int:
        time.sleep(seconds)
        return value


class Broken:
    def __init__(self) -> None:
        raise RuntimeError("no config")


instance = Handler()
