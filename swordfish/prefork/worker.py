"""One pre-fork worker: the code a forked child runs until it exits.

The child builds its app (``WorkerApp``, from the factory), serves the inherited listening
socket with a sync thread-pool ``Server`` or an ``AsyncServer``, and talks to its supervisor
over one pipe (``messages``): ``ready`` once serving, a heartbeat carrying ``calls_served``,
``retire`` when ``max_requests`` is reached, ``bye`` after draining.

Where the heartbeat comes from matters, because silence is what gets a worker replaced:

- asyncio: a timer on the serving event loop. A handler that blocks the loop stops the
  heartbeat too, and the supervisor kills and replaces the worker.
- threadpool: the main thread, which only waits, ticks and later drains. Silence means the
  whole process is stuck (stopped, or a C call holding the GIL); a handler call stuck in a
  pool thread is *not* detected (bound those with client deadlines or filters).

TLS: with ``WorkerConfig.ssl_context_factory`` the worker calls it once, after the fork and
before its server starts, and serves every accepted connection over TLS with that context
(the threadpool server wraps each accepted socket; the asyncio one hands the context to the
loop). One context per process, never one inherited from the supervisor: OpenSSL state (session
caches and ticket keys, the random generator's pool in old versions) is not meant to be
duplicated by ``fork()``. A factory that raises, or a file it cannot read, fails the start like
a broken app factory would.

Signals: SIGTERM (and SIGINT, which a terminal sends to the whole process group) start a
graceful stop: stop accepting, finish the calls already received (up to ``graceful_timeout``),
send ``bye``, exit 0. SIGHUP is ignored (it is the supervisor's reload signal). A worker whose
supervisor has died (its parent pid changes, or the pipe breaks) stops gracefully on its own,
so no worker outlives a SIGKILLed supervisor by more than a tick plus its drain.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import messages
from .app import AppFactory, AppLoadError, WorkerApp, as_worker_app

__all__ = ["EXIT_START_FAILED", "SUPERVISOR_SIGNALS", "WorkerConfig", "run_worker"]

log = logging.getLogger("swordfish.prefork.worker")

#: Exit status of a worker that could not start serving (it also sent an ``error`` line).
EXIT_START_FAILED = 3
#: Signals the supervisor handles. They are blocked around ``fork()`` so that none reaches a
#: child before it has installed its own handlers; the child unblocks them afterwards.
SUPERVISOR_SIGNALS = frozenset(
    {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGCHLD,
        signal.SIGUSR1,
    }
)
#: How often the worker checks for a stop, its call count and its parent (seconds, at most).
TICK = 0.1


@dataclass(frozen=True)
class WorkerConfig:
    """What the supervisor decides for one worker at fork time."""

    worker_server: str  # "threadpool" or "asyncio"
    threads: int | None  # pool size / asyncio handler_threads; None = the server's default
    loop: str  # event loop of the asyncio worker
    max_requests: int | None  # already jittered; None = never retire
    graceful_timeout: float
    heartbeat_interval: float
    parent_pid: int  # the supervisor: when getppid() differs, it has died
    # Builds this worker's TLS server context after the fork; None: plain TCP.
    ssl_context_factory: Callable[[], ssl.SSLContext] | None = None


class _StartFailed(Exception):
    def __init__(self, detail: str, text: str) -> None:
        super().__init__(text)
        self.detail = detail
        self.text = text


class _Channel:
    """The write end of the worker's pipe: non-blocking, whole lines, never raises."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.broken = False
        os.set_blocking(fd, False)

    def send(self, message: messages.Message) -> bool:
        """Write one line; ``False`` if it was not written (``broken``: never will be)."""
        if self.broken:
            return False
        try:
            os.write(self.fd, messages.encode(message))
        except BlockingIOError:
            return False  # the supervisor is not reading (stopped?): drop it, keep serving
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                log.warning("worker %d: cannot write to the supervisor: %s", os.getpid(), exc)
            self.broken = True  # the supervisor is gone
            return False
        return True

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass  # already closed


class _Ticker:
    """Heartbeats, the max_requests check and the is-my-supervisor-alive check."""

    def __init__(self, channel: _Channel, config: WorkerConfig, calls: Callable[[], int]) -> None:
        self.channel = channel
        self.config = config
        self.calls = calls
        self.retired = False
        self.next_beat = 0.0
        self.reported = -1

    def tick(self) -> bool:
        """One check; ``False``: the supervisor is gone, stop serving."""
        if os.getppid() != self.config.parent_pid:
            log.warning("worker %d: the supervisor is gone; stopping", os.getpid())
            return False
        calls = self.calls()
        limit = self.config.max_requests
        if limit is not None and calls >= limit and not self.retired:
            # Asked once, but asked again on the next tick if the line could not be written.
            self.retired = self.channel.send(messages.Message(messages.RETIRE, calls=calls))
        now = time.monotonic()
        # A beat every heartbeat_interval, and on every tick that has new calls to report:
        # the supervisor's counts stay fresh (a killed worker loses at most one tick's worth).
        if now >= self.next_beat or calls != self.reported:
            self.next_beat = now + self.config.heartbeat_interval
            self.reported = calls
            self.channel.send(messages.Message(messages.HEARTBEAT, calls=calls))
        return not self.channel.broken


