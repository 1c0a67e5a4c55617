"""ThriftTest server on Apache's THeaderProtocol (Python library + ``thrift`` compiler code).

Run: ``python apache_header_server.py --gen-dir DIR --inner binary|compact
--transport buffered|framed|zlib [--zlib] [--port 0]``. Accepts header clients and plain
framed/unframed binary and compact ones (Apache's allowed_client_types: all of them). Every
reply carries the call's info headers prefixed ``echo-`` and ``peer: apache``; ``--zlib``
deflates every reply. Prints ``listening on HOST:PORT`` once bound; serves until killed.
"""

from __future__ import annotations

import sys
from typing import Any

from apache_header_common import parse_header_args, transport_class
from common import announce, bound_port
from thrifttest_handler import ThriftTestHandler


def main() -> None:
    args = parse_header_args("server")
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol.THeaderProtocol import THeaderProtocol, THeaderProtocolFactory
    from thrift.server import TServer
    from thrift.Thrift import TException
    from thrift.transport import TSocket, TTransport
    from thrift.transport.THeaderTransport import (
        THeaderClientType,
        THeaderSubprotocolID,
        THeaderTransformID,
    )
    from ThriftTest import ThriftTest, ttypes

    class Handler(ThriftTestHandler):
        types = ttypes

        def fail_generic(self, arg: str) -> None:
            raise TException(arg)

    class EchoingProtocol(THeaderProtocol):
        def readMessageBegin(self) -> Any:
            begin = super().readMessageBegin()
            self.clear_headers()
            for key, value in self.get_headers().items():
                self.set_header(b"echo-" + key, value)
            self.set_header(b"peer", b"apache")
            return begin

    class Factory(THeaderProtocolFactory):
        def getProtocol(self, trans: Any) -> Any:
            proto = EchoingProtocol(trans, self.allowed_client_types, self.default_protocol)
            if args.zlib:
                proto.add_transform(THeaderTransformID.ZLIB)
            return proto

    class ListenOnce(TSocket.TServerSocket):
        def listen(self) -> None:
            if self.handle is None:
                super().listen()

    carrier = transport_class(args.transport)

    class CarrierFactory(TTransport.TTransportFactoryBase):
        def getTransport(self, trans: Any) -> Any:
            return carrier(trans)

    allowed = (
        THeaderClientType.HEADERS,
        THeaderClientType.FRAMED_BINARY,
        THeaderClientType.UNFRAMED_BINARY,
        THeaderClientType.FRAMED_COMPACT,
        THeaderClientType.UNFRAMED_COMPACT,
    )
    inner = {"binary": THeaderSubprotocolID.BINARY, "compact": THeaderSubprotocolID.COMPACT}
    server_socket = ListenOnce(host=args.host, port=args.port)
    server_socket.listen()
    server = TServer.TThreadedServer(
        ThriftTest.Processor(Handler()),
        server_socket,
        CarrierFactory(),
        Factory(allowed, inner[args.inner]),
        daemon=True,
    )
    announce(args.host, bound_port(server_socket.handle))
    server.serve()


if __name__ == "__main__":
    main()
