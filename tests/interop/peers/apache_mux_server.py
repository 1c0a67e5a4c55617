"""Multiplexed server on Apache Thrift's Python library: Calc and Echo (mux.thrift) on one port.

Run: ``python apache_mux_server.py --gen-dir DIR --protocol binary --transport framed``. DIR is
the ``-out`` directory of ``thrift --gen py mux.thrift``. Uses ``TMultiplexedProcessor``;
prints ``listening on HOST:PORT`` once bound and serves until killed.
"""

from __future__ import annotations

import sys
import threading

from common import announce, bound_port, parse_args


def main() -> None:
    args = parse_args("server", needs="gen-dir")
    sys.path.insert(0, args.gen_dir)

    from muxtest import Calc, Echo, ttypes
    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.server import TServer
    from thrift.TMultiplexedProcessor import TMultiplexedProcessor
    from thrift.transport import TSocket, TTransport

    class CalcHandler:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.count = 0

        def add(self, a: int, b: int) -> int:
            return a + b

        def divide(self, a: int, b: int) -> int:
            if b == 0:
                raise ttypes.Oops(why="b is 0")
            return a // b

        def note(self, text: str) -> None:
            with self.lock:
                self.count += 1

        def notes(self) -> int:
            with self.lock:
                return self.count

    class EchoHandler:
        def echo(self, text: str) -> str:
            return text

        def add(self, a: int, b: int) -> int:
            return -(a + b)

    class ListenOnce(TSocket.TServerSocket):
        """Bind before serve() so the chosen port can be announced; serve() re-calls listen()."""

        def listen(self) -> None:
            if self.handle is None:
                super().listen()

    processor = TMultiplexedProcessor()
    processor.registerProcessor("Calc", Calc.Processor(CalcHandler()))
    processor.registerProcessor("Echo", Echo.Processor(EchoHandler()))
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
        processor, server_socket, transport_factory, protocol_factory, daemon=True
    )
    announce(args.host, bound_port(server_socket.handle))
    server.serve()


if __name__ == "__main__":
    main()
