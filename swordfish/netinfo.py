"""What the drivers say about a connection: printable addresses, unacknowledged bytes.

Shared by the sync and asyncio drivers, which must not import each other. Nothing here opens,
reads or writes a socket: ``format_address`` is pure, and ``unacknowledged`` only asks the
kernel about a descriptor the caller owns.
"""

from __future__ import annotations

import struct

__all__ = ["format_address", "unacknowledged"]

try:  # Linux (SIOCOUTQ): bytes in a socket's send queue the peer has not acknowledged yet
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _OUTQ = None
_INT = struct.Struct("i")


def format_address(address: object) -> str:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) for logs and errors.

    A unix socket's address (what ``getsockname``/``accept`` give for ``AF_UNIX``: its path,
    ``b"\\0name"`` in Linux's abstract namespace, ``""`` for an unnamed client) reads
    ``unix:/path``, ``unix:@name`` or ``unix:(unnamed)``, as gunicorn writes it.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(address, bytes):
        address = address.decode(errors="backslashreplace")
    if isinstance(address, str):
        if address.startswith("\0"):
            return f"unix:@{address[1:]}"
        return f"unix:{address}" if address else "unix:(unnamed)"
    return "unknown" if address is None else str(address)


def unacknowledged(fd: int) -> int:
    """Bytes written on socket ``fd`` that the peer's kernel has not acknowledged (a FIN counts
    one). 0 where the platform cannot tell (Linux only) or the descriptor is gone.

    A lingering close waits for this to reach 0 before it gives up on a quiet peer, so that a
    reply stuck behind a full receive window is not cut off.
    """
    if _OUTQ is None or fd < 0:  # pragma: no cover - not Linux
        return 0
    try:
        raw = fcntl.ioctl(fd, _OUTQ, bytes(_INT.size))
    except (OSError, ValueError):
        return 0
    value: int = _INT.unpack(raw)[0]
    return value
