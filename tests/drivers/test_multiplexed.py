"""Several services on one port (multiplexed), sync and asyncio servers, real sockets.

Both services declare ``add``; the Calc handler's ``add`` answers ``(a + b) * 10`` so that a
call routed to the wrong service shows in the result.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

import swordfish
from swordfish.aio import run
from swordfish.aio.server import AsyncServer
from swordfish.codec import NEED_DATA, get_codec
from swordfish.framing import make_framer
from swordfish.model import ApplicationExceptionType, MessageType, TApplicationException
from swordfish.protocol import ClientConnection
from swordfish.rpc import AsyncFilter, AsyncService, Filter, Request, Response, Service
from swordfish.sync.server import Server
from tests.drivers.conftest import IDL, StoreHandler

T = TypeVar("T")

CALC_IDL = """
namespace py calc
exception DivideByZero { 1: string why }
service Calc {
  i32 add(1: i32 a, 2: i32 b),
  i32 divide(1: i32 a, 2: i32 b) throws (1: DivideByZero oops),
  string whoami(),
}
"""
COMBOS = [(p, t) for p in ("binary", "compact") for t in ("buffered", "framed")]


@pytest.fixture(scope="module")
def store() -> ModuleType:
    return swordfish.load(str(IDL))


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    path: Path = tmp_path_factory.mktemp("mux") / "calc.thrift"
    path.write_text(CALC_IDL)
    return swordfish.load(str(path))


class CalcHandler:
    def __init__(self, mod: ModuleType) -> None:
        self.mod = mod

    def add(self, a: int, b: int) -> int:
        return (a + b) * 10

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise self.mod.DivideByZero(why="b is 0")
        return a // b

    def whoami(self) -> str:
        return "calc"


class AsyncCalcHandler(CalcHandler):
    async def add(self, a: int, b: int) -> int:  # type: ignore[override]
        await asyncio.sleep(0)
        return (a + b) * 10

    async def divide(self, a: int, b: int) -> int:  # type: ignore[override]
        return super().divide(a, b)


class Seen(Filter[Request, Response, Request, Response]):
    role = "seen"
    description = "records (service, method) of each call"

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str]] = []

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        self.calls.append((request.service, request.name))
        return service(request)


class AsyncSeen(AsyncFilter[Request, Response, Request, Response]):
    role = "seen"
    description = "records (service, method) of each call"

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str]] = []

    async def __call__(
        self, request: Request, service: AsyncService[Request, Response]
    ) -> Response:
        self.calls.append((request.service, request.name))
        return await service(request)


def _unknown(exc: pytest.ExceptionInfo[TApplicationException], text: str) -> None:
    assert exc.value.type == ApplicationExceptionType.UNKNOWN_METHOD
    assert text in exc.value.message


# -- sync -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "transport"), COMBOS)
def test_sync_two_services_one_port(
    calc: ModuleType, store: ModuleType, protocol: str, transport: str
) -> None:
    seen = Seen()
    server = Server(
        services={
            "Calc": (calc.Calc, CalcHandler(calc)),
            "Store": (store.Store, StoreHandler(store)),
        },
        port=0,
        protocol=protocol,
        transport=transport,
        filters=[seen],
    ).start()
    opts: dict[str, Any] = {"protocol": protocol, "transport": transport, "timeout": 10}
    try:
        with (
            swordfish.make_client(
                calc.Calc, "127.0.0.1", server.port, service_name="Calc", **opts
            ) as c,
            swordfish.make_client(
                store.Store, "127.0.0.1", server.port, service_name="Store", **opts
            ) as s,
        ):
            assert c.add(1, 2) == 30
            assert s.add(1, 2) == 3
            assert c.whoami() == "calc"
            assert s.echo("hi") == "hi"
            with pytest.raises(calc.DivideByZero):
                c.divide(1, 0)
            with pytest.raises(store.NotFound):
                s.get("missing")
            s.fire("t1")  # oneway through the prefix
            assert s.fired() == 1
        assert seen.calls[:4] == [
            ("Calc", "add"),
            ("Store", "add"),
            ("Calc", "whoami"),
            ("Store", "echo"),
        ]
        # Unknown prefix and no prefix: a typed answer, and the connection stays usable.
        with swordfish.make_client(
            calc.Calc, "127.0.0.1", server.port, service_name="Nope", **opts
        ) as nope:
            with pytest.raises(TApplicationException) as exc:
                nope.add(1, 2)
            _unknown(exc, "Service name not found: 'Nope'")
            with pytest.raises(TApplicationException):
                nope.whoami()
        with swordfish.make_client(calc.Calc, "127.0.0.1", server.port, **opts) as plain:
            with pytest.raises(TApplicationException) as exc:
                plain.add(1, 2)
            _unknown(exc, "Service name not found in message name")
    finally:
        server.stop()


@pytest.mark.parametrize("model", ["simple", "threaded", "forking"])
def test_sync_models(calc: ModuleType, store: ModuleType, model: str) -> None:
    server = Server(
        services={
            "Calc": (calc.Calc, CalcHandler(calc)),
            "Store": (store.Store, StoreHandler(store)),
        },
        port=0,
        model=model,
    ).start()
    try:
        # One client at a time: model="simple" serves one connection at a time.
        with swordfish.make_client(calc.Calc, "127.0.0.1", server.port, service_name="Calc") as c:
            assert c.add(2, 3) == 50
        with swordfish.make_client(
            store.Store, "127.0.0.1", server.port, service_name="Store"
        ) as s:
            assert s.add(2, 3) == 5
    finally:
        server.stop()


def test_sync_single_service_server_refuses_prefixed_calls(store: ModuleType) -> None:
    # A plain server answers "Store:add" as an unknown method, echoing the name it got (as
    # Apache's generated processors do). Checked on the wire: a raw socket and the codec.
    server = Server(store.Store, StoreHandler(store), port=0).start()
    try:
        codec = get_codec("binary")
        engine = ClientConnection(
            store.Store.__thrift_service__,
            codec,
            make_framer("buffered", codec),
            service_name="Store",
        )
        _, data = engine.send_call("add", store.Store.add_args(a=1, b=2))
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(data)
            reply = b""
            while (size := codec.scan_message(reply)) is NEED_DATA or size > len(reply):
                chunk = sock.recv(65536)
                assert chunk, "server closed without answering"
                reply += chunk
        message = codec.decode_message(reply, lambda name, mtype: TApplicationException)
        assert (message.name, message.mtype) == ("Store:add", MessageType.EXCEPTION)
        assert isinstance(message.body, TApplicationException)
        assert message.body.type == ApplicationExceptionType.UNKNOWN_METHOD
        with swordfish.make_client(store.Store, "127.0.0.1", server.port) as plain:
            assert plain.add(1, 2) == 3
    finally:
        server.stop()


def test_sync_service_handler_per_service(calc: ModuleType, store: ModuleType) -> None:
    class Fixed(Service[Request, Response]):
        def __call__(self, request: Request) -> Response:
            assert request.service == "Calc"
            return request.method.result(success=42)  # type: ignore[misc]

    server = Server(
        services={"Calc": (calc.Calc, Fixed()), "Store": (store.Store, StoreHandler(store))},
        port=0,
    ).start()
    try:
        with swordfish.make_client(calc.Calc, "127.0.0.1", server.port, service_name="Calc") as c:
            assert c.add(1, 1) == 42
    finally:
        server.stop()


@pytest.mark.parametrize("cls", [Server, AsyncServer])
def test_constructor_checks(calc: ModuleType, cls: Any) -> None:
    handler = CalcHandler(calc)
    with pytest.raises(ValueError, match="not both"):
        cls(calc.Calc, handler, services={"Calc": (calc.Calc, handler)}, port=0)
    with pytest.raises(ValueError, match="non-empty"):
        cls(services={}, port=0)
    with pytest.raises(ValueError, match="without ':'"):
        cls(services={"a:b": (calc.Calc, handler)}, port=0)
    with pytest.raises(ValueError, match="pair"):
        cls(services={"Calc": calc.Calc}, port=0)
    with pytest.raises(ValueError, match="needs a service"):
        cls(port=0)


# -- asyncio ----------------------------------------------------------------------------------


@pytest.fixture(params=["asyncio", "uvloop"])
def arun(request: pytest.FixtureRequest, require: Any) -> Callable[[Coroutine[Any, Any, T]], T]:
    if request.param == "uvloop":
        require.module("uvloop")

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(60):
                return await coro

        return run(bounded(), loop=request.param)

    return runner


@pytest.mark.parametrize("filtered", [False, True], ids=["plain", "filtered"])
@pytest.mark.parametrize("sync_handlers", ["thread", "inline"])
@pytest.mark.parametrize(("protocol", "transport"), COMBOS)
def test_aio_two_services_one_port(
    calc: ModuleType,
    store: ModuleType,
    arun: Callable[[Coroutine[Any, Any, None]], None],
    protocol: str,
    transport: str,
    sync_handlers: str,
    filtered: bool,
) -> None:
    seen = AsyncSeen()

    async def main() -> None:
        server = AsyncServer(
            services={
                "Calc": (calc.Calc, AsyncCalcHandler(calc)),  # async methods
                "Store": (store.Store, StoreHandler(store)),  # plain methods
            },
            port=0,
            protocol=protocol,
            transport=transport,
            sync_handlers=sync_handlers,
            filters=[seen] if filtered else [],
        )
        opts: dict[str, Any] = {"protocol": protocol, "transport": transport}
        async with server:
            c = await swordfish.make_aio_client(
                calc.Calc, "127.0.0.1", server.port, service_name="Calc", **opts
            )
            s = await swordfish.make_aio_client(
                store.Store, "127.0.0.1", server.port, service_name="Store", **opts
            )
            nope = await swordfish.make_aio_client(
                calc.Calc, "127.0.0.1", server.port, service_name="Nope", **opts
            )
            try:
                results = await asyncio.gather(c.add(1, 2), s.add(1, 2), c.whoami(), s.echo("x"))
                assert list(results) == [30, 3, "calc", "x"]
                with pytest.raises(calc.DivideByZero):
                    await c.divide(1, 0)
                with pytest.raises(store.NotFound):
                    await s.get("missing")
                with pytest.raises(TApplicationException) as exc:
                    await nope.add(1, 2)
                _unknown(exc, "Service name not found: 'Nope'")
                assert await c.add(0, 1) == 10  # connections unaffected
            finally:
                for client in (c, s, nope):
                    await client.close()

    arun(main())
    if filtered:
        assert sorted(seen.calls[:4]) == [
            ("Calc", "add"),
            ("Calc", "whoami"),
            ("Store", "add"),
            ("Store", "echo"),
        ]
    else:
        assert seen.calls == []


def test_aio_async_service_handler_refused(calc: ModuleType) -> None:
    class Terminal(AsyncService[Request, Response]):
        async def __call__(self, request: Request) -> Response:
            return None

    with pytest.raises(ValueError, match="AsyncService"):
        AsyncServer(services={"Calc": (calc.Calc, Terminal())}, port=0)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_call_multiplexed(
    calc: ModuleType, store: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    from swordfish.cli import main

    server = Server(
        services={
            "Calc": (calc.Calc, CalcHandler(calc)),
            "Store": (store.Store, StoreHandler(store)),
        },
        port=0,
    ).start()
    idl = str(IDL)
    try:
        base = [idl, "--service", "Store", "--port", str(server.port)]
        assert main(["call", *base, "--multiplexed", "Store", "add", '{"a": 4, "b": 5}']) == 0
        assert capsys.readouterr().out.strip() == "9"
        # Without --multiplexed the server cannot tell which service is meant.
        assert main(["call", *base, "add", '{"a": 4, "b": 5}']) == 1
        assert "Service name not found in message name" in capsys.readouterr().err
        assert main(["call", *base, "--multiplexed", "Nope", "add", '{"a": 1, "b": 1}']) == 1
        assert "Service name not found: 'Nope'" in capsys.readouterr().err
    finally:
        server.stop()


def test_multiplexed_client_against_a_plain_server_gets_unknown_method(store: ModuleType) -> None:
    # The plain server echoes "Store:add" in its UNKNOWN_METHOD answer: the client matches it
    # to its call (no SeqIdMismatch), raises the application error and stays usable.
    server = Server(store.Store, StoreHandler(store), port=0).start()
    try:
        with swordfish.make_client(
            store.Store, "127.0.0.1", server.port, service_name="Store", timeout=5
        ) as mux:
            for _ in range(2):
                with pytest.raises(TApplicationException) as info:
                    mux.add(1, 2)
                assert info.value.type == ApplicationExceptionType.UNKNOWN_METHOD
    finally:
        server.stop()
