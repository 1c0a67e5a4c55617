"""Pieces shared by the Apache THeader peer programs (apache_header_server/client.py).

Both sides echo info headers so each direction is checked by the other end: a server answers
every call with the call's headers prefixed ``echo-`` plus ``peer: apache``; a client sends
``HEADERS`` with every call and checks every reply carries what a Swordfish server sends back
(``server: swordfish`` and the echoes).
"""

from __future__ import annotations

import argparse

#: What the Apache client sends with every call (UTF-8 on purpose).
HEADERS = {"client": "apache", "ключ": "значение"}
#: What a Swordfish server (tests/interop/test_header_interop.py) answers each call with.
EXPECTED_REPLY = {"server": "swordfish", **{f"echo-{k}": v for k, v in HEADERS.items()}}


def parse_header_args(role: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=f"ThriftTest THeader {role} for interop tests")
    parser.add_argument("--gen-dir", required=True)
    parser.add_argument("--inner", choices=("binary", "compact"), required=True)
    parser.add_argument("--transport", choices=("buffered", "framed", "zlib"), required=True)
    parser.add_argument("--zlib", action="store_true", help="add the zlib transform")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=(role == "client"), default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args()


def transport_class(name: str) -> type:
    """Apache's transport that carries the header frames (framed = framed twice)."""
    from thrift.transport import TTransport, TZlibTransport

    return {
        "buffered": TTransport.TBufferedTransport,
        "framed": TTransport.TFramedTransport,
        "zlib": TZlibTransport.TZlibTransport,
    }[name]
