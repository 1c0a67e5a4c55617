"""ThriftTest client on Apache's THeaderProtocol (Python library + ``thrift`` compiler code).

Run: ``python apache_header_client.py --gen-dir DIR --inner binary|compact
--transport buffered|framed|zlib [--zlib] --port N``. Runs the shared check table with
``HEADERS`` on every call and checks every reply's info headers (see apache_header_common);
exit status 0 means every check passed.
"""

from __future__ import annotations

import sys
from typing import Any

from apache_header_common import EXPECTED_REPLY, HEADERS, parse_header_args, transport_class
from common import finish
from thrifttest_checks import run_checks


def main() -> None:
    args = parse_header_args("client")
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol.THeaderProtocol import THeaderProtocol
    from thrift.Thrift import TApplicationException
    from thrift.transport import TSocket
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

    sock = TSocket.TSocket(args.host, args.port)
    sock.setTimeout(10_000)
    transport = transport_class(args.transport)(sock)
    inner = {"binary": THeaderSubprotocolID.BINARY, "compact": THeaderSubprotocolID.COMPACT}
    protocol = HeaderProtocol(transport, [THeaderClientType.HEADERS], inner[args.inner])
    if args.zlib:
        protocol.add_transform(THeaderTransformID.ZLIB)
    transport.open()
    try:
        failures = run_checks(
            ThriftTest.Client(protocol), ttypes, TApplicationException, log=args.verbose
        )
    finally:
        transport.close()
    want = {k.encode(): v.encode() for k, v in EXPECTED_REPLY.items()}
    bad = [got for got in replies if got != want]
    if len(replies) < 50:
        failures.append(f"only {len(replies)} replies were read")
    if bad:
        failures.append(f"{len(bad)} of {len(replies)} replies had other headers, e.g. {bad[0]!r}")
    finish(failures)


if __name__ == "__main__":
    main()
