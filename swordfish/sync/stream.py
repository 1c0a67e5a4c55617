"""A blocking TCP stream with a timeout on every call (httpcore's NetworkStream shape).

This is the one place the sync drivers touch ``socket`` for reading and writing, and the one
place socket errors become Swordfish errors (``map_socket_errors``): a timeout is a
``TransportTimeout``, a reset or broken pipe a ``ConnectionClosedError``, anything else an
``OSError`` -> ``TransportError``. Drivers above only see the Swordfish tree.

TLS: a TLS stream is the same class around an ``ssl.SSLSocket`` wrapped with
``do_handshake_on_connect=False``; ``handshake`` runs the handshake under a timeout (or one
non-blocking step at a time, for a selector loop). Two TLS subtleties are handled here so
that drivers need not know: the SSL layer can hold decrypted bytes the kernel (and so a
selector) no longer sees, so every read also drains ``pending()``; and a TLS read may find
only part of a record, so ``read_nowait`` reports "nothing yet" instead of blocking. TLS
errors (bad certificate, alerts) are ``TransportError``s naming the peer.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConnectionClosedError, TransportError, TransportTimeout
from ..netinfo import format_address, unacknowledged

__all__ = ["SyncStream", "connect_tcp", "format_address", "map_socket_errors", "socket_error"]

#: Bytes asked of the kernel per read; one Thrift reply usually fits.
READ_SIZE = 65536

# Reads one ``discard_input`` call makes at most, so a peer that sends without pause cannot
# keep the caller (a selector loop serving other connections) in one call forever.
_DISCARD_READS = 16


def socket_error(exc: OSError, action: str) -> TransportError:
    """The Swordfish error for a socket exception; ``action`` names what failed."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return TransportTimeout(f"{action} timed out")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError(f"{action} failed: TLS certificate rejected: {exc}")
    if isinstance(exc, ssl.SSLError):
        # Alerts from the peer (certificate required/unknown CA, ...), bad records, etc.
        return TransportError(f"{action} failed: TLS error: {exc}")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return ConnectionClosedError(f"{action}: connection closed by peer ({exc})")
    return TransportError(f"{action} failed: {exc}")


@contextmanager
def map_socket_errors(action: str) -> Iterator[None]:
    """Translate socket exceptions raised inside the block (see ``socket_error``)."""
    try:
        yield
    except OSError as exc:
        raise socket_error(exc, action) from exc


def _check_timeout(timeout: float | None, action: str) -> float | None:
    # settimeout(0) would silently switch the socket to non-blocking mode, so a deadline that
    # has already passed is reported here rather than passed down.
    if timeout is not None and timeout <= 0:
        raise TransportTimeout(f"{action} timed out")
    return timeout


