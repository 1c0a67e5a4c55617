"""ThriftTest client on Apache's THeaderProtocol over ``THttpClient`` (THeader over HTTP).

Run: ``python apache_http_header_client.py --gen-dir DIR --inner binary|compact [--zlib]
--port N``: Apache's ``THeaderProtocol`` wraps ``THttpClient`` in a ``THeaderTransport``, so
each call is one POST to ``http://HOST:PORT/thrift`` whose body is one header frame. Runs the
shared check table with ``HEADERS`` on every call and checks every reply's info headers
(``EXPECTED_REPLY``, see apache_header_common); exit status 0 means every check passed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from apache_header_common import EXPECTED_REPLY, HEADERS
from common import finish
from thrifttest_checks import run_checks


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ThriftTest THeader-over-HTTP client")
    parser.add_argument("--gen-dir", required=True)
    parser.add_argument("--inner", choices=("binary", "compact"), required=True)
    parser.add_argument("--zlib", action="store_true", help="add the zlib transform")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol.THeaderProtocol import THeaderProtocol
    from thrift.Thrift import TApplicationException
    from thrift.transport import THttpClient
    from thrift.transport.THeaderTransport import (
        THeaderClientType,
        THeaderSubprotocolID,
        THeaderTransformID,
    )
    from ThriftTest import ThriftTest, ttypes

    replies: list[dict[bytes, bytes]] = []

    class HeaderProtocol(THeaderProtocol):
        def writeMessageBegin(self, name: Any, ttype: Any, seqid: Any) -> Any:
            for key, value in HEADERS.items():
                self.set_header(key.encode(), value.encode())
            return super().writeMessageBegin(name, ttype, seqid)

        def readMessageBegin(self) -> Any:
            begin = super().readMessageBegin()
            replies.append(dict(self.get_headers()))
            return begin

    http = THttpClient.THttpClient(f"http://{args.host}:{args.port}/thrift")
    http.setTimeout(10_000)
    inner = {"binary": THeaderSubprotocolID.BINARY, "compact": THeaderSubprotocolID.COMPACT}
    protocol = HeaderProtocol(http, [THeaderClientType.HEADERS], inner[args.inner])
    if args.zlib:
        protocol.add_transform(THeaderTransformID.ZLIB)
    http.open()
    try:
        failures = run_checks(
            ThriftTest.Client(protocol), ttypes, TApplicationException, log=args.verbose
        )
    finally:
        http.close()
    want = {k.encode(): v.encode() for k, v in EXPECTED_REPLY.items()}
    bad = [got for got in replies if got != want]
    if len(replies) < 50:
        failures.append(f"only {len(replies)} replies were read")
    if bad:
        failures.append(f"{len(bad)} of {len(replies)} replies had other headers, e.g. {bad[0]!r}")
    finish(failures)


if __name__ == "__main__":
    main()
