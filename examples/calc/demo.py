"""Run a Calculator server and a client against it over loopback, narrating each call.

python -m examples.calc.demo
"""

from __future__ import annotations

import time

import swordfish
from swordfish.rpc import Filter, Request, Response, Service

from .handler import CalculatorHandler, calc


class PrintCalls(Filter[Request, Response, Request, Response]):
    """A client-side filter: prints each call and how long its answer took."""

    role = "print"
    description = "prints every call and its latency"

    def __call__(self, request: Request, service: Service[Request, Response]) -> Response:
        start = time.perf_counter()
        try:
            return service(request)
        finally:
            ms = (time.perf_counter() - start) * 1000
            print(f"  -> {request.name}({_args(request)})  [{ms:.2f} ms]")


def _args(request: Request) -> str:
    return ", ".join(repr(getattr(request.args, n)) for n in request.method.arg_names)


def main() -> int:
    handler = CalculatorHandler()
    server = swordfish.make_server(calc.Calculator, handler, "127.0.0.1", 0, transport="framed")
    with server:  # serves in a background thread; stops (draining calls) at the end
        print(f"server: listening on 127.0.0.1:{server.port} (binary protocol, framed)")
        client = swordfish.make_client(
            calc.Calculator, "127.0.0.1", server.port, transport="framed", filters=[PrintCalls()]
        )
        with client:
            print(f"client {client.stack}")
            client.ping()
            print("ping() ok")

            print(f"add(1, 1) = {client.add(1, 1)}")

            work = calc.Work(num1=1, num2=0, op=calc.Operation.DIVIDE)
            try:
                client.calculate(1, work)
            except calc.InvalidOperation as exc:
                print(f"calculate(1, 1 / 0) raised InvalidOperation: {exc.why}")

            work = calc.Work(num1=15, num2=10, op=calc.Operation.SUBTRACT, comment="demo")
            print(f"calculate(2, 15 - 10) = {client.calculate(2, work)}")

            client.zip()
            print("zip() sent (oneway: no reply to wait for)")
            client.ping()  # same connection: the server handled zip before this ping
    print(f"server: stopped; log={handler.log}, zips={handler.zips}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
