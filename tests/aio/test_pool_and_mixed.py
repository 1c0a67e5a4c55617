"""The connection pool, and the asyncio drivers talking to the sync ones (both directions)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import swordfish
from swordfish.aio import make_aio_client, make_aio_pool, make_aio_server
from swordfish.errors import Rejected, TransportError, TransportTimeout
from tests.aio.conftest import AsyncStoreHandler
from tests.drivers.conftest import IDL, StoreHandler
from tests.paths import REPO

Run = Callable[[Any], Any]


def test_pool_bounds_connections_and_waiters(arun: Run, store: ModuleType) -> None:
    handler = AsyncStoreHandler(store)

    async def main() -> None:
        handler.gate = asyncio.Event()
        server = await make_aio_server(store.Store, handler, port=0)
        pool = await make_aio_pool(
            store.Store, port=server.port, min_size=1, max_size=2, max_waiters=1
        )
        try:
            assert pool.size == 1 and pool.idle == 1 and server.connections == 1
            calls = [asyncio.ensure_future(pool.slow(-1, i)) for i in range(3)]
            await asyncio.sleep(0.2)
            assert pool.size == 2 and handler.running == 2  # one call per connection
            with pytest.raises(Rejected, match="busy"):
                await pool.add(1, 1)
            handler.gate.set()
            assert await asyncio.gather(*calls) == [0, 1, 2]
            assert pool.size == 2 and pool.idle == 2
            assert await pool.add(2, 3) == 5
        finally:
            await pool.close()
            await server.stop()

    arun(main())


def test_pool_replaces_dead_connections_after_restart(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        port = server.port
        pool = await make_aio_pool(store.Store, port=port, min_size=2, max_size=2)
        try:
            assert await pool.add(1, 1) == 2
            await server.stop()
            server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=port)
            await asyncio.sleep(0.05)  # the pool's connections see EOF
            # Both pooled connections are dead; checkout notices and opens fresh ones.
            assert await asyncio.gather(pool.add(1, 2), pool.add(3, 4)) == [3, 7]
            assert server.connections == 2
        finally:
            await pool.close()
            await server.stop()

    arun(main())


def test_pool_idle_timeout_lifetime_and_health_check(arun: Run, store: ModuleType) -> None:
    checks: list[str] = []

    async def check(stub: Any) -> None:
        checks.append("ping")
        await stub.ping()

    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        pool = await make_aio_pool(
            store.Store, port=server.port, max_size=4, idle_timeout=0.2,
            health_check=check, health_check_interval=0.05,
        )  # fmt: skip
        try:
            assert await pool.add(1, 1) == 2
            assert pool.size == 1
            await asyncio.sleep(0.6)  # the reaper closes the idle connection
            assert pool.size == 0
            await asyncio.sleep(0.05)
            assert server.connections == 0
            assert await pool.add(1, 2) == 3
            await asyncio.sleep(0.1)
            assert await pool.add(1, 3) == 4  # checked out after 0.1 s idle: health-checked
            assert checks == ["ping"]
        finally:
            await pool.close()

        lifetime = await make_aio_pool(store.Store, port=server.port, max_lifetime=0.2)
        try:
            assert await lifetime.add(1, 1) == 2
            first = server.connections
            await asyncio.sleep(0.3)
            assert await lifetime.add(1, 1) == 2  # the old connection was retired
            await asyncio.sleep(0.05)
            assert first == 1 and server.connections == 1 and lifetime.size == 1
        finally:
            await lifetime.close()
            await server.stop()

    arun(main())


def test_pool_timeout_discards_the_connection(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        server = await make_aio_server(store.Store, AsyncStoreHandler(store), port=0)
        pool = await make_aio_pool(store.Store, port=server.port, max_size=1)
        try:
            with pytest.raises(TransportTimeout):
                await pool.with_options(timeout=0.05).slow(0.3, 1)
            assert pool.size == 0  # an in-order connection with a reply pending is not reused
            assert await pool.add(1, 1) == 2
        finally:
            await pool.close()
            await server.stop()

    arun(main())


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_sync_client_against_aio_server(arun: Run, store: ModuleType, transport: str) -> None:
    async def main() -> None:
        server = await make_aio_server(
            store.Store, AsyncStoreHandler(store), port=0, protocol="compact", transport=transport
        )

        def use_sync_client() -> list[Any]:
            with swordfish.make_client(
                store.Store, port=server.port, protocol="compact", transport=transport, timeout=5
            ) as c:
                out = [c.add(1, 2), c.echo("x"), c.slow(0.05, 9)]
                with pytest.raises(store.NotFound):
                    c.get("missing")
                return out

        try:
            assert await asyncio.to_thread(use_sync_client) == [3, "x", 9]
        finally:
            await server.stop()

    arun(main())


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_aio_client_against_sync_server(arun: Run, store: ModuleType, transport: str) -> None:
    server = swordfish.make_server(
        store.Store, StoreHandler(store), port=0, protocol="compact", transport=transport,
        model="threaded",
    )  # fmt: skip
    server.start()

    async def main() -> None:
        c = await make_aio_client(
            store.Store, port=server.port, protocol="compact", transport=transport, timeout=5
        )
        try:
            # The sync server answers in order on one connection; pipelining still works.
            assert await asyncio.gather(*(c.add(i, i) for i in range(20))) == [
                2 * i for i in range(20)
            ]
            with pytest.raises(store.Invalid):
                await c.get("bad")
        finally:
            await c.close()
        pool = await make_aio_pool(
            store.Store, port=server.port, protocol="compact", transport=transport, max_size=4
        )
        try:
            start = time.monotonic()
            assert await asyncio.gather(*(pool.slow(0.2, i) for i in range(4))) == [0, 1, 2, 3]
            assert time.monotonic() - start < 0.6  # four connections, four server threads
        finally:
            await pool.close()

    try:
        arun(main())
    finally:
        server.stop(timeout=2)


def test_cli_serve_asyncio(loop_name: str, store: ModuleType, tmp_path: Any) -> None:
    handler = tmp_path / "h.py"
    handler.write_text(
        "class Handler:\n"
        "    async def add(self, a, b):\n"
        "        return a + b\n"
        "    def echo(self, text):\n"
        "        return text\n"
    )
    log = tmp_path / "server.log"
    argv = [
        sys.executable, "-m", "swordfish", "serve", str(IDL), "--service", "Store",
        "--handler", f"{handler}:Handler", "--port", "0", "--transport", "framed",
        "--server", "asyncio", "--loop", loop_name,
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        port = 0
        deadline = time.monotonic() + 20
        while not port and time.monotonic() < deadline:
            text = log.read_text()
            if "listening on" in text:
                port = int(text.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
            elif proc.poll() is not None:
                pytest.fail(f"server exited: {text}")
            time.sleep(0.05)
        assert f"loop={loop_name}" in log.read_text()
        with swordfish.make_client(store.Store, port=port, transport="framed", timeout=5) as c:
            assert c.add(2, 2) == 4
            assert c.echo("hi") == "hi"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(3) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_loop_without_asyncio() -> None:
    from swordfish.cli import main

    assert main(["serve", str(IDL), "--service", "Store", "--handler", "os:sep", "--loop",
                 "uvloop"]) == 2  # fmt: skip
    assert os.sep  # the handler module was importable; the error was --loop


def test_connect_refused_is_a_transport_error(arun: Run, store: ModuleType) -> None:
    async def main() -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(TransportError, match="connect to 127.0.0.1"):
            await make_aio_client(store.Store, port=port)

    arun(main())
