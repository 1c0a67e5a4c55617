"""ThriftTest client over HTTP: Apache Thrift's ``THttpClient`` and the ``thrift`` compiler's code.

Run: ``python apache_http_client.py --gen-dir DIR --protocol binary --transport buffered
--port N``: POSTs to ``http://HOST:PORT/thrift`` (the transport flag is ignored: an HTTP body
is one unframed message). Runs the shared check table (thrifttest_checks.py); exit status 0
means every check passed.
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
    from thrift.transport import THttpClient
    from ThriftTest import ThriftTest, ttypes

    transport = THttpClient.THttpClient(f"http://{args.host}:{args.port}/thrift")
    transport.setTimeout(10_000)
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
