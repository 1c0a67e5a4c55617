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
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar, cast

from ..errors import ConnectionClosedError, TransportError, TransportTimeout

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


def format_address(address: object) -> str:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) for logs and errors."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


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
        if not was and self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self, reason: int) -> None:
        """Drop ``reason``; reading resumes when no reason is left."""
        if not self._pause_reasons & reason:
            return
        self._pause_reasons &= ~reason
        if not self._pause_reasons and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def paused_for(self, reason: int) -> bool:
        return bool(self._pause_reasons & reason)

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data``; everything queued in this loop iteration goes out in one write."""
        if self.closed:
            return
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
        if not out or self.closed or self.transport is None:
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

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed_future)


def _map_connect_error(exc: BaseException, action: str) -> TransportError:
    if isinstance(exc, TimeoutError):
        return TransportTimeout(f"{action} timed out")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return ConnectionClosedError(f"{action}: connection closed by peer ({exc})")
    return TransportError(f"{action} failed: {exc}")


async def open_connection(
    factory: Callable[[], P], host: str, port: int, timeout: float | None
) -> P:
    """Connect to ``host:port`` with ``factory``'s protocol, within ``timeout`` seconds.

    Refused, unreachable or unresolvable -> ``TransportError``; too slow -> ``TransportTimeout``.
    """
    loop = asyncio.get_running_loop()
    action = f"connect to {format_address((host, port))}"
    if timeout is not None and timeout <= 0:
        raise TransportTimeout(f"{action} timed out")
    try:
        async with asyncio.timeout(timeout):
            _, protocol = await loop.create_connection(factory, host, port)
    except (OSError, TimeoutError) as exc:
        raise _map_connect_error(exc, action) from exc
    return protocol
