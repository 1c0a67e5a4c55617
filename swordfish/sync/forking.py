"""The ``forking`` server model: one child process per connection (POSIX only).

``Server.serve_forever`` hands the server to a ``ForkingLoop``: the parent accepts and
``os.fork()``s a child that serves that one connection with the ``simple``/``threaded`` loop
(``Server._serve_blocking``), then exits. At most ``max_children`` children live at once;
beyond that the parent stops accepting and new clients wait in the listen backlog until a
child exits.

Each child is a copy of the parent process, so handler state is *per process*: what one
connection's calls change in the handler (counters, caches) is invisible to other connections
and to the parent. Share state through something outside the process (a database, a file).
Resources a handler opens before the fork (client connections, thread pools, locks held by
other threads) are shared or broken in every child: open them lazily, in the child.

Children and the parent talk through two pipes, never through process-global signal handlers
in the parent: each child holds the write end of a *status pipe* and writes its
``calls_served`` count there just before it exits, so the parent wakes when a child is done,
reaps it at once with ``waitpid(pid, WNOHANG)`` (never ``waitpid(-1)``: other children of the
process are not ours), and adds the count to its own ``calls_served``. The parent's
``calls_served`` therefore counts the calls of children that have *exited*; calls of running
children, and of a child killed by a signal, are not in it. Every child also watches a
*lifeline* socket whose only writer is the parent: if the parent process dies without
stopping (SIGKILL, OOM), the lifeline reads EOF and each child exits after its current call
instead of lingering as an orphan. ``connections`` counts live (unreaped) children.

In the child, after the fork: the listener, the parent's wake-up sockets and selector, other
children's status pipes and the lifeline's write end are closed; the server's locks and events
are replaced (another parent thread may have held them at fork time); SIGTERM and SIGINT get
the child's own handler (installed while both signals are blocked, so a stop racing with the
fork is not lost): it lets the running call finish and write its reply, then the child closes
the connection (a lingering close, as every model does: see "Closing a connection" in
``swordfish.sync.server``; bounded by ``LINGER_TIME``, since the child does not know the
parent's deadline, which the parent enforces with SIGKILL) and leaves with ``os._exit``; it
never returns into the parent's code.
Exit status: 0 after a clean close, 1 if serving the connection raised, or the code of a
``SystemExit`` from the handler; the parent logs every non-zero status and signal death.

``stop()`` closes the listener at once, sends SIGTERM to every child, waits for them until
``timeout``, then SIGKILLs the stragglers and reaps them all: no zombies, no orphans.

Fork hazards: ``start()`` runs the parent's loop in a thread, so the process forks while
other threads run. Only the forking thread exists in the child; a lock another thread held at
that instant (in your code or a library's) stays locked there forever. The server resets its
own state and Python resets ``logging``'s locks, but a handler that shares locks with parent
threads can deadlock in a child. Children also inherit every descriptor the process has open:
a client socket the same process holds (say in a test) stays open in children forked after it
was created, so closing it there does not end the connection until those children exit.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # server.py imports this module at run time; this import is for mypy only
    from .server import Server, _Connection

__all__ = ["DEFAULT_MAX_CHILDREN", "ForkingLoop"]

# The server's logger: this is one of its models, and operators filter on that name.
log = logging.getLogger("swordfish.server")

#: Live child processes of the ``forking`` model when ``max_children`` is not given.
DEFAULT_MAX_CHILDREN = 64

# How often the parent reaps children even when no status pipe woke it (a handler may close
# or pass on descriptors it did not open), and how long it polls after a child's pipe hit EOF
# (the kernel closes a dying process's files before it can be waited for).
_REAP_INTERVAL = 1.0
_REAP_SOON = 0.01
# How long the parent waits for SIGKILLed children to become reapable (``Server.stop`` adds
# it to its own wait, since the serving thread does this after the drain deadline).
_KILL_WAIT = 2.0
# When serve_forever ends without stop() (an exception), children still get this long to
# finish their calls.
_DEFAULT_DRAIN = 5.0
# What a child writes on its status pipe as it exits: its calls_served.
_REPORT = struct.Struct("!Q")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Child:
    """A forked child of the ``forking`` model, as its parent tracks it."""

    __slots__ = ("eof", "peer", "pid", "report", "status_fd")

    def __init__(self, pid: int, peer: str, status_fd: int) -> None:
        self.pid = pid
        self.peer = peer
        self.status_fd = status_fd  # read end of the child's status pipe (non-blocking)
        self.report = b""  # what the child wrote there: its calls_served, as it exits
        self.eof = False  # the pipe hit EOF: the child is exiting, reap it soon

    def fileno(self) -> int:
        return self.status_fd


class ForkingLoop:
    """The ``forking`` model's accept-fork-reap loop over one ``Server`` (module docstring).

    A separate object rather than more ``Server`` methods so the parent's child table and the
    fork/reap/signal code live here, not in every model's server. It is the server's friend,
    not a client of its public API: like the other models' loops it uses the server's
    listener (``_listener``, ``_accept``, ``_close_listener``), wake-up socket (``_wake_r``;
    in a child also ``_wake_w``), ``_lock``, ``_stopping`` and ``_drain_deadline``, and has
    each child serve its connection with ``_serve_blocking`` after
    ``_after_fork_in_child`` has reset the server's own state.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        # Live (unreaped) children by pid; changed under server._lock (``connections`` reads it).
        self.children: dict[int, _Child] = {}

    def run(self) -> None:
        """Accept and fork until the server stops; then stop and reap every child."""
        server = self.server
        # The lifeline: every child watches life_r; only this process keeps life_w (children
        # close their copy), so the children read EOF when, and only when, the parent dies.
        life_r, life_w = socket.socketpair()
        sel = selectors.DefaultSelector()
        try:
            sel.register(server._wake_r, selectors.EVENT_READ, "stop")
            accepting = False
            while not server.stopping:
                room = len(self.children) < server.max_children
                if room != accepting:
                    if room:
                        sel.register(server._listener, selectors.EVENT_READ, "accept")
                    else:
                        # New clients wait in the listen backlog until a child exits.
                        sel.unregister(server._listener)
                        log.info("max_children (%d) running; not accepting", server.max_children)
                    accepting = room
                ready = sel.select(self._reap_wait())
                if server.stopping:
                    break
                for key, _ in ready:
                    if isinstance(key.data, _Child):
                        self._read_status(sel, key.data)
                    elif key.data == "accept":
                        self._fork_child(sel, life_r, life_w)
                self._reap(sel)
        finally:
            try:
                self._stop_children(sel)
            finally:
                sel.close()
                life_r.close()
                life_w.close()

    def _reap_wait(self) -> float | None:
        if not self.children:
            return None
        if any(child.eof for child in self.children.values()):
            return _REAP_SOON
        return _REAP_INTERVAL

    # -- forking -----------------------------------------------------------------------------

    def _fork_child(
        self, sel: selectors.BaseSelector, life_r: socket.socket, life_w: socket.socket
    ) -> None:
        server = self.server
        conn = server._accept()
        if conn is None:
            return
        status_r, status_w = os.pipe()
        # SIGTERM/SIGINT stay blocked across the fork until the child has installed its own
        # handler: a stop() racing with this fork then reaches that handler instead of the
        # one inherited from this process (which might kill the child mid-call, or ignore it).
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            os.close(status_r)
            os.close(status_w)
            log.error("fork failed (%s); closing %s", exc, conn.stream.peer)
            conn.close()
            server._stopping.wait(0.1)  # out of processes or memory: back off instead of spinning
            return
        if pid == 0:
            self._child_main(conn, sel, status_r, status_w, life_r, life_w, old_mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(status_w)
        os.set_blocking(status_r, False)
        conn.close()  # the child's descriptor keeps the socket open; ours would keep it alive
        child = _Child(pid, conn.stream.peer, status_r)
        with server._lock:
            self.children[pid] = child
        sel.register(child, selectors.EVENT_READ, child)
        log.debug("forked child %d for %s", pid, child.peer)

    # -- in the child ------------------------------------------------------------------------

    def _child_main(
        self,
        conn: _Connection,
        sel: selectors.BaseSelector,
        status_r: int,
        status_w: int,
        life_r: socket.socket,
        life_w: socket.socket,
        old_mask: set[int | signal.Signals],
    ) -> NoReturn:
        """The forked child: serve ``conn``, report, exit. Never returns into the parent's code."""
        server = self.server
        code = 1
        try:
            try:
                # Closing our copy of the parent's epoll descriptor leaves its interest set
                # alone; unregistering anything here would change the parent's.
                sel.close()
                self._become_child(conn, status_r, life_w)
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                code = 0 if server._serve_blocking(conn, life_r) else 1
            except SystemExit as exc:  # the handler called sys.exit(): honour its status
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                log.exception("child %d serving %s failed", os.getpid(), conn.stream.peer)
            conn.close()  # already closed unless setting up the child failed
            os.write(status_w, _REPORT.pack(server.calls_served))
        except BaseException:
            pass  # nothing may keep this process from the exit below
        finally:
            for stream in (sys.stdout, sys.stderr):  # os._exit skips Python's own flush
                try:
                    stream.flush()
                except BaseException:
                    pass
            os._exit(code if 0 <= code <= 255 else 1)  # 256 would wrap to a clean 0

    def _become_child(self, conn: _Connection, status_r: int, life_w: socket.socket) -> None:
        """Drop what belongs to the parent; give the child its own locks, wake-up and signals."""
        _close_fds([status_r, *(child.status_fd for child in self.children.values())])
        life_w.close()  # otherwise the lifeline could never read EOF
        # The listener and wake-up close; locks and events are replaced (another parent thread
        # may have held them at the fork; that thread is not here); only `conn` is left open.
        self.server._after_fork_in_child(conn)
        self.children = {}
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        """Child only (SIGTERM/SIGINT): let the running call reply, then close and exit."""
        server = self.server
        if not server._stopping.is_set():
            server._stopping.set()
            try:
                server._wake_w.send(b"x")
            except OSError:
                pass  # the serving loop has already left its last wait

    # -- reaping -----------------------------------------------------------------------------

    def _read_status(self, sel: selectors.BaseSelector, child: _Child) -> None:
        try:
            data = os.read(child.status_fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            child.report += data
            return
        # EOF stays readable forever: stop watching and reap the child (it may take a moment
        # more to become waitable; _reap_wait polls soon).
        sel.unregister(child)
        child.eof = True

    def _reap(self, sel: selectors.BaseSelector) -> None:
        for pid, child in list(self.children.items()):
            status: int | None
            try:
                done, status = os.waitpid(pid, os.WNOHANG)  # this pid only: not others' children
            except ChildProcessError:
                done, status = pid, None  # already reaped elsewhere (SIGCHLD set to SIG_IGN)
            if done:
                self._child_gone(sel, child, status)

    def _child_gone(self, sel: selectors.BaseSelector, child: _Child, status: int | None) -> None:
        server = self.server
        if not child.eof:
            sel.unregister(child)
        while True:  # the report may still be in the pipe
            try:
                data = os.read(child.status_fd, 64)
            except OSError:
                break
            if not data:
                break
            child.report += data
        _close_fds([child.status_fd])
        with server._lock:
            del self.children[child.pid]
        if len(child.report) == _REPORT.size:
            server.calls_served += _REPORT.unpack(child.report)[0]
        code = None if status is None else os.waitstatus_to_exitcode(status)
        if code is not None and code < 0:
            log.warning(
                "child %d serving %s was killed by %s", child.pid, child.peer, _signame(-code)
            )
        elif code:
            log.warning("child %d serving %s exited with status %d", child.pid, child.peer, code)
        else:
            log.debug("child %d serving %s exited", child.pid, child.peer)

    # -- shutdown ----------------------------------------------------------------------------

    def _stop_children(self, sel: selectors.BaseSelector) -> None:
        """After the accept loop: SIGTERM every child, wait for them, SIGKILL stragglers."""
        server = self.server
        for fileobj in (server._listener, server._wake_r):
            try:
                sel.unregister(fileobj)
            except (KeyError, ValueError):
                pass  # not registered (at max_children), or already closed
        server._close_listener()
        # Without stop() (serve_forever raised), children still get time to finish calls.
        stopped = server.stopping
        deadline = server._drain_deadline if stopped else time.monotonic() + _DEFAULT_DRAIN
        self._signal_children(signal.SIGTERM)
        self._wait_children(sel, deadline)
        if self.children:
            log.warning("stop: %d children still running; killing them", len(self.children))
            self._signal_children(signal.SIGKILL)
            self._wait_children(sel, time.monotonic() + _KILL_WAIT)
        if self.children:
            log.error("stop: could not reap children %s", sorted(self.children))
            _close_fds([child.status_fd for child in self.children.values()])
            with server._lock:
                self.children.clear()

    def _wait_children(self, sel: selectors.BaseSelector, deadline: float) -> None:
        while self.children:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for key, _ in sel.select(min(remaining, 0.02)):
                if isinstance(key.data, _Child):
                    self._read_status(sel, key.data)
            self._reap(sel)

    def _signal_children(self, signum: int) -> None:
        # Only unreaped pids: a zombie keeps its pid, so this cannot hit a recycled one.
        for pid in list(self.children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass  # exiting on its own; reaped by the caller


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass  # closing twice is harmless


def _signame(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
