"""A blocking TCP stream with a timeout on every call (httpcore's NetworkStream shape).

This is the one place the sync drivers touch ``socket`` for reading and writing, and the one
place socket errors become Swordfish errors (``map_socket_errors``): a timeout is a
``TransportTimeout``, a reset or broken pipe a ``ConnectionClosedError``, anything else an
``OSError`` -> ``TransportError``. Drivers above only see the Swordfish tree.

TLS seam: ``connect_tcp`` returns a ``SyncStream`` around any socket-like object; a TLS stream
is the same class around an ``ssl.SSLSocket`` (``ssl_context.wrap_socket``), added later
without changes to the drivers.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConnectionClosedError, TransportError, TransportTimeout
from ..netinfo import format_address, unacknowledged

__all__ = ["SyncStream", "connect_tcp", "format_address", "map_socket_errors"]

#: Bytes asked of the kernel per read; one Thrift reply usually fits.
READ_SIZE = 65536

# Reads one ``discard_input`` call makes at most, so a peer that sends without pause cannot
# keep the caller (a selector loop serving other connections) in one call forever.
_DISCARD_READS = 16


@contextmanager
def map_socket_errors(action: str) -> Iterator[None]:
    """Translate socket exceptions raised inside the block; ``action`` names what failed."""
    try:
        yield
    except TimeoutError as exc:  # socket.timeout is TimeoutError since 3.10
        raise TransportTimeout(f"{action} timed out") from exc
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        raise ConnectionClosedError(f"{action}: connection closed by peer ({exc})") from exc
    except OSError as exc:
        raise TransportError(f"{action} failed: {exc}") from exc


def _check_timeout(timeout: float | None, action: str) -> float | None:
    # settimeout(0) would silently switch the socket to non-blocking mode, so a deadline that
    # has already passed is reported here rather than passed down.
    if timeout is not None and timeout <= 0:
        raise TransportTimeout(f"{action} timed out")
    return timeout


class SyncStream:
    """A connected stream socket with per-call timeouts (``None`` = block forever)."""

    __slots__ = ("_closed", "_peer", "_sock")

    def __init__(self, sock: socket.socket, peer: str | None = None) -> None:
        self._sock = sock
        self._closed = False
        if peer is None:
            try:
                peer = format_address(sock.getpeername())
            except OSError:
                peer = "unknown"
        self._peer = peer

    @property
    def peer(self) -> str:
        """The remote address as ``host:port``."""
        return self._peer

    @property
    def closed(self) -> bool:
        return self._closed

    def fileno(self) -> int:
        """The socket's descriptor, so a stream can be registered with ``selectors``."""
        return self._sock.fileno()

    def is_readable(self) -> bool:
        """Whether a read would not block right now.

        On an idle client connection (no call in flight) readable means the peer closed it
        (EOF) or sent bytes nobody asked for; either way it must not be reused.
        """
        if self._closed:
            return True
        fd = self._sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - no poll()
        return bool(readable)

    def read(self, max_bytes: int = READ_SIZE, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; ``b""`` when the peer closed its side."""
        action = f"read from {self._peer}"
        timeout = _check_timeout(timeout, action)
        with map_socket_errors(action):
            self._sock.settimeout(timeout)
            return self._sock.recv(max_bytes)

    def write(self, data: bytes, timeout: float | None = None) -> None:
        """Write all of ``data``; the timeout bounds the whole write, not each chunk."""
        if not data:
            return
        action = f"write to {self._peer}"
        timeout = _check_timeout(timeout, action)
        with map_socket_errors(action):
            self._sock.settimeout(timeout)
            self._sock.sendall(data)

    def shutdown_write(self) -> bool:
        """Send FIN after everything written so far, and keep reading (a lingering close).

        ``False`` if that failed (the peer reset the connection already): just close then.
        """
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        return True

    def discard_input(self) -> bool:
        """Read and drop whatever has arrived, without blocking.

        ``True``: the stream is still open (nothing more to read right now); ``False``: the
        peer closed its side (EOF) or the connection failed. Used while lingering: the
        bytes are calls we will not run, but leaving them unread would make ``close()``
        answer with a RST.
        """
        sock = self._sock
        try:
            sock.settimeout(0.0)  # non-blocking: readiness was reported, or we just poll
            for _ in range(_DISCARD_READS):
                if not sock.recv(READ_SIZE):
                    return False
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return True

    def unsent(self) -> int:
        """Bytes written that the peer has not acknowledged yet (see ``netinfo.unacknowledged``)."""
        return unacknowledged(self._sock.fileno())

    def shutdown(self) -> None:
        """Wake any thread blocked on this stream (its read returns ``b""`` or fails)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed or never connected: nothing to wake

    def close(self) -> None:
        """Close the socket; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass  # close() errors carry no information a caller could act on

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SyncStream {self._peer} {state}>"


def connect_tcp(host: str, port: int, timeout: float | None = None) -> SyncStream:
    """Connect to ``host:port``, trying each resolved address for up to ``timeout`` seconds.

    Refused, unreachable or unresolvable -> ``TransportError``; too slow ->
    ``TransportTimeout``. Nagle is turned off: Thrift messages are small request/response
    pairs, and delaying them only adds latency.
    """
    address = format_address((host, port))
    action = f"connect to {address}"
    _check_timeout(timeout, action)
    with map_socket_errors(action):
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (or the option is unsupported): only latency is affected
    return SyncStream(sock, address)
