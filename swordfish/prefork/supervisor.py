"""The pre-fork supervisor: bind once, fork workers, keep them healthy, reload, drain.

One process, one thread, one ``selectors`` loop. It watches a wake-up pipe (signals arrive
through ``signal.set_wakeup_fd``; the handlers only queue the signal number) and one pipe per
worker (``messages``: ready, heartbeats with call counts, retire, bye, error). It never
accepts a connection: the listening socket is bound here once and inherited by every worker,
and because the socket stays open in the supervisor, connections that arrive while workers
come and go wait in its backlog instead of being refused.

Worker states (``_Worker.state``)::

    starting --ready--> ready --retire--> retiring          (max_requests reached)
        |                 |                  |
        +-----------------+------------------+--SIGTERM--> stopping --exit--> (reaped)

- ``starting``: forked, building its app. No ``ready`` within ``start_timeout``: SIGKILL.
- ``ready`` / ``retiring``: serving. No message for ``worker_timeout`` (heartbeats come every
  ``heartbeat_interval``): SIGKILL, counted as a heartbeat timeout and a restart.
- ``retiring``: keeps serving until its replacement is ready; then it is sent SIGTERM.
- ``stopping``: sent SIGTERM; drains for ``graceful_timeout``; SIGKILL after a further
  ``KILL_MARGIN`` seconds if it is still there.

An exit the supervisor did not ask for (crash, SIGKILL from outside, heartbeat timeout) is a
*restart*: the worker is replaced after an exponential backoff (``restart_delay`` doubling up
to ``max_restart_delay``; the streak resets once a worker has lived ``STABLE_AFTER`` seconds),
so a handler that crashes on start cannot fork-bomb the machine. If the *first* generation
cannot start, ``start()`` stops everything and raises ``WorkerStartError``.

SIGHUP (``reload()``) starts a new generation of ``workers`` processes beside the old one;
once every new worker is ready, the old generation is sent SIGTERM and drains. If a new worker
fails to start (say the handler's code on disk is broken) the reload is abandoned and the old
generation keeps serving. SIGTERM or SIGINT (``stop()``) drains every worker and returns from
``run()``; a second one kills them at once.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import os
import random
import selectors
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn, Self

from ..aio.loops import LOOPS
from ..errors import SwordfishError, TransportError
from ..rpc.options import check_choice, check_positive_int, check_timeout
from ..sync.stream import format_address
from . import messages
from .app import AppFactory
from .worker import EXIT_START_FAILED, SUPERVISOR_SIGNALS, WorkerConfig, run_worker

__all__ = [
    "KILL_MARGIN",
    "STABLE_AFTER",
    "WORKER_SERVERS",
    "Supervisor",
    "WorkerStartError",
    "restart_delay",
]

log = logging.getLogger("swordfish.prefork")

#: ``worker_server=`` values: a thread-pool ``Server`` or an ``AsyncServer`` per worker.
WORKER_SERVERS = ("threadpool", "asyncio")
#: Seconds past ``graceful_timeout`` before a worker that ignores SIGTERM is killed.
KILL_MARGIN = 1.0
#: A worker that was ready this long resets the crash streak (and so the backoff).
STABLE_AFTER = 10.0
#: How often the status file is rewritten when nothing else changed (heartbeat ages move).
STATUS_INTERVAL = 2.0
#: The longest the loop sleeps without a reason to wake (it wakes on every event anyway).
MAX_SLEEP = 0.5
#: Exits remembered for ``status()["recent_exits"]``.
RECENT_EXITS = 32

STARTING, READY, RETIRING, STOPPING = "starting", "ready", "retiring", "stopping"


class WorkerStartError(SwordfishError):
    """A worker of the first generation could not start; nothing is serving.

    ``text`` is the worker's own message; ``usage`` is true when the app factory raised
    ``AppLoadError`` (a configuration mistake rather than a crash).
    """

    def __init__(self, pid: int, text: str, *, usage: bool = False) -> None:
        super().__init__(f"worker {pid} failed to start: {text}")
        self.pid = pid
        self.text = text
        self.usage = usage


def restart_delay(failures: int, first: float, cap: float) -> float:
    """Seconds to wait before the next spawn after ``failures`` failures in a row (>= 1)."""
    if failures <= 0:
        return 0.0
    return min(cap, first * 2.0 ** min(failures - 1, 64))


def describe_exit(code: int | None) -> str:
    """``os.waitstatus_to_exitcode`` in words: "exited with code 3", "killed by SIGKILL"."""
    if code is None:
        return "exited (status unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


@dataclass(eq=False)
class _Worker:
    pid: int
    generation: int
    fd: int | None  # read end of its pipe; None once closed
    max_requests: int | None
    started_at: float  # wall clock, for status
    started: float  # monotonic
    state: str = STARTING
    last_seen: float = 0.0  # monotonic time of its last message
    ready_at: float | None = None  # monotonic
    calls: int = 0
    error: messages.Message | None = None
    killed: str | None = None  # why we sent SIGKILL
    timed_out: bool = False  # killed for missing heartbeats
    deadline: float = 0.0  # stopping: when to SIGKILL
    reader: messages.MessageReader = field(default_factory=messages.MessageReader)


class Supervisor:
    """Serve one app from ``workers`` forked processes sharing one listening socket.

    app: zero-argument factory called in each worker after the fork (``WorkerApp`` or a
        ``(service, handler)`` pair); never called in the supervisor.
    host, port: where to listen (``port=0``: a free port; read ``.port`` after ``start()``).
    workers: processes to keep serving (default: the number of CPUs).
    worker_server: "threadpool" (a sync ``Server``, ``threads`` pool threads) or "asyncio"
        (an ``AsyncServer`` on ``loop``; ``threads`` = its ``handler_threads``).
    max_requests: replace a worker after about this many calls (plus a random
        0..``max_requests_jitter``, so workers do not all recycle at once); None = never.
    graceful_timeout: seconds a stopping worker may spend finishing its calls.
    worker_timeout: a serving worker silent this long is killed and replaced.
    start_timeout: a new worker not ready this long is killed (a failed start).
    restart_delay, max_restart_delay: crash backoff, first delay and cap (seconds).
    status_file: path of a JSON copy of ``status()``, replaced atomically on every change
        and every ``STATUS_INTERVAL`` seconds.
    backlog: listen backlog of the shared socket.
    ssl_context_factory: serve TLS. A zero-argument callable returning the server's
        ``ssl.SSLContext``, called in each worker after the fork (one context per process;
        an ``SSLContext`` object is refused, since it would be shared across ``fork()``):
        ``functools.partial(swordfish.tls.server_context, "server.pem", "server.key")``.
        A factory that fails makes the worker's start fail (``WorkerStartError``).

    ``start()`` binds and waits for the first generation; ``run()`` (which starts if needed)
    supervises until SIGTERM/SIGINT or ``stop()``. Both must run in the main thread of a
    process without other threads: ``fork()`` copies only the calling thread, and a lock held
    by another thread at that instant would stay locked forever in the child.
    """

    def __init__(
        self,
        app: AppFactory,
        host: str = "127.0.0.1",
        port: int = 9090,
        *,
        workers: int | None = None,
        worker_server: str = "threadpool",
        threads: int | None = None,
        loop: str = "asyncio",
        max_requests: int | None = None,
        max_requests_jitter: int = 0,
        graceful_timeout: float = 5.0,
        worker_timeout: float = 30.0,
        start_timeout: float = 30.0,
        restart_delay: float = 0.1,
        max_restart_delay: float = 10.0,
        status_file: str | os.PathLike[str] | None = None,
        backlog: int = 1024,
        ssl_context_factory: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a zero-argument factory, not {app!r}")
        if isinstance(ssl_context_factory, ssl.SSLContext):
            raise TypeError(
                "ssl_context_factory must be a zero-argument callable that builds the context "
                "in each worker (e.g. functools.partial(swordfish.tls.server_context, cert, "
                "key)), not an SSLContext shared across fork()"
            )
        if ssl_context_factory is not None and not callable(ssl_context_factory):
            raise TypeError(f"ssl_context_factory must be callable, not {ssl_context_factory!r}")
        self.ssl_context_factory = ssl_context_factory
        self.app = app
        self.host_arg = host
        self.port_arg = port
        self.workers = check_positive_int(
            "workers", (os.cpu_count() or 1) if workers is None else workers
        )
        self.worker_server = check_choice("worker_server", worker_server, WORKER_SERVERS)
        self.threads = None if threads is None else check_positive_int("threads", threads)
        self.loop = check_choice("loop", loop, LOOPS)
        if loop != "asyncio" and worker_server != "asyncio":
            raise ValueError(f"loop={loop!r} applies to worker_server='asyncio' only")
        if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError(
                "loop='uvloop' needs the uvloop package (pip install 'swordfish[aio]')"
            )
        if max_requests is not None:
            check_positive_int("max_requests", max_requests)
        self.max_requests = max_requests
        if type(max_requests_jitter) is not int or max_requests_jitter < 0:
            raise ValueError(
                f"max_requests_jitter must be an int >= 0, got {max_requests_jitter!r}"
            )
        if max_requests_jitter and max_requests is None:
            raise ValueError("max_requests_jitter needs max_requests")
        self.max_requests_jitter = max_requests_jitter
        self.graceful_timeout = _seconds("graceful_timeout", graceful_timeout)
        self.worker_timeout = _seconds("worker_timeout", worker_timeout)
        self.start_timeout = _seconds("start_timeout", start_timeout)
        self.restart_delay = _seconds("restart_delay", restart_delay)
        self.max_restart_delay = max(
            self.restart_delay, _seconds("max_restart_delay", max_restart_delay)
        )
        #: Heartbeats come this often: several per ``worker_timeout``, at least one a second
        #: (they also carry the call counts that ``status()`` reports).
        self.heartbeat_interval = min(1.0, self.worker_timeout / 4)
        self.status_file = None if status_file is None else os.fspath(status_file)
        self.backlog = check_positive_int("backlog", backlog)

        self._state = "created"
        self._listener: socket.socket | None = None
        self._address: tuple[Any, ...] = (host, port)
        self._sel: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._saved_handlers: dict[int, Any] = {}
        self._saved_wakeup_fd = -1
        self._signals: collections.deque[int] = collections.deque()
        self._workers: dict[int, _Worker] = {}
        self._generation = 0  # the generation the worker count is kept for
        self._last_generation = 0  # highest generation number handed out
        self._pending: int | None = None  # a reload's generation, until it is all ready
        self._reload_deadline = 0.0
        self._failures = 0  # crash streak, for the backoff
        self._next_spawn = 0.0
        self._start_error: WorkerStartError | None = None
        self._started_at = 0.0
        self._status_dirty = True
        self._status_due = 0.0
        self._status_failing = False
        self._exits: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_EXITS)
        self._calls_exited = 0
        self.spawned = 0
        self.restarts = 0
        self.heartbeat_timeouts = 0
        self.failed_starts = 0
        self.recycles = 0
        self.reloads = 0
        self.failed_reloads = 0

    # -- public surface ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """created, starting, running, reloading, stopping or stopped."""
        return self._state

    @property
    def serving(self) -> bool:
        return self._state in ("running", "reloading")

    @property
    def host(self) -> str:
        return str(self._address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one after ``start()`` with ``port=0``)."""
        return int(self._address[1])

    @property
    def address(self) -> str:
        return format_address(self._address)

    def start(self) -> Self:
        """Bind, fork the first generation and return once every worker is ready.

        Raises ``TransportError`` if the address cannot be bound and ``WorkerStartError``
        (after stopping the others) if a first-generation worker fails to start. Returns
        early, with ``state == "stopping"``, if SIGTERM/SIGINT arrives meanwhile; ``run()``
        then finishes the stop.
        """
        if self._state != "created":
            raise RuntimeError(f"this supervisor was already started (state {self._state})")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("a Supervisor must run in the main thread (it handles signals)")
        if threading.active_count() > 1:
            log.warning(
                "supervisor: %d threads are running; fork() copies only this one, and a lock "
                "another thread holds would stay held in every worker",
                threading.active_count(),
            )
        self._listener = _bind(self.host_arg, self.port_arg, self.backlog)
        self._address = self._listener.getsockname()
        self._state = "starting"
        self._started_at = time.time()
        try:
            self._install()
            log.info(
                "supervisor %d listening on %s (workers=%d, worker_server=%s)",
                os.getpid(),
                self.address,
                self.workers,
                self.worker_server,
            )
            self._generation = self._last_generation = 1
            for _ in range(self.workers):
                self._spawn(1)
            self._loop(lambda: self._state != "starting")
            if self._start_error is not None:
                self._loop(lambda: not self._workers)
                raise self._start_error
        except BaseException:
            self._kill_all()
            self._teardown()
            raise
        return self

    def run(self) -> None:
        """Supervise until stopped (``start()`` first if needed); returns after the drain."""
        if self._state == "created":
            self.start()
        if self._state == "stopped":
            raise RuntimeError("this supervisor has stopped")
        try:
            self._loop(lambda: self._state == "stopping" and not self._workers)
        except BaseException:
            self._kill_all()
            raise
        finally:
            self._teardown()
        log.info("supervisor %d stopped", os.getpid())

    def stop(self) -> None:
        """Ask for a graceful stop (what SIGTERM does); a second call kills the workers.

        Safe from a signal handler or another thread: it only queues the request.
        """
        self._request(signal.SIGTERM)

    def reload(self) -> None:
        """Ask for a new generation of workers (what SIGHUP does); see the module docstring."""
        self._request(signal.SIGHUP)

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot: the supervisor, every live worker, counters, recent exits."""
        now = time.monotonic()
        wall = time.time()
        workers = []
        for w in sorted(self._workers.values(), key=lambda w: w.started):
            seen = w.last_seen if w.last_seen else None
            workers.append(
                {
                    "pid": w.pid,
                    "generation": w.generation,
                    "state": w.state,
                    "started_at": round(w.started_at, 3),
                    "ready_at": None if w.ready_at is None else round(wall - (now - w.ready_at), 3),
                    "requests": w.calls,
                    "max_requests": w.max_requests,
                    "last_heartbeat": None if seen is None else round(wall - (now - seen), 3),
                    "heartbeat_age": None if seen is None else round(now - seen, 3),
                }
            )
        return {
            "pid": os.getpid(),
            "state": self._state,
            "address": self.address,
            "host": self.host,
            "port": self.port,
            "worker_server": self.worker_server,
            "tls": self.ssl_context_factory is not None,
            "workers_wanted": self.workers,
            "generation": self._generation,
            "reloading_generation": self._pending,
            "started_at": round(self._started_at, 3),
            "updated_at": round(wall, 3),
            "requests": self._calls_exited + sum(w.calls for w in self._workers.values()),
            "spawned": self.spawned,
            "restarts": self.restarts,
            "heartbeat_timeouts": self.heartbeat_timeouts,
            "failed_starts": self.failed_starts,
            "recycles": self.recycles,
            "reloads": self.reloads,
            "failed_reloads": self.failed_reloads,
            "workers": workers,
            "recent_exits": list(self._exits),
        }

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self, done: Callable[[], bool]) -> None:
        sel = self._sel
        assert sel is not None
        while not done():
            for key, _ in sel.select(self._sleep(time.monotonic())):
                if key.data is None:
                    _drain(self._wake_r)
                else:
                    self._read(key.data)
            self._handle_signals()
            self._reap()
            now = time.monotonic()
            self._check_deadlines(now)
            self._advance_reload()
            self._maintain(now)
            self._write_status(now)

    def _sleep(self, now: float) -> float:
        wake = now + MAX_SLEEP
        for w in self._workers.values():
            if w.killed is not None:
                continue
            if w.state == STARTING:
                wake = min(wake, w.started + self.start_timeout)
            elif w.state == STOPPING:
                wake = min(wake, w.deadline)
            else:
                wake = min(wake, w.last_seen + self.worker_timeout)
        if self.serving and self._next_spawn > now:
            wake = min(wake, self._next_spawn)
        if self.status_file is not None:
            wake = min(wake, self._status_due)
        return max(0.0, wake - now)

    # -- signals -----------------------------------------------------------------------------

    def _install(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._saved_wakeup_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in SUPERVISOR_SIGNALS:
            self._saved_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only queue it: the loop acts on it (the wake-up fd has already woken the select).
        self._signals.append(signum)

    def _request(self, signum: int) -> None:
        self._signals.append(signum)
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass  # full (the loop will wake anyway) or closed (nothing to wake)

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.popleft()
            if sig in (signal.SIGTERM, signal.SIGINT):
                if self._state == "stopping":
                    log.warning("supervisor: second stop signal; killing the workers")
                    self._kill_all(reap=False)
                else:
                    self._begin_stop(f"{signal.Signals(sig).name} received")
            elif sig == signal.SIGHUP:
                if self.serving:
                    self._begin_reload()
                else:
                    log.info("supervisor: SIGHUP ignored while %s", self._state)
            elif sig == signal.SIGUSR1:
                log.info("status: %s", json.dumps(self.status(), sort_keys=True))
            # SIGCHLD: nothing to do here; every pass of the loop reaps.

    # -- workers -----------------------------------------------------------------------------

    def _spawn(self, generation: int) -> None:
        assert self._listener is not None and self._sel is not None
        limit = None
        if self.max_requests is not None:
            limit = self.max_requests + random.randint(0, self.max_requests_jitter)
        config = WorkerConfig(
            worker_server=self.worker_server,
            threads=self.threads,
            loop=self.loop,
            max_requests=limit,
            graceful_timeout=self.graceful_timeout,
            heartbeat_interval=self.heartbeat_interval,
            parent_pid=os.getpid(),
            ssl_context_factory=self.ssl_context_factory,
        )
        r, w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # or the child would write our buffered output a second time
            except (OSError, ValueError, AttributeError):
                pass
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._child(r, w, config)
        except OSError as exc:  # EAGAIN/ENOMEM: too many processes; back off and try again
            os.close(r)
            os.close(w)
            log.error("supervisor: fork failed: %s", exc)
            if self._state == "starting":  # the first generation must come up whole
                raise SwordfishError(f"fork failed: {exc}") from exc
            self._crashed(time.monotonic(), 0.0)
            return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(w)
        os.set_blocking(r, False)
        now = time.monotonic()
        worker = _Worker(pid, generation, r, limit, time.time(), now)
        self._workers[pid] = worker
        self._sel.register(r, selectors.EVENT_READ, worker)
        self.spawned += 1
        self._status_dirty = True
        log.info("worker %d spawned (generation %d)", pid, generation)

    def _child(self, r: int, w: int, config: WorkerConfig) -> NoReturn:
        """In the forked child: drop the supervisor's descriptors, serve, and never return."""
        code = 70  # EX_SOFTWARE: a bug escaped run_worker
        try:
            os.close(r)
            assert self._sel is not None and self._listener is not None
            self._sel.close()  # our copy of the epoll fd; the parent's registrations stay
            for fd in (self._wake_r, self._wake_w, *(x.fd for x in self._workers.values())):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            code = run_worker(self.app, self._listener, w, config)
        except BaseException:
            try:
                traceback.print_exc()
            except BaseException:
                pass
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            os._exit(code)

    def _read(self, worker: _Worker) -> None:
        if worker.fd is None:
            return
        while True:
            try:
                data = os.read(worker.fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("worker %d: reading its pipe failed: %s", worker.pid, exc)
                data = b""
            if not data:
                self._close_pipe(worker)
                return
            now = time.monotonic()
            worker.last_seen = now
            for message in worker.reader.feed(data):
                self._on_message(worker, message, now)

    def _close_pipe(self, worker: _Worker) -> None:
        if worker.fd is None:
            return
        assert self._sel is not None
        self._sel.unregister(worker.fd)
        os.close(worker.fd)
        worker.fd = None

    def _on_message(self, worker: _Worker, message: messages.Message, now: float) -> None:
        kind = message.kind
        if message.calls is not None:
            if message.calls != worker.calls:
                self._status_dirty = True
            worker.calls = message.calls
        if kind == messages.READY and worker.state == STARTING:
            worker.state = READY
            worker.ready_at = now
            self._status_dirty = True
            log.info(
                "worker %d ready in %.2f s (generation %d)",
                worker.pid,
                now - worker.started,
                worker.generation,
            )
            self._on_ready(worker)
        elif kind == messages.RETIRE and worker.state == READY:
            worker.state = RETIRING
            self.recycles += 1
            self._status_dirty = True
            log.info(
                "worker %d served %d calls (max_requests %s); starting its replacement",
                worker.pid,
                worker.calls,
                worker.max_requests,
            )
        elif kind == messages.ERROR:
            worker.error = message
        elif kind == messages.INVALID:
            log.warning("worker %d sent an unreadable message: %s", worker.pid, message.text)

    def _on_ready(self, worker: _Worker) -> None:
        if self._state == "starting":
            first = [w for w in self._workers.values() if w.generation == 1]
            if len(first) == self.workers and all(w.state == READY for w in first):
                self._state = "running"
                log.info("supervisor: %d workers ready", self.workers)
            return
        if worker.generation == self._generation:
            # A replacement is up: the oldest worker waiting for one may now drain.
            retiring = [w for w in self._workers.values() if w.state == RETIRING]
            if retiring:
                self._terminate(min(retiring, key=lambda w: w.started), "replaced")

    def _terminate(self, worker: _Worker, why: str) -> None:
        """SIGTERM: drain and exit (SIGKILL at ``graceful_timeout + KILL_MARGIN``)."""
        if worker.state == STOPPING or worker.killed is not None:
            return
        worker.state = STOPPING
        worker.deadline = time.monotonic() + self.graceful_timeout + KILL_MARGIN
        self._status_dirty = True
        log.info("worker %d: stopping (%s)", worker.pid, why)
        _send(worker.pid, signal.SIGTERM)

    def _kill(self, worker: _Worker, why: str) -> None:
        if worker.killed is not None:
            return
        worker.killed = why
        self._status_dirty = True
        log.warning("worker %d: %s; killing it", worker.pid, why)
        _send(worker.pid, signal.SIGKILL)

    def _check_deadlines(self, now: float) -> None:
        for w in list(self._workers.values()):
            if w.killed is not None:
                continue
            if w.state == STARTING and now - w.started > self.start_timeout:
                self._kill(w, f"not ready after {self.start_timeout:g} s")
            elif w.state in (READY, RETIRING) and now - w.last_seen > self.worker_timeout:
                self.heartbeat_timeouts += 1
                w.timed_out = True
                self._kill(w, f"no heartbeat for {now - w.last_seen:.1f} s")
            elif w.state == STOPPING and now > w.deadline:
                self._kill(
                    w, f"still running {self.graceful_timeout + KILL_MARGIN:g} s after SIGTERM"
                )
        if self._pending is not None and now > self._reload_deadline:
            self._fail_reload(
                f"generation {self._pending} not ready after {self.start_timeout:g} s"
            )

    def _reap(self) -> None:
        for w in list(self._workers.values()):
            try:
                pid, status = os.waitpid(w.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else (waitpid(-1) elsewhere)
                pid, status = w.pid, -1
            if pid == 0:
                continue
            self._read(w)  # its last words: bye with the final count, or the start error
            self._close_pipe(w)
            del self._workers[w.pid]
            self._on_exit(w, None if status == -1 else os.waitstatus_to_exitcode(status))

    def _on_exit(self, w: _Worker, code: int | None) -> None:
        now = time.monotonic()
        how = describe_exit(code)
        self._calls_exited += w.calls
        self._status_dirty = True
        state = w.state
        if state == STOPPING:
            reason = "stopped"
        elif state == STARTING:
            reason = "failed to start"
        else:
            reason = "heartbeat timeout" if w.timed_out else "crashed"
        self._exits.append(
            {
                "pid": w.pid,
                "generation": w.generation,
                "state": state,
                "exit": how,
                "exit_code": code,
                "reason": reason,
                "requests": w.calls,
                "at": round(time.time(), 3),
            }
        )
        if state == STOPPING:
            log.info("worker %d %s after %d calls", w.pid, how, w.calls)
            return
        if self._state == "stopping":
            log.info("worker %d %s while stopping (%s)", w.pid, how, state)
            return
        if state == STARTING:
            self.failed_starts += 1
            if w.error is not None:
                text = w.error.text
            elif w.killed is not None:
                text = w.killed
            elif code == EXIT_START_FAILED:
                text = f"{how} (no message)"
            else:
                text = f"{how} before it was ready"
        else:
            text = f"{how} ({w.killed})" if w.killed else how
            text += " while the others were starting"
        if self._state == "starting":
            # The first generation must come up whole: a worker that dies now is a broken
            # app, not bad luck, and there is nothing serving to fall back on.
            log.error("worker %d failed to start: %s", w.pid, text)
            usage = w.error is not None and w.error.detail == "usage"
            self._start_error = WorkerStartError(w.pid, text, usage=usage)
            self._begin_stop("the first generation could not start")
            return
        if state == STARTING:
            if w.generation == self._pending:
                self._fail_reload(f"worker {w.pid} failed to start: {text}")
                return
            delay = self._crashed(now, 0.0)
            log.error("worker %d failed to start: %s; next try in %.2f s", w.pid, text, delay)
            return
        # Serving (ready or retiring) and gone without being asked: a restart.
        if w.generation == self._pending:
            self._fail_reload(f"worker {w.pid} {how} before the reload finished")
            return
        self.restarts += 1
        lived = 0.0 if w.ready_at is None else now - w.ready_at
        delay = self._crashed(now, lived)
        log.warning(
            "worker %d %s%s after %d calls; replacing it in %.2f s",
            w.pid,
            how,
            f" ({w.killed})" if w.killed else "",
            w.calls,
            delay,
        )

    def _crashed(self, now: float, lived: float) -> float:
        if lived >= STABLE_AFTER:
            self._failures = 0
        self._failures += 1
        delay = restart_delay(self._failures, self.restart_delay, self.max_restart_delay)
        self._next_spawn = max(self._next_spawn, now + delay)
        return delay

    def _maintain(self, now: float) -> None:
        """Keep ``workers`` processes of the current generation starting or serving."""
        if not self.serving or now < self._next_spawn:
            return
        active = sum(
            1
            for w in self._workers.values()
            if w.generation == self._generation and w.state in (STARTING, READY) and not w.killed
        )
        for _ in range(self.workers - active):
            self._spawn(self._generation)

    # -- reload and stop ---------------------------------------------------------------------

    def _begin_reload(self) -> None:
        if self._pending is not None:
            for w in list(self._workers.values()):
                if w.generation == self._pending:
                    self._terminate(w, "superseded by a newer reload")
            log.info("reload: generation %d superseded", self._pending)
        self._last_generation += 1
        self._pending = self._last_generation
        self._reload_deadline = time.monotonic() + self.start_timeout
        self._state = "reloading"
        log.info("reload: starting generation %d (%d workers)", self._pending, self.workers)
        for _ in range(self.workers):
            self._spawn(self._pending)

    def _advance_reload(self) -> None:
        pending = self._pending
        if pending is None or self._state != "reloading":
            return
        new = [w for w in self._workers.values() if w.generation == pending]
        # A new worker that already hit max_requests (retiring) is serving too; it is
        # replaced like any other once its generation is the current one.
        if len(new) < self.workers or any(w.state not in (READY, RETIRING) for w in new):
            return
        old = self._generation
        self._generation = pending
        self._pending = None
        self._state = "running"
        self.reloads += 1
        self._failures = 0
        self._next_spawn = 0.0
        log.info("reload: generation %d ready; draining generation %d", pending, old)
        for w in list(self._workers.values()):
            if w.generation != pending:
                self._terminate(w, f"reload to generation {pending}")

    def _fail_reload(self, why: str) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if self._state == "reloading":
            self._state = "running"
        self.failed_reloads += 1
        log.error("reload failed: %s; generation %d keeps serving", why, self._generation)
        for w in list(self._workers.values()):
            if w.generation == pending:
                self._terminate(w, "reload abandoned")

    def _begin_stop(self, why: str) -> None:
        self._state = "stopping"
        self._pending = None
        self._status_dirty = True
        self._close_listener()
        log.info(
            "stopping (%s): draining %d workers (up to %g s)",
            why,
            len(self._workers),
            self.graceful_timeout,
        )
        for w in list(self._workers.values()):
            self._terminate(w, "supervisor stopping")

    def _kill_all(self, reap: bool = True) -> None:
        """SIGKILL every worker; with ``reap``, also wait for them (bounded) and forget them."""
        for w in self._workers.values():
            if w.killed is None:
                w.killed = "supervisor shutting down hard"
                _send(w.pid, signal.SIGKILL)
        if not reap:
            return
        deadline = time.monotonic() + 5.0
        while self._workers and time.monotonic() < deadline:
            for w in list(self._workers.values()):
                try:
                    pid, _ = os.waitpid(w.pid, os.WNOHANG)
                except ChildProcessError:
                    pid = w.pid
                if pid:
                    self._close_pipe(w)
                    del self._workers[w.pid]
            if self._workers:
                time.sleep(0.01)

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _teardown(self) -> None:
        self._state = "stopped"
        self._close_listener()
        self._status_dirty = True
        self._write_status(time.monotonic())
        if self._wake_w >= 0:
            signal.set_wakeup_fd(self._saved_wakeup_fd)
            for sig, handler in self._saved_handlers.items():
                signal.signal(sig, handler)
            self._saved_handlers.clear()
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # -- status file -------------------------------------------------------------------------

    def _write_status(self, now: float) -> None:
        if self.status_file is None or not (self._status_dirty or now >= self._status_due):
            return
        self._status_dirty = False
        self._status_due = now + STATUS_INTERVAL
        path = self.status_file
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.status(), f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)  # readers see the old file or the new one, never half
        except OSError as exc:
            if not self._status_failing:  # once per run of failures, not every 2 s
                log.warning("supervisor: cannot write status file %s: %s", path, exc)
            self._status_failing = True
        else:
            self._status_failing = False


def _seconds(what: str, value: object) -> float:
    seconds = check_timeout(what, value)
    if seconds is None:
        raise ValueError(f"{what} must be a positive number of seconds, got None")
    return seconds


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # already gone; the reaper will see it


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """The shared listening socket (SO_REUSEADDR: restart without TIME_WAIT pain)."""
    address = format_address((host, port))
    try:
        infos = socket.getaddrinfo(host or None, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise TransportError(f"listen on {address} failed: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise TransportError(f"listen on {address} failed: {exc}") from exc
    return sock
