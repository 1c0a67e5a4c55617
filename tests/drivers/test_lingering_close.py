"""A draining server loses no reply: lingering close instead of a reset (sync models).

When a server drains (``stop()``, a pre-fork or gunicorn worker recycling) it closes each
connection once the calls it ran are answered. If the peer has sent bytes the server never
read (a pipelining client, or one that sent its next call just now), a plain ``close()`` makes
Linux answer with a RST: the client sees ``ECONNRESET``, and replies still in flight are
dropped. A lingering close sends FIN after the last reply and discards input until the peer
closes, so the client reads every reply to every call the server ran, then a clean EOF.

The raw client here pipelines 50 framed ``add`` calls in one write, waits until the server
has run a few of them (the handler takes a few ms each), sends 10 more (a call "sent just
now"), and stops the server. It must read one well-formed reply per call the handler ran,
in order, then EOF. Each round uses a fresh server; several rounds per model.

The helpers are shared with ``tests/aio/test_lingering_close.py``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

import swordfish
from swordfish.codec import get_codec
from swordfish.framing import make_framer
from swordfish.protocol import NEED_DATA, ClientConnection, ConnectionClosed, Reply
from swordfish.sync.server import LINGER_QUIET, LINGER_TIME

from .conftest import raw_connect

FIRST_BATCH = 50
SECOND_BATCH = 10
ROUNDS = 5


class RunLog:
    """Counts handler runs in a file: one line per run (forked children append too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(b"")

    def record(self, a: int) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"%d\n" % a)
        finally:
            os.close(fd)

    def runs(self) -> list[int]:
        return [int(line) for line in self.path.read_text().splitlines()]

    def wait_for(self, count: int, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while len(self.runs()) < count:
            assert time.monotonic() < deadline, f"the handler ran {len(self.runs())} calls"
            time.sleep(0.002)


class SlowAdd:
    """``add`` that logs each run, then takes a few ms (the Store's other methods unused)."""

    def __init__(self, log: RunLog, delay: float = 0.004) -> None:
        self.log = log
        self.delay = delay

    def ping(self) -> None:
        return None

    def add(self, a: int, b: int) -> int:
        self.log.record(a)  # logged before the reply exists: a run with no reply is a loss
        time.sleep(self.delay)
        return a + b


class Pipeline:
    """A client engine that builds pipelined ``add`` calls and checks the replies."""

    def __init__(
        self, mod: ModuleType, protocol: str = "binary", transport: str = "framed"
    ) -> None:
        self.spec = mod.Store.__thrift_service__
        codec = get_codec(protocol)
        self.conn = ClientConnection(self.spec, codec, make_framer(transport, codec))
        self.sent: dict[int, int] = {}  # seqid -> a (the call is add(a, 1000))

    def calls(self, first: int, count: int) -> bytes:
        out = []
        for a in range(first, first + count):
            seqid, data = self.conn.send_call("add", self.spec.methods["add"].args(a=a, b=1000))
            self.sent[seqid] = a
            out.append(data)
        return b"".join(out)

    def read_all(self, sock: socket.socket, within: float = 10.0) -> tuple[list[Reply], str]:
        """Every reply until the stream ends: ``(replies, "eof" | "reset" | "timeout")``."""
        replies: list[Reply] = []
        deadline = time.monotonic() + within
        while True:
            event = self.conn.next_event()
            if isinstance(event, Reply):
                replies.append(event)
                continue
            if isinstance(event, ConnectionClosed):
                return replies, "eof"
            assert event is NEED_DATA, f"unexpected event {event!r}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return replies, "timeout"
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return replies, "reset"
            except TimeoutError:
                return replies, "timeout"
            self.conn.receive_data(data)

    def check(self, replies: list[Reply], outcome: str, ran: list[int], ordered: bool) -> None:
        """One well-formed reply per run, each with its call's answer, then a clean EOF."""
        got = {r.seqid: r.result.success for r in replies}  # type: ignore[attr-defined]
        assert outcome == "eof", (
            f"{outcome} after {len(replies)} replies; the handler ran {len(ran)} calls"
        )
        assert len(got) == len(replies)  # no seqid answered twice
        assert sorted(self.sent[s] for s in got) == sorted(ran)  # exactly the calls that ran
        assert all(value == self.sent[s] + 1000 for s, value in got.items())
        if ordered:  # the sync server runs one connection's calls in order
            assert [r.seqid for r in replies] == sorted(got)


def _round(store: ModuleType, model: str, tmp_path: Path) -> tuple[int, int]:
    log = RunLog(tmp_path / f"runs-{model}")
    server = swordfish.make_server(
        store.Store, SlowAdd(log), port=0, transport="framed", model=model
    ).start()
    sock = raw_connect(server.port)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5.0})
    try:
        pipe = Pipeline(store)
        sock.sendall(pipe.calls(0, FIRST_BATCH))
        log.wait_for(3)
        # "Sent just now": bytes the server has not read when it decides to close.
        sock.sendall(pipe.calls(FIRST_BATCH, SECOND_BATCH))
        stopper.start()
        replies, outcome = pipe.read_all(sock)
    finally:
        sock.close()
        if stopper.ident is None:
            server.stop(timeout=1)  # failed before stopping: still clean up
        else:
            stopper.join(10)
    assert not stopper.is_alive()
    ran = log.runs()
    pipe.check(replies, outcome, ran, ordered=True)
    return len(ran), FIRST_BATCH + SECOND_BATCH


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool", "forking"])
def test_drain_delivers_every_reply_then_eof(store: ModuleType, model: str, tmp_path: Path) -> None:
    runs = [_round(store, model, tmp_path) for _ in range(ROUNDS)]
    # Meaningful rounds: the server ran some calls and stopped before running them all.
    assert all(3 <= ran < sent for ran, sent in runs), runs


