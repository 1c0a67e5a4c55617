"""ThriftTest server: Apache's ``THttpServer`` with a ``THeaderProtocolFactory``.

Run: ``python apache_http_header_server.py --gen-dir DIR --inner binary|compact [--echo]
[--zlib] [--port 0]``. Apache's ``THttpServer`` builds the input and the output protocol
separately, each over its own memory buffer, so a stock ``THeaderProtocolFactory`` gives it
header frames in and out: the reply is a header frame of the factory's ``default_protocol``
(whatever protocol the call used), with the call's seqid, no transforms and no info headers
(the output side never sees the call's). Accepts header bodies only (Apache's default
``allowed_client_types``).

``--echo`` adds glue that Apache does not ship: the factory hands each output protocol the
input protocol of the same request (``THttpServer``'s server is single-threaded and asks for
the input protocol first), which puts the call's info headers on the reply prefixed ``echo-``
plus ``peer: apache``, as the TCP header peer does. ``--zlib`` deflates every reply.

Prints ``listening on HOST:PORT`` once bound; serves until killed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common import announce
from thrifttest_handler import ThriftTestHandler


def main() -> None:
    parser = argparse.ArgumentParser(description="ThriftTest THeader THttpServer")
    parser.add_argument("--gen-dir", required=True)
    parser.add_argument("--inner", choices=("binary", "compact"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--echo", action="store_true", help="echo info headers (see above)")
    parser.add_argument("--zlib", action="store_true", help="deflate every reply")
    args = parser.parse_args()
    sys.path.insert(0, args.gen_dir)

    from thrift.protocol.THeaderProtocol import THeaderProtocol, THeaderProtocolFactory
    from thrift.server import THttpServer
    from thrift.Thrift import TException
    from thrift.transport.THeaderTransport import THeaderSubprotocolID, THeaderTransformID
    from ThriftTest import ThriftTest, ttypes

    class Handler(ThriftTestHandler):
        types = ttypes

        def fail_generic(self, arg: str) -> None:
            raise TException(arg)

    inner = {"binary": THeaderSubprotocolID.BINARY, "compact": THeaderSubprotocolID.COMPACT}

    class EchoingOutput(THeaderProtocol):
        source: Any = None  # the input protocol of the same request

        def writeMessageBegin(self, name: Any, ttype: Any, seqid: Any) -> Any:
            if self.source is not None:
                for key, value in self.source.get_headers().items():
                    self.set_header(b"echo-" + key, value)
                self.set_header(b"peer", b"apache")
            return super().writeMessageBegin(name, ttype, seqid)

    class Factory(THeaderProtocolFactory):
        pending: Any = None

        def getProtocol(self, trans: Any) -> Any:
            if self.pending is None:  # THttpServer asks for the input protocol first
                self.pending = super().getProtocol(trans)
                return self.pending
            output = EchoingOutput(trans, self.allowed_client_types, self.default_protocol)
            output.source = self.pending if args.echo else None
            self.pending = None
            if args.zlib:
                output.add_transform(THeaderTransformID.ZLIB)
            return output

    if args.echo or args.zlib:
        factory: Any = Factory(default_protocol=inner[args.inner])
    else:
        factory = THeaderProtocolFactory(default_protocol=inner[args.inner])
    # The HTTP server binds in its constructor, so the chosen port is known before serving.
    server = THttpServer.THttpServer(
        ThriftTest.Processor(Handler()), (args.host, args.port), factory
    )
    announce(args.host, server.httpd.server_address[1])
    server.serve()


if __name__ == "__main__":
    main()
