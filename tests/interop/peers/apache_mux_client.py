"""Multiplexed client on Apache Thrift's Python library: calls Calc and Echo (mux.thrift).

Run: ``python apache_mux_client.py --gen-dir DIR --protocol binary --transport framed --port N``.
Every call goes through ``TMultiplexedProtocol`` over one connection; with ``--verbose`` the
failures are listed. A last check calls an unregistered service name and expects
``TApplicationException(UNKNOWN_METHOD)`` (what a Swordfish server answers; Apache's own
processor drops the connection instead, so that check is only run against Swordfish).
Pass ``--unknown-service`` to run that check. Exit status 0 means every check passed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from common import finish, parse_args


def main() -> None:
    args = parse_args("client", needs="gen-dir")
    sys.path.insert(0, args.gen_dir)

    from muxtest import Calc, Echo, ttypes
    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
    from thrift.Thrift import TApplicationException
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket(args.host, args.port)
    sock.setTimeout(10_000)
    transport = {
        "buffered": TTransport.TBufferedTransport,
        "framed": TTransport.TFramedTransport,
    }[args.transport](sock)
    protocol = {
        "binary": TBinaryProtocol.TBinaryProtocol,
        "compact": TCompactProtocol.TCompactProtocol,
        "json": TJSONProtocol.TJSONProtocol,
    }[args.protocol](transport)
    calc = Calc.Client(TMultiplexedProtocol(protocol, "Calc"))
    echo = Echo.Client(TMultiplexedProtocol(protocol, "Echo"))
    nope = Calc.Client(TMultiplexedProtocol(protocol, "Nope"))
    failures: list[str] = []

    def check(label: str, fn: Callable[[], Any], expected: Any) -> None:
        try:
            got = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is a report line
            got = exc
        if got != expected and not (isinstance(expected, type) and isinstance(got, expected)):
            failures.append(f"{label}: expected {expected!r}, got {got!r}")

    def unknown_service() -> Any:
        try:
            nope.add(1, 2)
        except TApplicationException as exc:
            return (exc.type, "Nope" in (exc.message or ""))
        return "no exception"

    def notes_after_oneway() -> int:
        calc.note("hello")
        deadline = time.monotonic() + 10
        while (count := calc.notes()) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        return count

    transport.open()
    try:
        check("Calc.add", lambda: calc.add(2, 3), 5)
        check("Echo.add", lambda: echo.add(2, 3), -5)
        check("Echo.echo", lambda: echo.echo("héllo"), "héllo")
        check("Calc.divide", lambda: calc.divide(7, 2), 3)
        check("Calc.divide throws", lambda: calc.divide(1, 0), ttypes.Oops)
        check("Calc.note (oneway)", notes_after_oneway, 1)
        if UNKNOWN:
            check(
                "unknown service",
                unknown_service,
                (TApplicationException.UNKNOWN_METHOD, True),
            )
            check("Calc.add after the unknown service", lambda: calc.add(1, 1), 2)
    finally:
        transport.close()
    if args.verbose:
        for failure in failures:
            print(failure)
    finish(failures)


# Our own flag, taken out before the shared parser (common.py) sees the command line.
UNKNOWN = "--unknown-service" in sys.argv
if UNKNOWN:
    sys.argv.remove("--unknown-service")

if __name__ == "__main__":
    main()
