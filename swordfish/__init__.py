"""Swordfish: Thrift RPC for Python. Public API only.

Names are resolved lazily (PEP 562) so that ``import swordfish`` stays cheap and sans-IO users
(``load``, ``dumps``/``loads``) never import the socket drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ApplicationError,
    ConnectionClosedError,
    DeadlineExceeded,
    IDLError,
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    Rejected,
    RemoteProtocolError,
    SeqIdMismatch,
    SwordfishError,
    TransportError,
    TransportTimeout,
)
from .limits import Limits
from .model.application import TApplicationException

if TYPE_CHECKING:
    from .aio.client import AsyncClient, AsyncClientPool
    from .aio.factory import make_aio_client, make_aio_pool, make_aio_server
    from .aio.server import AsyncServer
    from .codec import dumps, loads
    from .idl import load
    from .rpc.context import call_headers, current_headers, set_reply_header
    from .rpc.filter import Filter
    from .rpc.service import Service
    from .sync.client import Client
    from .sync.factory import make_client, make_server
    from .sync.server import Server

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str]] = {
    "load": ("swordfish.idl", "load"),
    "dumps": ("swordfish.codec", "dumps"),
    "loads": ("swordfish.codec", "loads"),
    "make_server": ("swordfish.sync.factory", "make_server"),
    "make_client": ("swordfish.sync.factory", "make_client"),
    "Server": ("swordfish.sync.server", "Server"),
    "Client": ("swordfish.sync.client", "Client"),
    "Service": ("swordfish.rpc.service", "Service"),
    "Filter": ("swordfish.rpc.filter", "Filter"),
    "make_aio_server": ("swordfish.aio.factory", "make_aio_server"),
    "make_aio_client": ("swordfish.aio.factory", "make_aio_client"),
    "make_aio_pool": ("swordfish.aio.factory", "make_aio_pool"),
    "AsyncServer": ("swordfish.aio.server", "AsyncServer"),
    "AsyncClient": ("swordfish.aio.client", "AsyncClient"),
    "AsyncClientPool": ("swordfish.aio.client", "AsyncClientPool"),
    "call_headers": ("swordfish.rpc.context", "call_headers"),
    "current_headers": ("swordfish.rpc.context", "current_headers"),
    "set_reply_header": ("swordfish.rpc.context", "set_reply_header"),
}

__all__ = [
    "__version__",
    "load",
    "dumps",
    "loads",
    "make_server",
    "make_client",
    "Server",
    "Client",
    "make_aio_server",
    "make_aio_client",
    "make_aio_pool",
    "AsyncServer",
    "AsyncClient",
    "AsyncClientPool",
    "Service",
    "Filter",
    "call_headers",
    "current_headers",
    "set_reply_header",
    "Limits",
    "TApplicationException",
    "SwordfishError",
    "TransportError",
    "TransportTimeout",
    "ConnectionClosedError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "LimitExceeded",
    "SeqIdMismatch",
    "ApplicationError",
    "DeadlineExceeded",
    "Rejected",
    "IDLError",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'swordfish' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
