"""TLS and mutual TLS for ``AsyncServer``, ``AsyncClient`` and ``AsyncClientPool``, on both
loops, over real sockets; sync clients against the asyncio server too (one wire)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

import pytest

import swordfish
from swordfish import tls
from swordfish.aio import AsyncClient, AsyncClientPool, AsyncServer
from swordfish.errors import TransportError
from swordfish.rpc import AsyncFilter
from tests.tls_certs import Certs, make_certs

from .conftest import AsyncStoreHandler

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


def server_ctx(certs: Certs, mutual: bool = False) -> ssl.SSLContext:
    return tls.server_context(
        certs.server_cert, certs.server_key, certs.ca if mutual else None, mutual
    )


def make_server(store: ModuleType, ctx: ssl.SSLContext, transport: str, **kw: Any) -> AsyncServer:
    return AsyncServer(
        store.Store,
        AsyncStoreHandler(store),
        "127.0.0.1",
        0,
        transport=transport,
        ssl_context=ctx,
        **kw,
    )


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_calls_over_tls(arun: Run[None], store: ModuleType, certs: Certs, transport: str) -> None:
    async def main() -> None:
        async with make_server(store, server_ctx(certs), transport) as server:
            ctx = tls.client_context(certs.ca)
            async with AsyncClient(
                store.Store, "127.0.0.1", server.port, transport=transport, ssl_context=ctx
            ) as c:
                assert await c.add(2, 3) == 5
                results = await asyncio.gather(*(c.add(i, i) for i in range(50)))
                assert results == [2 * i for i in range(50)]
                big = bytes(range(256)) * 1000  # several TLS records each way
                assert await c.echo_binary(big) == big
            async with AsyncClientPool(
                store.Store,
                "127.0.0.1",
                server.port,
                transport=transport,
                ssl_context=ctx,
                max_size=3,
            ) as pool:
                results = await asyncio.gather(*(pool.add(i, 1) for i in range(10)))
                assert results == [i + 1 for i in range(10)]

    arun(main())


@pytest.mark.parametrize("transport", ["buffered", "framed"])
def test_sync_client_against_aio_tls_server(
    arun: Run[None], store: ModuleType, certs: Certs, transport: str
) -> None:
    async def main() -> None:
        async with make_server(store, server_ctx(certs, mutual=True), transport) as server:
            ctx = tls.client_context(certs.ca, certs.client_cert, certs.client_key)

            def call() -> int:
                with swordfish.make_client(
                    store.Store, port=server.port, transport=transport, ssl_context=ctx, timeout=10
                ) as c:
                    result: int = c.add(40, 2)
                    return result

            assert await asyncio.to_thread(call) == 42

    arun(main())


def test_mutual_tls(arun: Run[None], store: ModuleType, certs: Certs) -> None:
    async def main() -> None:
        async with make_server(store, server_ctx(certs, mutual=True), "framed") as server:
            good = tls.client_context(certs.ca, certs.client_cert, certs.client_key)
            opts: dict[str, Any] = {"transport": "framed", "timeout": 10}
            async with AsyncClient(
                store.Store, "127.0.0.1", server.port, ssl_context=good, **opts
            ) as c:
                assert await c.add(1, 1) == 2
            for bad in (
                tls.client_context(certs.ca),
                tls.client_context(certs.ca, certs.rogue_cert, certs.rogue_key),
            ):
                async with AsyncClient(
                    store.Store, "127.0.0.1", server.port, ssl_context=bad, **opts
                ) as c:
                    with pytest.raises(TransportError, match="TLS"):
                        await c.add(1, 2)
            async with AsyncClient(
                store.Store, "127.0.0.1", server.port, ssl_context=good, **opts
            ) as c:
                assert await c.add(20, 22) == 42

    arun(main())


def test_stalled_handshake_does_not_block_and_is_dropped(
    arun: Run[None], store: ModuleType, certs: Certs
) -> None:
    async def main() -> None:
        async with make_server(store, server_ctx(certs), "framed", handshake_timeout=4.0) as server:
            silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                ctx = tls.client_context(certs.ca)
                started = time.monotonic()
                async with AsyncClient(
                    store.Store, "127.0.0.1", server.port, transport="framed", ssl_context=ctx
                ) as c:
                    assert await c.add(1, 2) == 3
                assert time.monotonic() - started < 3.5

                def eof() -> bytes:
                    silent.settimeout(10)
                    try:
                        return silent.recv(100)
                    except ConnectionResetError:
                        return b""

                assert await asyncio.to_thread(eof) == b""
            finally:
                silent.close()

    arun(main())


def test_hostname_mismatch_and_untrusted_server(
    arun: Run[None], store: ModuleType, certs: Certs
) -> None:
    async def main() -> None:
        async with make_server(store, server_ctx(certs), "framed") as server:
            ctx = tls.client_context(certs.ca)
            c = AsyncClient(
                store.Store,
                "127.0.0.1",
                server.port,
                transport="framed",
                ssl_context=ctx,
                server_hostname="other.example",
            )
            with pytest.raises(TransportError, match="certificate"):
                await c.add(1, 2)
            await c.close()
        rogue = tls.server_context(certs.rogue_cert, certs.rogue_key)
        async with make_server(store, rogue, "framed") as server:
            c = AsyncClient(
                store.Store, "127.0.0.1", server.port, transport="framed", ssl_context=ctx
            )
            with pytest.raises(TransportError, match="certificate"):
                await c.add(1, 2)
            await c.close()

    arun(main())


def test_stop_with_idle_tls_connection(arun: Run[None], store: ModuleType, certs: Certs) -> None:
    async def main() -> None:
        server = await make_server(store, server_ctx(certs), "framed").start()
        c = AsyncClient(
            store.Store,
            "127.0.0.1",
            server.port,
            transport="framed",
            ssl_context=tls.client_context(certs.ca),
            timeout=10,
        )
        try:
            assert await c.add(1, 2) == 3
            started = time.monotonic()
            await server.stop(timeout=5)
            assert time.monotonic() - started < 4.5
            with pytest.raises(TransportError):
                await c.add(1, 2)
        finally:
            await c.close()

    arun(main())


def test_argument_checks(store: ModuleType, certs: Certs) -> None:
    with pytest.raises(ValueError, match="ssl_context"):
        AsyncServer(store.Store, AsyncStoreHandler(store), ssl_context=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="server_hostname"):
        AsyncClient(store.Store, server_hostname="x")
    with pytest.raises(ValueError, match="handshake_timeout"):
        AsyncServer(
            store.Store,
            AsyncStoreHandler(store),
            ssl_context=server_ctx(certs),
            handshake_timeout=0,
        )


@pytest.mark.parametrize("with_filter", [False, True], ids=["plain", "filtered"])
def test_stop_waits_for_calls_of_a_caller_that_hung_up(
    arun: Run[None], store: ModuleType, certs: Certs, with_filter: bool
) -> None:
    """TLS cannot half-close: when the caller closes, asyncio drops the whole connection
    while its call still runs. stop() must still wait for that call (and at its deadline
    cancel it), never return early and leave the task behind."""

    class PassThrough(AsyncFilter):
        role, description = "pass", "awaits the next service"

        async def __call__(self, request: Any, service: Any) -> Any:
            return await service(request)

    async def main() -> None:
        handler = AsyncStoreHandler(store)
        filters = [PassThrough()] if with_filter else []
        server = AsyncServer(
            store.Store,
            handler,
            "127.0.0.1",
            0,
            transport="framed",
            ssl_context=server_ctx(certs),
            filters=filters,
        )
        await server.start()
        ctx = tls.client_context(certs.ca)
        client = AsyncClient(
            store.Store, "127.0.0.1", server.port, transport="framed", ssl_context=ctx
        )
        call = asyncio.ensure_future(client.slow(0.6, 7))
        for _ in range(300):  # until the handler runs
            if handler.running:
                break
            await asyncio.sleep(0.01)
        assert handler.running == 1
        call.cancel()
        await client.close()
        await asyncio.sleep(0.2)  # the server sees the connection go
        started = time.monotonic()
        await server.stop(timeout=5)
        waited = time.monotonic() - started
        assert handler.finished == [7], "stop() returned before the running call finished"
        assert 0.1 < waited < 4, waited
        mine = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in mine if not t.done()], mine

    arun(main())
