"""The asyncio side of a connection: an ``asyncio.Protocol`` that only moves bytes.

``EngineProtocol`` is grpclib's shape: ``data_received`` hands the bytes to a subclass, which
feeds its sans-IO engine and dispatches the events; everything Thrift-specific stays in the
engine. What this class adds is what every asyncio connection needs:

- Write coalescing. ``write`` appends to a list and, the first time in a loop iteration,
  schedules one ``flush``: the replies (or calls) produced by many concurrent tasks in one
  iteration leave in one ``transport.write`` (one syscall), not one each. A callback that
  writes itself (the server answering calls inside ``data_received``) brackets its work with
  ``hold_writes``/``release_writes`` and flushes directly instead.
- Backpressure both ways. When the transport's write buffer passes its high-water mark
  (``pause_writing``) we stop reading too, so a peer that does not read our answers cannot
  make us buffer without bound; ``drain()`` lets a writer wait for room. ``pause_reading`` /
  ``resume_reading`` are reference-free flags combined from several reasons (write
  backpressure, in-flight limits) so one reason cannot resume reading that another paused.
- Error mapping at the boundary (httpcore's ``map_exceptions``): ``OSError`` from connect or
  the transport becomes the Swordfish tree (``TransportError``, ``TransportTimeout``,
  ``ConnectionClosedError``).
- Three ways to close: ``close`` (flush, then close: right when the peer closed first),
  ``abort`` (now, dropping what is unsent), and ``linger``: flush, send FIN, then read and
  drop input until the peer closes or goes quiet, so that input we never read cannot make the
  kernel answer our close with a RST (which would also drop replies still in flight).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import TypeVar, cast

from ..errors import ConnectionClosedError, TransportError, TransportTimeout
from ..netinfo import format_address, unacknowledged

__all__ = [
    "EngineProtocol",
    "PAUSE_BACKPRESSURE",
    "PAUSE_LIMIT",
    "PAUSE_STOPPING",
    "format_address",
    "open_connection",
]

P = TypeVar("P", bound="EngineProtocol")

#: Reasons to stop reading; reading resumes only when none is left.
PAUSE_BACKPRESSURE = 1  # our writes are not being read by the peer
PAUSE_LIMIT = 2  # too many calls in flight (connection or server)
PAUSE_STOPPING = 4  # the server is draining: no new calls

#: Queued writes that trigger an immediate flush instead of waiting for the loop iteration.
FLUSH_BATCH = 32

# How often a lingering close looks again at what it waits for (our buffered bytes leaving,
# the peer acknowledging them) when no event would wake it.
_LINGER_POLL = 0.05


def _unacknowledged(transport: asyncio.BaseTransport) -> int:
    """Bytes the peer's kernel has not acknowledged in our socket's send queue (0: unknown)."""
    sock = transport.get_extra_info("socket")
    return 0 if sock is None else unacknowledged(sock.fileno())


class EngineProtocol(asyncio.Protocol):
    """Base protocol: coalesced writes, read pausing by reason, write backpressure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.peer = "unknown"
        self.closed = False
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._holding = False  # inside a callback that flushes when it ends (see hold_writes)
        self._pause_reasons = 0
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed_future: asyncio.Future[None] = self.loop.create_future()
        # Lingering close (see ``linger``): set once it has begun.
        self.lingering = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._linger_limit = 0.0
        self._linger_quiet = 0.0
        self._linger_until = 0.0  # the latest it may last (moved on while replies leave)
        self._quiet_until = 0.0  # when a silent peer is deemed done
        self._linger_buffered = 0  # our write buffer at the last look

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = format_address(transport.get_extra_info("peername"))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass  # not TCP (unix socket) or unsupported: only latency is affected

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._out.clear()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self._wake_drainers(exc)
        if not self._closed_future.done():
            self._closed_future.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True
        self.pause(PAUSE_BACKPRESSURE)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainers(None)
        self.resume(PAUSE_BACKPRESSURE)

    # -- reading ------------------------------------------------------------------------------

    def pause(self, reason: int) -> None:
        """Stop reading for ``reason`` (one of the ``PAUSE_*`` bits)."""
        was = self._pause_reasons
        self._pause_reasons |= reason
        if not was and self.transport is not None and not self.closed and not self.lingering:
            self.transport.pause_reading()  # a lingering close keeps reading, whatever else

    def resume(self, reason: int) -> None:
        """Drop ``reason``; reading resumes when no reason is left."""
        if not self._pause_reasons & reason:
            return
        self._pause_reasons &= ~reason
        if not self._pause_reasons and self.transport is not None and not self.closed:
            if not self.lingering:  # reading already (see ``linger``)
                self.transport.resume_reading()

    def paused_for(self, reason: int) -> bool:
        return bool(self._pause_reasons & reason)

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data``; everything queued in this loop iteration goes out in one write."""
        if self.closed or self.lingering:
            return  # lingering: our FIN is out, nothing may follow it
        out = self._out
        out.append(data)
        if len(out) >= FLUSH_BATCH:
            # A long burst of answers: let the first ones leave now, so the peer can send
            # more work while we finish the rest (keeps a pipelined connection busy).
            self.flush()
            return
        if not self._flush_scheduled and not self._holding:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def hold_writes(self) -> None:
        """Queue writes without scheduling a flush until ``release_writes``.

        For a callback that produces replies itself (``data_received`` answering calls that
        need no waiting): it flushes once when it ends, which saves a loop callback per reply.
        """
        self._holding = True

    def release_writes(self) -> None:
        """End ``hold_writes`` and write what was queued meanwhile."""
        self._holding = False
        if self._out:
            self.flush()

    def flush(self) -> None:
        """Write whatever is queued now."""
        self._flush_scheduled = False
        out = self._out
        if not out or self.closed or self.lingering or self.transport is None:
            out.clear()
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the peer has read enough of what we wrote (no-op when not paused)."""
        if self.closed:
            raise ConnectionClosedError(f"connection to {self.peer} is closed")
        if not self._write_paused:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def _wake_drainers(self, exc: Exception | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if waiter.done():
                continue
            if self.closed:
                waiter.set_exception(
                    ConnectionClosedError(f"connection to {self.peer} closed ({exc or 'EOF'})")
                )
            else:
                waiter.set_result(None)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush what is queued, then close (the peer sees EOF after our last bytes)."""
        if self.transport is not None and not self.closed:
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping anything unsent."""
        self._out.clear()
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def linger(self, quiet: float, limit: float) -> None:
        """Close gracefully when the peer may still be sending: a lingering close.

        Closing a socket with unread input makes the kernel send a RST, and a RST makes the
        peer see ``ECONNRESET`` and drops our bytes still in flight. So: flush what is
        queued, send FIN after it (``write_eof``), then read and drop whatever arrives
        (subclasses route ``data_received`` to ``linger_received`` and make
        ``eof_received`` return ``False`` while ``lingering``). The transport closes when
        the peer closes (EOF), or once the peer has been silent for ``quiet`` seconds with
        everything we wrote delivered and acknowledged, or after ``limit`` seconds (counted
        from the last time the peer took bytes still in our write buffer, if any were); if
        the peer takes none of those for ``limit`` seconds, it is aborted instead.
        Transports that cannot half-close (TLS) just ``close``.
        """
        transport = self.transport
        if transport is None or self.closed or self.lingering:
            return
        if not transport.can_write_eof():
            self.close()
            return
        self.flush()
        self.lingering = True
        transport.write_eof()  # FIN after what is buffered
        now = self.loop.time()
        self._linger_limit = limit
        self._linger_quiet = quiet
        self._linger_until = now + limit
        self._quiet_until = now + quiet
        self._linger_buffered = transport.get_write_buffer_size()
        # Whatever paused reading (limits, backpressure, a drain), read now: unread input is
        # what would turn our close into a RST.
        transport.resume_reading()
        due = now + _LINGER_POLL if self._linger_buffered else self._quiet_until
        self._linger_timer = self.loop.call_at(due, self._linger_check)

    def linger_received(self) -> None:
        """Bytes arrived while lingering (already dropped): the peer is not quiet yet."""
        self._quiet_until = self.loop.time() + self._linger_quiet

    def _linger_check(self) -> None:
        self._linger_timer = None
        transport = self.transport
        if transport is None or self.closed:
            return
        now = self.loop.time()
        buffered = transport.get_write_buffer_size()
        if buffered:
            # Our replies are still leaving: the linger proper starts once they are out.
            if buffered < self._linger_buffered:  # the peer reads them: give it time
                self._linger_until = now + self._linger_limit
            self._linger_buffered = buffered
            if now >= self._linger_until:
                self.abort()  # it read nothing of them for `limit` seconds
                return
            due = min(now + _LINGER_POLL, self._linger_until)
        elif now >= self._linger_until:
            transport.close()
            return
        elif now >= self._quiet_until:
            # Silent peer. Close once it has acknowledged what we wrote (beyond our FIN,
            # which counts one): bytes it sent later would draw a RST from a closed socket,
            # and that RST would drop what it has not received yet.
            if _unacknowledged(transport) <= 1:
                transport.close()
                return
            due = min(now + _LINGER_POLL, self._linger_until)
        else:
            due = min(self._quiet_until, self._linger_until)
        self._linger_timer = self.loop.call_at(due, self._linger_check)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed_future)


