"""Command line and readiness handshake shared by the peer programs.

Peer servers bind the port they are given (0 = let the kernel choose), then print one line
``listening on 127.0.0.1:PORT`` on stdout; the test harness waits for that line, so it never
races the bind. Peer clients run the shared check table and exit 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROTOCOLS = ("binary", "compact", "json")
TRANSPORTS = ("buffered", "framed")


def parse_args(role: str, *, needs: str) -> argparse.Namespace:
    """``needs`` is ``gen-dir`` (Apache generated code) or ``idl`` (thriftpy2 loads IDL text)."""
    parser = argparse.ArgumentParser(description=f"ThriftTest {role} for interop tests")
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=(role == "client"), default=0)
    if needs == "gen-dir":
        parser.add_argument(
            "--gen-dir", required=True, help="directory holding the generated ThriftTest package"
        )
    else:
        parser.add_argument("--idl", required=True, help="path of ThriftTest.thrift to load")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    parser.add_argument(
        "--finite-doubles-only",
        action="store_true",
        help="leave NaN/inf out of testDouble (Apache Python client and server over JSON)",
    )
    return parser.parse_args()


def announce(host: str, port: int) -> None:
    print(f"listening on {host}:{port}", flush=True)


def finish(failures: list[str]) -> None:
    """Exit status is the verdict: 0 all checks passed, 1 otherwise (failures on stdout)."""
    if failures:
        print(f"{len(failures)} check(s) failed:")
        for failure in failures:
            print(f"  - {failure}")
        sys.stdout.flush()
        sys.exit(1)
    print("all checks passed", flush=True)
    sys.exit(0)


def bound_port(sock: Any) -> int:
    port: int = sock.getsockname()[1]
    return port
