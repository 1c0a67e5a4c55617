"""ThriftTest client built on Apache Thrift's Python library and the ``thrift`` compiler's code.

Run: ``python apache_client.py --gen-dir DIR --protocol binary --transport framed --port N``.
Runs the shared check table (thrifttest_checks.py); exit status 0 means every check passed.
"""

from __future__ import annotations

import sys

from common import finish, parse_args
from thrifttest_checks import run_checks


def main() -> None:
    args = parse_args("client", needs="gen-dir")
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.Thrift import TApplicationException
    from thrift.transport import TSocket, TTransport
    from ThriftTest import ThriftTest, ttypes

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
    transport.open()
    try:
        failures = run_checks(
            ThriftTest.Client(protocol),
            ttypes,
            TApplicationException,
            log=args.verbose,
            finite_doubles_only=args.finite_doubles_only,
        )
    finally:
        transport.close()
    finish(failures)


if __name__ == "__main__":
    main()
