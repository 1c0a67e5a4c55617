"""Shared pieces of the driver tests: the Store IDL, its handler, and the config matrix."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.model import ApplicationExceptionType, TApplicationException
from swordfish.sync._common import MODELS, TRANSPORTS

PROTOCOLS = ("binary", "compact")
IDL = Path(__file__).with_name("store.thrift")

CONFIGS = [
    pytest.param((m, p, t), id=f"{m}-{p}-{t}")
    for m in MODELS
    for p in PROTOCOLS
    for t in TRANSPORTS
]


@pytest.fixture(scope="session")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


class StoreHandler:
    """Implements every Store method; records what oneway calls and slow calls did."""

    def __init__(self, mod: ModuleType) -> None:
        self.mod = mod
        self.lock = threading.Lock()
        self.fired_tags: list[str] = []
        self.slow_started = threading.Event()

    def ping(self) -> None:
        return None

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, text: str) -> str:
        return text

    def echo_binary(self, data: bytes) -> bytes:
        return data

    def roundtrip(self, shape: Any) -> Any:
        return shape

    def many(self, n: int) -> list[Any]:
        m = self.mod
        return [m.Shape(name=f"s{i}", points=[m.Point(x=i, y=-i)]) for i in range(n)]

    def nested(self, m: dict[str, list[int]]) -> dict[str, list[int]]:
        return {k: list(reversed(v)) for k, v in m.items()}

    def pick(self, number: bool) -> Any:
        return self.mod.Value(num=7) if number else self.mod.Value(text="seven")

    def get(self, key: str) -> str:
        if key == "missing":
            raise self.mod.NotFound(key=key)
        if key == "bad":
            raise self.mod.Invalid(code=400, why="bad key")
        return f"value of {key}"

    def boom(self, kind: str) -> Any:
        if kind == "value":
            raise ValueError("kaboom")
        if kind == "type":
            return "not an int"
        if kind == "overflow":
            return 2**40
        if kind == "app":
            raise TApplicationException("told you so", ApplicationExceptionType.PROTOCOL_ERROR)
        return 0

    def slow(self, seconds: float, value: int) -> int:
        self.slow_started.set()
        time.sleep(seconds)
        return value

    def fire(self, tag: str) -> None:
        with self.lock:
            self.fired_tags.append(tag)

    def fired(self) -> int:
        with self.lock:
            return len(self.fired_tags)


class SharedTags:
    """A list of tags that forked server processes append to: one line each, in a file.

    ``StoreHandler`` records oneway calls in a list; under ``model="forking"`` the calls run
    in child processes, whose appends the test process would never see. Appends are single
    ``O_APPEND`` writes, so concurrent children cannot interleave within a line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(b"")

    def append(self, tag: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, tag.encode() + b"\n")
        finally:
            os.close(fd)

    def _tags(self) -> list[str]:
        return self.path.read_text().splitlines()

    def __len__(self) -> int:
        return len(self._tags())

    def __eq__(self, other: object) -> bool:
        return self._tags() == other

    def __repr__(self) -> str:
        return repr(self._tags())


class ProcessEvent:
    """``threading.Event``'s ``set``/``wait`` across fork: one byte in an inherited pipe."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)

    def set(self) -> None:
        try:
            os.write(self._w, b"x")
        except BlockingIOError:
            pass  # the pipe is full of earlier sets: it is set already

    def is_set(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        readable, _, _ = select.select([self._r], [], [], timeout)
        return bool(readable)  # never read: once set, it stays set

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class ForkSafeStoreHandler(StoreHandler):
    """``StoreHandler`` whose records reach the test process from forked server children."""

    def __init__(self, mod: ModuleType, tags_file: Path) -> None:
        super().__init__(mod)
        self.fired_tags = SharedTags(tags_file)  # type: ignore[assignment]
        self.slow_started = ProcessEvent()  # type: ignore[assignment]


def raw_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    return sock


def closed_by_peer(sock: socket.socket, within: float = 3.0) -> bool:
    """Read until EOF; True if the peer closed (or reset) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


@pytest.fixture
def served(store: ModuleType, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A server for one (model, protocol, transport), with helpers; stopped afterwards.

    Under ``forking`` every call runs in a child process, so the handler records what ran
    where the test process can read it (``ForkSafeStoreHandler``) and the scenarios that
    check those records run unchanged for that model too.
    """
    model, protocol, transport = request.param
    if model == "forking":
        handler: StoreHandler = ForkSafeStoreHandler(store, tmp_path / "fired_tags")
    else:
        handler = StoreHandler(store)
    server = swordfish.make_server(
        store.Store,
        handler,
        port=0,
        protocol=protocol,
        transport=transport,
        model=model,
    )
    server.start()
    env = Env(store, handler, server, model, protocol, transport)
    try:
        yield env
    finally:
        env.close_clients()
        server.stop(timeout=2)
        if isinstance(handler, ForkSafeStoreHandler):
            assert isinstance(handler.slow_started, ProcessEvent)
            handler.slow_started.close()


class Env:
    def __init__(
        self,
        mod: ModuleType,
        handler: StoreHandler,
        server: Any,
        model: str,
        protocol: str,
        transport: str,
    ) -> None:
        self.mod = mod
        self.handler = handler
        self.server = server
        self.model = model
        self.protocol = protocol
        self.transport = transport
        self._clients: list[Any] = []

    def client(self, service: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 5.0)
        client = swordfish.make_client(
            service or self.mod.Store,
            port=self.server.port,
            protocol=self.protocol,
            transport=self.transport,
            **kwargs,
        )
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
