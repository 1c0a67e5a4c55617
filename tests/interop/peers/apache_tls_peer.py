"""Apache Thrift's TLS transports (``TSSLSocket`` / ``TSSLServerSocket``) speaking Store.add.

Used by ``tests/interop/test_tls_interop.py`` with binary protocol over framed transport. The
Store service's ``add(1: i32 a, 2: i32 b) -> i32`` is written and read by hand with Apache's
``TBinaryProtocol`` calls (no generated code needed for one method).

    apache_tls_peer.py server --certfile F --keyfile F [--cafile CA]   (mutual TLS with --cafile)
    apache_tls_peer.py client --port N --cafile CA [--certfile F --keyfile F]

The server prints ``listening on HOST:PORT`` and serves connections one at a time until
killed; the client calls ``add(20, 22)``, prints ``result 42`` and exits 0 if it got 42.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from typing import Any

from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TMessageType, TType
from thrift.transport import TSSLSocket, TTransport


def read_i32_args(prot: Any) -> dict[int, int]:
    values: dict[int, int] = {}
    prot.readStructBegin()
    while True:
        _, ftype, fid = prot.readFieldBegin()
        if ftype == TType.STOP:
            break
        if ftype == TType.I32:
            values[fid] = prot.readI32()
        else:
            prot.skip(ftype)
        prot.readFieldEnd()
    prot.readStructEnd()
    return values


def serve_connection(trans: Any) -> None:
    prot = TBinaryProtocol.TBinaryProtocol(trans)
    while True:
        try:
            name, _, seqid = prot.readMessageBegin()
        except (TTransport.TTransportException, EOFError, OSError):
            return
        args = read_i32_args(prot)
        prot.readMessageEnd()
        prot.writeMessageBegin(name, TMessageType.REPLY, seqid)
        prot.writeStructBegin(f"{name}_result")
        prot.writeFieldBegin("success", TType.I32, 0)
        prot.writeI32(args.get(1, 0) + args.get(2, 0))
        prot.writeFieldEnd()
        prot.writeFieldStop()
        prot.writeStructEnd()
        prot.writeMessageEnd()
        trans.flush()


def server(args: argparse.Namespace) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.certfile, args.keyfile)
    kwargs: dict[str, Any] = {"ssl_context": context}
    if args.cafile:
        context.load_verify_locations(args.cafile)
        context.verify_mode = ssl.CERT_REQUIRED
        kwargs["validate_callback"] = lambda cert, address: None  # CA check is enough here
    sock = TSSLSocket.TSSLServerSocket(host=args.host, port=args.port, **kwargs)
    sock.listen()
    print(f"listening on {args.host}:{sock.handle.getsockname()[1]}", flush=True)
    while True:
        try:
            client = sock.accept()
        except Exception as exc:  # a failed handshake: report it and serve the next one
            print(f"accept failed: {exc}", flush=True)
            continue
        if client is None:
            continue
        trans = TTransport.TFramedTransport(client)
        try:
            serve_connection(trans)
        finally:
            trans.close()


def client(args: argparse.Namespace) -> int:
    context = ssl.create_default_context(cafile=args.cafile)
    if args.certfile:
        context.load_cert_chain(args.certfile, args.keyfile)
    sock = TSSLSocket.TSSLSocket(
        args.host, args.port, ssl_context=context, server_hostname="localhost"
    )
    sock.setTimeout(20_000)
    trans = TTransport.TFramedTransport(sock)
    prot = TBinaryProtocol.TBinaryProtocol(trans)
    trans.open()
    try:
        prot.writeMessageBegin("add", TMessageType.CALL, 7)
        prot.writeStructBegin("add_args")
        prot.writeFieldBegin("a", TType.I32, 1)
        prot.writeI32(20)
        prot.writeFieldEnd()
        prot.writeFieldBegin("b", TType.I32, 2)
        prot.writeI32(22)
        prot.writeFieldEnd()
        prot.writeFieldStop()
        prot.writeStructEnd()
        prot.writeMessageEnd()
        trans.flush()
        name, mtype, seqid = prot.readMessageBegin()
        result = read_i32_args(prot)
        prot.readMessageEnd()
    finally:
        trans.close()
    ok = (name, mtype, seqid) == ("add", TMessageType.REPLY, 7) and result.get(0) == 42
    print(f"result {result.get(0)} ({name!r}, type {mtype}, seqid {seqid})", flush=True)
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--cafile")
    args = parser.parse_args()
    if args.role == "server":
        server(args)
    else:
        sys.exit(client(args))


if __name__ == "__main__":
    main()
