"""Apache Thrift ThriftTest peer for the transport matrix: zlib, TLS, header, HTTP(S).

One program, both roles, built only from Apache's Python library and the ``thrift`` compiler's
code (used by tests/interop/test_matrix_interop.py):

    apache_matrix_peer.py server --gen-dir DIR --protocol P --transport T [--tls ...] [--port 0]
    apache_matrix_peer.py client --gen-dir DIR --protocol P --transport T [--tls ...] --port N

- protocol: binary, compact, json, or header / header-compact (Apache's THeaderProtocol with
  binary / compact inside; info headers are echoed and checked as in apache_header_common);
- transport: buffered, framed, zlib (``TZlibTransport`` straight on the socket) or http
  (``THttpClient`` / ``THttpServer``; with header, each body is one header frame);
- ``--tls``: ``TSSLSocket`` / ``TSSLServerSocket`` under the transport, or https for http.
  The server presents ``--certfile``/``--keyfile``; the client trusts ``--cafile`` and checks
  the server's name (``localhost``). Client certificates are not asked for here (mutual TLS
  has its own tests in test_tls_interop.py).

The protocols are always Apache's pure-Python classes (``TBinaryProtocol``, not
``TBinaryProtocolAccelerated``): Apache's C codec (fastbinary) is known to lose data through
``TZlibTransport`` on messages over about 4 KiB (the size of that transport's refill buffer),
so a zlib row on the accelerated classes would fail on Apache's side, not ours.

A server prints ``listening on HOST:PORT`` once bound and serves until killed; a client runs
the shared check table (thrifttest_checks.py) and exits 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from typing import Any

from apache_header_common import EXPECTED_REPLY, HEADERS
from common import announce, bound_port, finish
from thrifttest_checks import run_checks
from thrifttest_handler import ThriftTestHandler

PROTOCOLS = ("binary", "compact", "json", "header", "header-compact")
TRANSPORTS = ("buffered", "framed", "zlib", "http")
#: The server name the client checks the certificate against (tests/tls_certs.py has both).
SERVER_NAME = "localhost"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--gen-dir", required=True, help="the generated ThriftTest package's dir")
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--certfile", help="server: its certificate")
    parser.add_argument("--keyfile", help="server: the key of --certfile")
    parser.add_argument("--cafile", help="client: the CA the server's certificate chains to")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    parser.add_argument("--finite-doubles-only", action="store_true")
    args = parser.parse_args()
    if args.tls and args.role == "server" and not args.certfile:
        parser.error("server --tls needs --certfile")
    if args.tls and args.role == "client" and not args.cafile:
        parser.error("client --tls needs --cafile")
    if args.role == "client" and not args.port:
        parser.error("client needs --port")
    return args


def carrier_class(name: str) -> Any:
    """The Apache transport between the protocol (or the header transport) and the socket."""
    from thrift.transport import TTransport, TZlibTransport

    return {
        "buffered": TTransport.TBufferedTransport,
        "framed": TTransport.TFramedTransport,
        "zlib": TZlibTransport.TZlibTransport,
    }[name]


def plain_protocol_factory(name: str) -> Any:
    """Pure-Python protocol factories only (see the module docstring)."""
    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol

    return {
        "binary": TBinaryProtocol.TBinaryProtocolFactory,
        "compact": TCompactProtocol.TCompactProtocolFactory,
        "json": TJSONProtocol.TJSONProtocolFactory,
    }[name]()


def header_inner(protocol: str) -> Any:
    from thrift.transport.THeaderTransport import THeaderSubprotocolID as Inner

    return Inner.COMPACT if protocol == "header-compact" else Inner.BINARY


# -- client -------------------------------------------------------------------------------------


def client(args: argparse.Namespace) -> None:
    from thrift.Thrift import TApplicationException
    from thrift.transport import THttpClient, TSocket, TSSLSocket
    from ThriftTest import ThriftTest, ttypes

    context = ssl.create_default_context(cafile=args.cafile) if args.tls else None
    replies: list[dict[bytes, bytes]] = []
    if args.transport == "http":
        scheme = "https" if args.tls else "http"
        transport = THttpClient.THttpClient(
            f"{scheme}://{args.host}:{args.port}/thrift", ssl_context=context
        )
        transport.setTimeout(20_000)
    else:
        if args.tls:
            sock = TSSLSocket.TSSLSocket(
                args.host, args.port, ssl_context=context, server_hostname=SERVER_NAME
            )
        else:
            sock = TSocket.TSocket(args.host, args.port)
        sock.setTimeout(20_000)
        transport = carrier_class(args.transport)(sock)
    if args.protocol.startswith("header"):
        protocol = header_client_protocol(transport, args.protocol, replies)
    else:
        protocol = plain_protocol_factory(args.protocol).getProtocol(transport)
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
    if args.protocol.startswith("header"):
        # Every reply carried what a Swordfish header server echoes (apache_header_common).
        want = {k.encode(): v.encode() for k, v in EXPECTED_REPLY.items()}
        bad = [got for got in replies if got != want]
        if len(replies) < 50:
            failures.append(f"only {len(replies)} replies were read")
        if bad:
            failures.append(f"{len(bad)} of {len(replies)} replies had other headers: {bad[0]!r}")
    finish(failures)


def header_client_protocol(transport: Any, protocol: str, replies: list[Any]) -> Any:
    """A THeaderProtocol that sends ``HEADERS`` with every call and records every reply's."""
    from thrift.protocol.THeaderProtocol import THeaderProtocol
    from thrift.transport.THeaderTransport import THeaderClientType

    class HeaderProtocol(THeaderProtocol):
        def writeMessageBegin(self, name: Any, ttype: Any, seqid: Any) -> Any:
            for key, value in HEADERS.items():
                self.set_header(key.encode(), value.encode())
            return super().writeMessageBegin(name, ttype, seqid)

        def readMessageBegin(self) -> Any:
            begin = super().readMessageBegin()
            replies.append(dict(self.get_headers()))
            return begin

    return HeaderProtocol(transport, [THeaderClientType.HEADERS], header_inner(protocol))