class SyncStream:
    """A connected stream socket with per-call timeouts (``None`` = block forever)."""

    __slots__ = ("_closed", "_peer", "_poller", "_sock", "_tls")

    def __init__(self, sock: socket.socket, peer: str | None = None) -> None:
        self._sock = sock
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._closed = False
        # is_readable's poll object, made once: a client asks before every call.
        self._poller: select.poll | None = None
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

    @property
    def tls(self) -> bool:
        """Whether this stream runs over TLS."""
        return self._tls is not None

    def handshake(self, timeout: float | None, *, step: bool = False) -> bool:
        """Run the TLS handshake (no-op on a plain stream); ``True`` once it is complete.

        ``step=True``: advance it without blocking and return ``False`` if it needs more
        bytes from the peer (wait for readability, then call again); the rare case of a full
        send buffer is finished blocking, within ``timeout``. A failed handshake (bad or
        missing certificate, not TLS at all, timeout) raises a ``TransportError``.
        """
        sock = self._tls
        if sock is None:
            return True
        action = f"TLS handshake with {self._peer}"
        with map_socket_errors(action):
            if step:
                sock.settimeout(0.0)
                try:
                    sock.do_handshake()
                    return True
                except ssl.SSLWantReadError:
                    return False
                except ssl.SSLWantWriteError:
                    pass  # our send buffer is full: finish it blocking below
            sock.settimeout(_check_timeout(timeout, action))
            sock.do_handshake()
        return True

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
            poller = self._poller
            if poller is None:
                poller = self._poller = select.poll()
                poller.register(fd, select.POLLIN)
            readable = bool(poller.poll(0))
        else:  # pragma: no cover - no poll()
            readable = bool(select.select([fd], [], [], 0)[0])
        if self._tls is None or not readable:
            return readable or (self._tls is not None and self._tls.pending() > 0)
        # TLS 1.3 servers send session tickets after the handshake: records that make the
        # socket readable without carrying any data. Only a read can tell them apart.
        try:
            self._tls.settimeout(0.0)
            self._tls.recv(1)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError:
            return True
        return True  # EOF, or bytes nobody asked for (consumed: the stream is dropped anyway)

    def read(self, max_bytes: int = READ_SIZE, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; ``b""`` when the peer closed its side."""
        # The per-call path of every blocking client: no context manager, and the action's
        # name is only formatted when something failed.
        if timeout is not None and timeout <= 0:
            raise TransportTimeout(f"read from {self._peer} timed out")
        try:
            self._sock.settimeout(timeout)
            return self._drain_pending(self._sock.recv(max_bytes))
        except OSError as exc:
            raise socket_error(exc, f"read from {self._peer}") from exc

    def read_nowait(self, max_bytes: int = READ_SIZE) -> bytes | None:
        """What can be read without blocking: ``None`` if nothing yet, ``b""`` at EOF.

        On TLS a readable socket may hold only part of a record, so a blocking read could
        wait for the rest; a selector loop uses this instead and waits again on ``None``.
        """
        action = f"read from {self._peer}"
        with map_socket_errors(action):
            self._sock.settimeout(0.0)
            try:
                data = self._sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return None
            except ssl.SSLWantWriteError:
                return None  # no renegotiation (see swordfish.tls): only a key update
            return self._drain_pending(data)

    def _drain_pending(self, data: bytes) -> bytes:
        # Decrypted bytes left inside the SSL object are invisible to select(): a caller that
        # waited for readability before reading them again could wait forever.
        sock = self._tls
        if sock is None or not data:
            return data
        chunks = [data]
        while (pending := sock.pending()) > 0:
            more = sock.recv(pending)
            if not more:
                break
            chunks.append(more)
        return data if len(chunks) == 1 else b"".join(chunks)

    def write(self, data: bytes, timeout: float | None = None) -> None:
        """Write all of ``data``; the timeout bounds the whole write, not each chunk."""
        if not data:
            return
        if timeout is not None and timeout <= 0:
            raise TransportTimeout(f"write to {self._peer} timed out")
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(data)
        except OSError as exc:
            raise socket_error(exc, f"write to {self._peer}") from exc

    def shutdown_write(self) -> bool:
        """Send FIN after everything written so far, and keep reading (a lingering close).

        ``False`` if that failed (the peer reset the connection already): just close then.

        TLS: Python's ssl module cannot half-close a TLS session and keep reading it, so a
        ``close_notify`` alert is sent (without waiting for the peer's), then the TCP FIN;
        input read afterwards is the raw bytes of records we discard anyway. Everything
        written before still reaches the peer first, as on a plain stream.
        """
        if self._tls is not None:
            sock = self._tls
            try:
                sock.settimeout(0.0)
                sock.unwrap()  # sends close_notify; then wants the peer's, which we skip
            except (ssl.SSLError, OSError, ValueError):
                pass  # close_notify not sent (or sent, then "want read"): the FIN follows
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


def connect_tcp(
    host: str,
    port: int,
    timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> SyncStream:
    """Connect to ``host:port``, trying each resolved address for up to ``timeout`` seconds.

    Refused, unreachable or unresolvable -> ``TransportError``; too slow ->
    ``TransportTimeout``. Nagle is turned off: Thrift messages are small request/response
    pairs, and delaying them only adds latency.

    ssl_context: run TLS over the connection; the handshake is part of the connect (and of
    ``timeout``). The certificate is checked against ``server_hostname`` (default ``host``)
    when the context checks hostnames. A rejected certificate -> ``TransportError``.
    """
    address = format_address((host, port))
    action = f"connect to {address}"
    _check_timeout(timeout, action)
    deadline = None if timeout is None else time.monotonic() + timeout
    with map_socket_errors(action):
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (or the option is unsupported): only latency is affected
    if ssl_context is None:
        return SyncStream(sock, address)
    try:
        with map_socket_errors(f"TLS handshake with {address}"):
            tls = ssl_context.wrap_socket(
                sock, server_hostname=server_hostname or host, do_handshake_on_connect=False
            )
    except BaseException:
        sock.close()
        raise
    stream = SyncStream(tls, address)
    try:
        stream.handshake(None if deadline is None else deadline - time.monotonic())
    except BaseException:
        stream.close()
        raise
    return stream
