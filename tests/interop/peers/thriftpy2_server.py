"""ThriftTest server built on thriftpy2, which loads the IDL text at run time.

Run: ``python thriftpy2_server.py --idl ThriftTest.thrift --protocol compact --transport buffered``.
thriftpy2 0.7 knows neither ``uuid`` nor annotated namespaces, so pass the stripped copy the
harness writes. Prints ``listening on HOST:PORT`` once bound; serves until killed.
"""

from __future__ import annotations

from common import announce, bound_port, parse_args
from thrifttest_handler import ThriftTestHandler


def main() -> None:
    args = parse_args("server", needs="idl")

    import thriftpy2
    from thriftpy2.protocol import (
        TApacheJSONProtocolFactory,
        TBinaryProtocolFactory,
        TCompactProtocolFactory,
    )
    from thriftpy2.server import TThreadedServer
    from thriftpy2.thrift import TApplicationException, TProcessor
    from thriftpy2.transport import (
        TBufferedTransportFactory,
        TFramedTransportFactory,
        TServerSocket,
    )

    tt = thriftpy2.load(args.idl, module_name="ThriftTest_thrift")

    class Handler(ThriftTestHandler):
        types = tt

        def fail_generic(self, arg: str) -> None:
            # thriftpy2 drops the connection on an undeclared exception instead of replying,
            # so ask for the TApplicationException explicitly.
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, arg)

    class ListenOnce(TServerSocket):
        """Bind before serve() so the chosen port can be announced; serve() re-calls listen()."""

        def listen(self) -> None:
            if self.sock is None:
                super().listen()

    # client_timeout=None: the default (3 s) would cut a client that pauses between calls.
    server_socket = ListenOnce(host=args.host, port=args.port, client_timeout=None)
    server_socket.listen()
    server = TThreadedServer(
        TProcessor(tt.ThriftTest, Handler()),
        server_socket,
        iprot_factory={
            "binary": TBinaryProtocolFactory,
            "compact": TCompactProtocolFactory,
            "json": TApacheJSONProtocolFactory,
        }[args.protocol](),
        itrans_factory={"buffered": TBufferedTransportFactory, "framed": TFramedTransportFactory}[
            args.transport
        ](),
        daemon=True,
    )
    announce(args.host, bound_port(server_socket.sock))
    server.serve()


if __name__ == "__main__":
    main()
