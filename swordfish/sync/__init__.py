"""Blocking drivers: sockets and threads; all protocol work is delegated to sans-IO layers."""

from .client import Client
from .factory import make_client, make_server
from .server import Server

__all__ = ["Client", "Server", "make_client", "make_server"]
