"""ThriftTest server built on Apache Thrift's Python library and the ``thrift`` compiler's code.

Run: ``python apache_server.py --gen-dir DIR --protocol binary --transport framed [--port 0]``.
DIR is the ``-out`` directory of ``thrift --gen py ThriftTest.thrift``. Prints
``listening on HOST:PORT`` once bound; serves until killed.
"""

from __future__ import annotations

import sys

from common import announce, bound_port, parse_args
from thrifttest_handler import ThriftTestHandler


def main() -> None:
    args = parse_args("server", needs="gen-dir")
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.server import TServer
    from thrift.Thrift import TException
    from thrift.transport import TSocket, TTransport
    from ThriftTest import ThriftTest, ttypes

    class Handler(ThriftTestHandler):
        types = ttypes

        def fail_generic(self, arg: str) -> None:
            # Apache's generated processor answers any non-declared exception with
            # TApplicationException(INTERNAL_ERROR).
            raise TException(arg)

    class ListenOnce(TSocket.TServerSocket):
        """Bind before serve() so the chosen port can be announced; serve() re-calls listen()."""

        def listen(self) -> None:
            if self.handle is None:
                super().listen()

    protocol_factory = {
        "binary": TBinaryProtocol.TBinaryProtocolFactory,
        "compact": TCompactProtocol.TCompactProtocolFactory,
        "json": TJSONProtocol.TJSONProtocolFactory,
    }[args.protocol]()
    transport_factory = {
        "buffered": TTransport.TBufferedTransportFactory,
        "framed": TTransport.TFramedTransportFactory,
    }[args.transport]()

    server_socket = ListenOnce(host=args.host, port=args.port)
    server_socket.listen()
    server = TServer.TThreadedServer(
        ThriftTest.Processor(Handler()),
        server_socket,
        transport_factory,
        protocol_factory,
        daemon=True,
    )
    announce(args.host, bound_port(server_socket.handle))
    server.serve()


if __name__ == "__main__":
    main()