def run_worker(factory: AppFactory, sock: socket.socket, fd: int, config: WorkerConfig) -> int:
    """Serve ``sock`` until told to stop; returns the exit status. Runs in the forked child.

    ``fd`` is the write end of this worker's pipe to the supervisor. The supervisor's
    signals are blocked on entry (see ``SUPERVISOR_SIGNALS``); handlers are installed before
    they are unblocked, so a SIGTERM sent the instant after fork is not lost.
    """
    stop = threading.Event()

    def on_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.set_wakeup_fd(-1)  # the supervisor's wake-up pipe, closed by the caller
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for sig in (signal.SIGCHLD, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)

    channel = _Channel(fd)
    try:
        if config.worker_server == "asyncio":
            return _serve_asyncio(factory, sock, channel, config, stop)
        return _serve_threads(factory, sock, channel, config, stop)
    except _StartFailed as exc:
        channel.send(messages.Message(messages.ERROR, detail=exc.detail, text=exc.text))
        return EXIT_START_FAILED
    finally:
        channel.close()


def _build(factory: AppFactory) -> WorkerApp:
    try:
        return as_worker_app(factory())
    except AppLoadError as exc:
        raise _StartFailed("usage", str(exc)) from exc
    except Exception as exc:
        raise _failed("the app factory raised", exc) from exc


def _server_options(app: WorkerApp, config: WorkerConfig) -> dict[str, Any]:
    """The app's server options, plus this process's own TLS context when configured."""
    options: dict[str, Any] = dict(app.options)
    make_context = config.ssl_context_factory
    if make_context is None:
        return options
    if options.get("ssl_context") is not None:
        raise _StartFailed(
            "usage",
            "TLS is configured twice: the supervisor has ssl_context_factory and the app's "
            "WorkerApp.options has ssl_context; keep one",
        )
    try:
        context = make_context()
    except Exception as exc:
        raise _failed("cannot build the TLS context", exc) from exc
    if not isinstance(context, ssl.SSLContext):
        raise _StartFailed(
            "usage", f"ssl_context_factory must return an ssl.SSLContext, not {context!r}"
        )
    options["ssl_context"] = context
    return options


def _failed(what: str, exc: BaseException) -> _StartFailed:
    # The traceback goes to this worker's stderr (the supervisor's, inherited); the one-line
    # summary travels to the supervisor, which reports it.
    traceback.print_exception(exc)
    return _StartFailed("exception", f"{what}: {type(exc).__name__}: {exc}")


def _serve_threads(
    factory: AppFactory,
    sock: socket.socket,
    channel: _Channel,
    config: WorkerConfig,
    stop: threading.Event,
) -> int:
    from ..sync.server import Server

    app = _build(factory)
    options = _server_options(app, config)
    try:
        server = Server(
            app.service,
            app.handler,
            sock=sock,
            model="threadpool",
            workers=config.threads,
            protocol=app.protocol,
            transport=app.transport,
            **options,
        )
        server.start()
    except Exception as exc:
        raise _failed("cannot start the server", exc) from exc
    channel.send(messages.Message(messages.READY))
    ticker = _Ticker(channel, config, lambda: server.calls_served)
    while not stop.wait(min(TICK, config.heartbeat_interval)):
        if not ticker.tick():
            break
    server.stop(config.graceful_timeout)
    channel.send(messages.Message(messages.BYE, calls=server.calls_served))
    return 0


def _serve_asyncio(
    factory: AppFactory,
    sock: socket.socket,
    channel: _Channel,
    config: WorkerConfig,
    stop: threading.Event,
) -> int:
    import asyncio

    from ..aio.loops import new_event_loop
    from ..aio.server import AsyncServer

    async def main() -> int:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        if stop.is_set():  # a signal arrived before the loop took over
            done.set()
        app = _build(factory)
        options = _server_options(app, config)
        if config.threads is not None:
            options["handler_threads"] = config.threads
        try:
            server = AsyncServer(
                app.service,
                app.handler,
                sock=sock,
                protocol=app.protocol,
                transport=app.transport,
                **options,
            )
            await server.start()
        except Exception as exc:
            raise _failed("cannot start the server", exc) from exc
        channel.send(messages.Message(messages.READY))
        ticker = _Ticker(channel, config, lambda: server.calls_served)
        timer: asyncio.TimerHandle | None = None

        def tick() -> None:
            # On the serving loop itself: if a handler blocks the loop, the heartbeat stops.
            nonlocal timer
            if ticker.tick():
                timer = loop.call_later(min(TICK, config.heartbeat_interval), tick)
            else:
                done.set()

        tick()
        await done.wait()
        if timer is not None:
            timer.cancel()
        await server.stop(config.graceful_timeout)
        channel.send(messages.Message(messages.BYE, calls=server.calls_served))
        return 0

    try:
        event_loop = new_event_loop(config.loop)
    except (RuntimeError, ValueError) as exc:  # uvloop asked for but missing, bad loop name
        raise _StartFailed("usage", str(exc)) from exc
    with asyncio.Runner(loop_factory=lambda: event_loop) as runner:
        return runner.run(main())