def _map_connect_error(exc: BaseException, action: str) -> TransportError:
    if isinstance(exc, TimeoutError):
        return TransportTimeout(f"{action} timed out")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError(f"{action} failed: TLS certificate rejected: {exc}")
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"{action} failed: TLS error: {exc}")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return ConnectionClosedError(f"{action}: connection closed by peer ({exc})")
    return TransportError(f"{action} failed: {exc}")


async def open_connection(
    factory: Callable[[], P],
    host: str,
    port: int,
    timeout: float | None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> P:
    """Connect to ``host:port`` with ``factory``'s protocol, within ``timeout`` seconds.

    Refused, unreachable or unresolvable -> ``TransportError``; too slow -> ``TransportTimeout``.
    ssl_context: TLS, its handshake inside ``timeout``; the certificate must name
    ``server_hostname`` (default ``host``). A rejected certificate -> ``TransportError``.
    """
    loop = asyncio.get_running_loop()
    action = f"connect to {format_address((host, port))}"
    if timeout is not None and timeout <= 0:
        raise TransportTimeout(f"{action} timed out")
    try:
        async with asyncio.timeout(timeout):
            if ssl_context is None:
                _, protocol = await loop.create_connection(factory, host, port)
            else:
                _, protocol = await loop.create_connection(
                    factory,
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=server_hostname or host,
                    ssl_handshake_timeout=timeout,
                )
    except (OSError, TimeoutError) as exc:
        raise _map_connect_error(exc, action) from exc
    return protocol