class BigEcho(SlowAdd):
    """``echo`` with a 2 MB answer: more than the socket buffers hold while nobody reads."""

    def echo(self, text: str) -> str:
        self.log.record(len(text))
        time.sleep(0.02)
        return text * 400_000


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool", "forking"])
def test_a_big_reply_still_in_our_send_buffer_is_delivered(
    store: ModuleType, model: str, tmp_path: Path
) -> None:
    """The reset a plain close draws would drop the part of a reply not yet delivered."""
    log = RunLog(tmp_path / "runs")
    server = swordfish.make_server(
        store.Store, BigEcho(log), port=0, transport="framed", model=model
    ).start()
    sock = raw_connect(server.port)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5.0})
    try:
        pipe = Pipeline(store)
        echo = pipe.spec.methods["echo"]
        sock.sendall(b"".join(pipe.conn.send_call(echo, echo.args(text="abcde"))[1] for _ in "123"))
        log.wait_for(1)
        sock.sendall(pipe.conn.send_call(echo, echo.args(text="late"))[1])
        stopper.start()
        time.sleep(0.5)  # a client busy elsewhere: our reply waits in the kernel's buffers
        replies, outcome = pipe.read_all(sock)
    finally:
        sock.close()
        if stopper.ident is None:
            server.stop(timeout=1)
        else:
            stopper.join(10)
    assert not stopper.is_alive()
    ran = log.runs()
    assert (outcome, len(replies)) == ("eof", len(ran)), ran
    assert 1 <= len(ran) < 4
    assert all(r.result.success == "abcde" * 400_000 for r in replies)  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool", "forking"])
