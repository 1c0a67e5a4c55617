"""ThriftTest server over HTTP: Apache Thrift's ``THttpServer`` and the ``thrift`` compiler's code.

Run: ``python apache_http_server.py --gen-dir DIR --protocol binary --transport buffered
[--port 0]`` (the transport flag is ignored: an HTTP body is one unframed message). Prints
``listening on HOST:PORT`` once bound; serves until killed.
"""

from __future__ import annotations

import sys

from common import announce, parse_args
from thrifttest_handler import ThriftTestHandler


def main() -> None:
    args = parse_args("server", needs="gen-dir")
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.server import THttpServer
    from thrift.Thrift import TException
    from ThriftTest import ThriftTest, ttypes

    class Handler(ThriftTestHandler):
        types = ttypes

        def fail_generic(self, arg: str) -> None:
            # Apache's generated processor answers any non-declared exception with
            # TApplicationException(INTERNAL_ERROR).
            raise TException(arg)

    protocol_factory = {
        "binary": TBinaryProtocol.TBinaryProtocolFactory,
        "compact": TCompactProtocol.TCompactProtocolFactory,
        "json": TJSONProtocol.TJSONProtocolFactory,
    }[args.protocol]()
    # The HTTP server binds in its constructor, so the chosen port is known before serving.
    server = THttpServer.THttpServer(
        ThriftTest.Processor(Handler()), (args.host, args.port), protocol_factory
    )
    announce(args.host, server.httpd.server_address[1])
    server.serve()


if __name__ == "__main__":
    main()