# -- server -------------------------------------------------------------------------------------


def server(args: argparse.Namespace) -> None:
    from thrift.Thrift import TException
    from ThriftTest import ThriftTest, ttypes

    class Handler(ThriftTestHandler):
        types = ttypes

        def fail_generic(self, arg: str) -> None:
            # Apache's generated processor answers an undeclared exception with
            # TApplicationException(INTERNAL_ERROR).
            raise TException(arg)

    processor = ThriftTest.Processor(Handler())
    if args.transport == "http":
        serve_http(args, processor)
    else:
        serve_stream(args, processor)


def serve_http(args: argparse.Namespace, processor: Any) -> None:
    from thrift.server import THttpServer

    tls: dict[str, str] = {}
    if args.tls:
        # THttpServer's own TLS switch: it wraps its listening socket in a server context.
        tls = {"cert_file": args.certfile, "key_file": args.keyfile or args.certfile}
    if args.protocol.startswith("header"):
        factories = header_http_factories(args.protocol)
    else:
        factories = (plain_protocol_factory(args.protocol),)
    # The HTTP server binds in its constructor, so the chosen port is known before serving.
    server = THttpServer.THttpServer(processor, (args.host, args.port), *factories, **tls)
    announce(args.host, server.httpd.server_address[1])
    server.serve()


def serve_stream(args: argparse.Namespace, processor: Any) -> None:
    from thrift.server import TServer
    from thrift.transport import TSocket, TSSLSocket, TTransport

    base: Any = TSSLSocket.TSSLServerSocket if args.tls else TSocket.TServerSocket

    class ListenOnce(base):
        """Bind before serve() so the port can be announced; serve() re-calls listen()."""

        def listen(self) -> None:
            if self.handle is None:
                super().listen()

    socket_options: dict[str, Any] = {}
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        socket_options["ssl_context"] = context
    server_socket = ListenOnce(host=args.host, port=args.port, **socket_options)
    server_socket.listen()

    carrier = carrier_class(args.transport)

    class CarrierFactory(TTransport.TTransportFactoryBase):
        # A new carrier per call: the server asks once for the input side and once for the
        # output side, and each direction of a zlib connection is its own zlib stream.
        def getTransport(self, trans: Any) -> Any:
            return carrier(trans)

    if args.protocol.startswith("header"):
        protocol_factory = header_server_factory(args.protocol)
    else:
        protocol_factory = plain_protocol_factory(args.protocol)
    server = TServer.TThreadedServer(
        processor, server_socket, CarrierFactory(), protocol_factory, daemon=True
    )
    announce(args.host, bound_port(server_socket.handle))
    server.serve()


def header_server_factory(protocol: str) -> Any:
    """Header server protocols that answer every call with its info headers prefixed
    ``echo-`` plus ``peer: apache`` (what the Swordfish client checks)."""
    from thrift.protocol.THeaderProtocol import THeaderProtocol, THeaderProtocolFactory
    from thrift.transport.THeaderTransport import THeaderClientType

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
            return EchoingProtocol(trans, self.allowed_client_types, self.default_protocol)

    return Factory((THeaderClientType.HEADERS,), header_inner(protocol))


def header_http_factories(protocol: str) -> tuple[Any, Any]:
    """Input and output protocol factories for ``THttpServer`` that echo info headers.

    ``THttpServer`` reads each request through one protocol object and writes the reply
    through another, so the reply side takes the headers from the request side's object:
    each request makes one of each, in that order, on the server's one thread.
    """
    from thrift.protocol.THeaderProtocol import THeaderProtocol
    from thrift.transport.THeaderTransport import THeaderClientType

    requests: list[Any] = []

    class ReplyProtocol(THeaderProtocol):
        def writeMessageBegin(self, name: Any, ttype: Any, seqid: Any) -> Any:
            for key, value in requests[-1].get_headers().items():
                self.set_header(b"echo-" + key, value)
            self.set_header(b"peer", b"apache")
            return super().writeMessageBegin(name, ttype, seqid)

    class RequestFactory:
        def getProtocol(self, trans: Any) -> Any:
            requests[:] = [THeaderProtocol(trans, (THeaderClientType.HEADERS,), inner)]
            return requests[0]

    class ReplyFactory:
        def getProtocol(self, trans: Any) -> Any:
            return ReplyProtocol(trans, (THeaderClientType.HEADERS,), inner)

    inner = header_inner(protocol)
    return RequestFactory(), ReplyFactory()


def main() -> None:
    args = parse_args()
    sys.path.insert(0, args.gen_dir)
    if args.role == "server":
        server(args)
    else:
        client(args)


if __name__ == "__main__":
    main()