def test_idle_connection_gets_eof_at_stop_and_a_late_call_is_not_run(
    store: ModuleType, model: str, tmp_path: Path
) -> None:
    """Closed while idle: prompt EOF; a call sent into the linger is discarded, never run."""
    log = RunLog(tmp_path / "runs")
    server = swordfish.make_server(store.Store, SlowAdd(log), port=0, model=model).start()
    sock = raw_connect(server.port)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5.0})
    try:
        pipe = Pipeline(store, transport="buffered")
        sock.sendall(pipe.calls(0, 1))
        replies, how = _read_replies(pipe, sock, 1)
        assert ([r.seqid for r in replies], how) == ([1], "ok")
        start = time.monotonic()
        stopper.start()
        sock.settimeout(3)
        assert sock.recv(1) == b""  # FIN: the idle connection was closed promptly
        assert time.monotonic() - start < 1.0
        sock.sendall(pipe.calls(1, 3))  # into the linger: read and dropped
        time.sleep(0.05)
        # Still lingering, so no RST came back: a write would fail after one (EPIPE/ECONNRESET).
        sock.sendall(pipe.calls(4, 1))
        stopper.join(10)
        assert not stopper.is_alive()
        assert time.monotonic() - start < LINGER_QUIET + 1.5  # an idle peer cannot hold stop
    finally:
        sock.close()
        if stopper.ident is None:
            server.stop(timeout=1)
        else:
            stopper.join(10)
    assert log.runs() == [0]


def _read_replies(pipe: Pipeline, sock: socket.socket, count: int) -> tuple[list[Reply], str]:
    replies: list[Reply] = []
    sock.settimeout(5)
    while len(replies) < count:
        event = pipe.conn.next_event()
        if isinstance(event, Reply):
            replies.append(event)
        elif event is NEED_DATA:
            pipe.conn.receive_data(sock.recv(65536))
        else:
            return replies, repr(event)
    return replies, "ok"


class Peer:
    """A peer that never closes: silent, or sending one byte every 20 ms until told to stop."""

    def __init__(self, sock: socket.socket, trickle: bool) -> None:
        self.sock = sock
        self.done = threading.Event()
        self.eof_at: float | None = None
        self.threads = [threading.Thread(target=self._read, daemon=True)]
        if trickle:
            self.threads.append(threading.Thread(target=self._write, daemon=True))
        for t in self.threads:
            t.start()

    def _write(self) -> None:
        while not self.done.wait(0.02):
            try:
                self.sock.send(b"\x00")
            except OSError:
                return  # the server closed for good: our bytes now meet a RST

    def _read(self) -> None:
        self.sock.settimeout(30)
        try:
            while self.sock.recv(65536):
                pass
            self.eof_at = time.monotonic()
        except OSError:
            pass

    def close(self) -> None:
        self.done.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader
        except OSError:
            pass  # reset by the server already
        for t in self.threads:
            t.join(5)
        self.sock.close()


@pytest.mark.parametrize("model", ["simple", "threaded", "threadpool", "forking"])
@pytest.mark.parametrize("timeout", [1.0, 5.0])
@pytest.mark.parametrize("kind", ["silent", "trickle"])
def test_a_peer_that_never_closes_cannot_hold_stop(
    store: ModuleType, model: str, timeout: float, kind: str, tmp_path: Path
) -> None:
    log = RunLog(tmp_path / "runs")
    server = swordfish.make_server(
        store.Store, SlowAdd(log), port=0, transport="framed", model=model
    ).start()
    sock = raw_connect(server.port)
    sock.sendall(b"\x00\x00\x10\x00")  # announces a frame of 4096 bytes; its body never ends
    time.sleep(0.1)  # let the server read it: this connection has a call half received
    peer = Peer(sock, trickle=kind == "trickle")
    try:
        start = time.monotonic()
        server.stop(timeout=timeout)
        took = time.monotonic() - start
        deadline = time.monotonic() + 3
        while peer.eof_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        peer.close()
    assert peer.eof_at is not None  # FIN first (the reader saw EOF), whatever came after
    assert peer.eof_at - start < 1.0  # and promptly
    if kind == "silent":
        # Nothing more arrives: the linger ends after LINGER_QUIET, long before the deadline.
        assert took < LINGER_QUIET + 1.0, took
    else:
        # Bytes keep coming: the linger lasts until LINGER_TIME or the stop deadline, never
        # longer (plus the forking model's reaping and scheduling slack on a busy machine).
        assert took < min(timeout, LINGER_TIME) + 1.5, took
        assert took >= min(timeout, LINGER_TIME) - 0.3, took
    assert log.runs() == []


def test_linger_constants_are_short_and_bounded() -> None:
    assert 0 < LINGER_QUIET < LINGER_TIME <= 2.0
