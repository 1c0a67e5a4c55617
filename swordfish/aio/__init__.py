"""asyncio drivers: a server with concurrent calls per connection, a pipelined client, a pool.

All protocol work is the sans-IO engines' (``swordfish.protocol``); these modules only wait.
"""

from .client import AsyncClient, AsyncClientPool, AsyncStub
from .factory import make_aio_client, make_aio_pool, make_aio_server
from .loops import LOOPS, new_event_loop, run
from .server import AsyncServer

__all__ = [
    "LOOPS",
    "AsyncClient",
    "AsyncClientPool",
    "AsyncServer",
    "AsyncStub",
    "make_aio_client",
    "make_aio_pool",
    "make_aio_server",
    "new_event_loop",
    "run",
]
