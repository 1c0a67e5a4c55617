"""``make_server`` / ``make_client``: the public way to build the blocking drivers.

They are the ``Server`` and ``Client`` constructors themselves, so every option is declared
(with its default and documentation) in exactly one place and cannot drift between the two
spellings. ``make_*`` is the name users of thriftpy2 expect.
"""

from __future__ import annotations

from .client import Client
from .server import Server

__all__ = ["make_client", "make_server"]

#: A bound, listening ``Server`` (see ``Server`` for every option).
make_server = Server
#: A ``Client`` that connects on its first call (see ``Client`` for every option).
make_client = Client
