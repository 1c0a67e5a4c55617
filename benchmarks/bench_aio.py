"""asyncio server throughput: Swordfish vs a raw echo server vs thriftpy2, side by side.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_aio.py                # full run (~1 minute)
    .venv/bin/python benchmarks/bench_aio.py --quick        # shorter windows

Every server runs in its own process pinned to one core (``os.sched_setaffinity``, like
``taskset``); the load generator runs in another process pinned to a different core. The load
generator is the same for every server: raw uvloop sockets, framed binary Thrift messages
encoded once up front (only the seqid changes), replies matched by seqid, so it measures the
server and not a client library. Workloads:

struct64   64 connections, one call in flight on each: ``Person echo(1: Person p)`` with a
           ~1 KB Person (strings, a list, a map, nested structs, binary).
ping64     one connection, 64 calls pipelined on it: ``void ping()``.

Servers:

echo       raw uvloop length-prefixed echo server: sends every frame straight back, no
           decoding. The upper bound for any Thrift server in this process model.
swordfish  ``AsyncServer`` on uvloop, async handler.
thriftpy2  ``thriftpy2.contrib.aio`` server (on uvloop too), async handler.

Printed per (server, workload): calls/s, ratio to echo, p50/p99 latency, and server CPU time
per 10k calls (user+system from /proc/<pid>/stat). On a box with few cores the numbers are
noisy: run twice and compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

IDL = """
namespace py bench

struct Address {
  1: string street,
  2: string city,
  3: string zip,
  4: string country,
}

struct Person {
  1: i64 id,
  2: string name,
  3: string email,
  4: i32 age,
  5: list<string> tags,
  6: map<string, string> attrs,
  7: list<Address> addresses,
  8: binary avatar,
  9: double score,
  10: bool active,
}

service Bench {
  Person echo(1: Person p),
  void ping(),
}
"""

SERVERS = ("echo", "swordfish", "thriftpy2")
WORKLOADS = ("struct64", "ping64")


def idl_path() -> str:
    path = Path(tempfile.gettempdir()) / "swordfish_bench_aio.thrift"
    if not path.exists() or path.read_text() != IDL:
        path.write_text(IDL)
    return str(path)


def make_person(mod: Any) -> Any:
    return mod.Person(
        id=1234567890123,
        name="Ada Lovelace-Byron",
        email="ada.lovelace@analytical-engine.example.org",
        age=36,
        tags=[f"tag-{i:02d}-mathematics" for i in range(10)],
        attrs={f"key{i}": f"value number {i} of the map" for i in range(8)},
        addresses=[
            mod.Address(
                street=f"{i} Marylebone High Street",
                city="London",
                zip=f"W1U {i}AB",
                country="United Kingdom",
            )
            for i in range(3)
        ],
        avatar=bytes(range(256)),
        score=98.6,
        active=True,
    )


def pin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- servers ---------------------------------------------------------------------------------


class EchoProtocol(asyncio.Protocol):
    """Length-prefixed echo: every complete frame goes straight back, undecoded."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            end = pos + 4 + int.from_bytes(buf[pos : pos + 4], "big")
            if end > n:
                break
            pos = end
        if pos:
            self.transport.write(bytes(buf[:pos]))
            del buf[:pos]


async def serve_echo() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", 0, backlog=1024)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


async def serve_swordfish() -> None:
    import swordfish
    from swordfish.aio import make_aio_server

    mod = swordfish.load(idl_path())

    class Handler:
        async def echo(self, p: Any) -> Any:
            return p

        async def ping(self) -> None:
            return None

    server = await make_aio_server(
        mod.Bench, Handler(), "127.0.0.1", 0, protocol="binary", transport="framed"
    )
    from swordfish import codec

    print(f"codec {codec.BinaryCodec.__name__}", flush=True)
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    await server.serve_forever()


def serve_thriftpy2() -> None:
    import logging
    import socket

    import thriftpy2
    import uvloop
    from thriftpy2.contrib.aio.protocol import TAsyncBinaryProtocolFactory
    from thriftpy2.contrib.aio.rpc import make_server
    from thriftpy2.contrib.aio.transport import TAsyncFramedTransportFactory

    mod = thriftpy2.load(idl_path(), module_name="bench_thrift")
    # It logs a traceback for every client that disconnects (each load run ends that way).
    logging.getLogger("thriftpy2").setLevel(logging.CRITICAL)

    class Handler:
        async def echo(self, p: Any) -> Any:
            return p

        async def ping(self) -> None:
            return None

    # thriftpy2 binds inside its server and cannot report a port the kernel chose: pick one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    server = make_server(
        mod.Bench,
        Handler(),
        "127.0.0.1",
        port,
        proto_factory=TAsyncBinaryProtocolFactory(),
        trans_factory=TAsyncFramedTransportFactory(),
        client_timeout=None,
        loop=loop,
    )
    server.init_server()  # binds and listens
    print(f"listening on 127.0.0.1:{port}", flush=True)
    loop.run_forever()


def run_server(kind: str, core: int | None) -> None:
    import uvloop

    pin(core)
    if kind == "thriftpy2":
        serve_thriftpy2()  # runs its own loop
        return
    main = {"echo": serve_echo, "swordfish": serve_swordfish}[kind]
    uvloop.run(main())


# -- load generator ----------------------------------------------------------------------------


def request_parts(method: str) -> tuple[bytes, bytes, int]:
    """(before-seqid, after-seqid, seqid offset in a reply frame) of a framed binary call."""
    import swordfish
    from swordfish.codec import get_codec
    from swordfish.model.ttype import MessageType

    mod = swordfish.load(idl_path())
    spec = mod.Bench.__thrift_service__.methods[method]
    args = spec.args(p=make_person(mod)) if method == "echo" else spec.args()
    payload = get_codec("binary").encode_message(method, MessageType.CALL, 0x5EC1D, args)
    # Strict binary: version(4) name-length(4) name seqid(4) body.
    offset = 8 + len(method)
    assert payload[offset : offset + 4] == (0x5EC1D).to_bytes(4, "big")
    frame = len(payload).to_bytes(4, "big") + payload
    return frame[: 4 + offset], frame[4 + offset + 4 :], 4 + offset


class LoadProtocol(asyncio.Protocol):
    """Keeps ``depth`` calls in flight on one connection; records per-call latency."""

    def __init__(self, gen: LoadGen, depth: int) -> None:
        self.gen = gen
        self.depth = depth
        self.buf = bytearray()
        self.sent: dict[int, float] = {}
        self.next_seqid = 1

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.send(self.depth)

    def send(self, count: int) -> None:
        gen = self.gen
        if gen.stopping:
            return
        now = time.perf_counter()
        out = []
        for _ in range(count):
            seqid = self.next_seqid
            self.next_seqid = seqid + 1 if seqid < 0x7FFFFFFF else 1
            self.sent[seqid] = now
            out.append(gen.head + seqid.to_bytes(4, "big") + gen.tail)
        self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        done = 0
        gen = self.gen
        now = time.perf_counter()
        off = gen.seqid_offset
        while n - pos >= 4:
            end = pos + 4 + int.from_bytes(buf[pos : pos + 4], "big")
            if end > n:
                break
            seqid = int.from_bytes(buf[pos + off : pos + off + 4], "big")
            start = self.sent.pop(seqid)
            if gen.measuring:
                gen.latencies.append(now - start)
            pos = end
            done += 1
        if pos:
            del buf[:pos]
            gen.completed += done
            self.send(done)


class LoadGen:
    def __init__(self, method: str) -> None:
        self.head, self.tail, self.seqid_offset = request_parts(method)
        self.completed = 0
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []


async def generate(
    port: int, method: str, connections: int, depth: int, warmup: float, duration: float, pid: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gen = LoadGen(method)
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(
            lambda: LoadProtocol(gen, depth), "127.0.0.1", port
        )
        transports.append(transport)
    await asyncio.sleep(warmup)
    gen.measuring = True
    start_count, start_cpu, start = gen.completed, cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(duration)
    calls, cpu = gen.completed - start_count, cpu_seconds(pid) - start_cpu
    elapsed = time.perf_counter() - start
    gen.measuring = False
    gen.stopping = True
    for t in transports:
        t.close()
    lat = sorted(gen.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3 if lat else float("nan")

    return {
        "calls_per_s": calls / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_ms_per_10k": cpu / calls * 10_000 * 1e3 if calls else float("nan"),
        "server_cpu_util": cpu / elapsed,
    }


def run_load(args: argparse.Namespace) -> None:
    import uvloop

    pin(args.client_core)
    method, connections, depth = {
        "struct64": ("echo", 64, 1),
        "ping64": ("ping", 1, 64),
    }[args.workload]
    result = uvloop.run(
        generate(args.port, method, connections, depth, args.warmup, args.duration, args.pid)
    )
    print(json.dumps(result), flush=True)


# -- orchestration ---------------------------------------------------------------------------


def start_server(kind: str, core: int | None) -> tuple[subprocess.Popen[str], int, str]:
    argv = [sys.executable, __file__, "--role", "server", "--server", kind]
    if core is not None:
        argv += ["--server-core", str(core)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    note = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{kind} server exited early")
        if line.startswith("codec "):
            note = line.split()[1]
        if line.startswith("listening on"):
            return proc, int(line.rsplit(":", 1)[1]), note
    raise RuntimeError(f"{kind} server did not start")


def measure(kind: str, workload: str, args: argparse.Namespace) -> dict[str, Any]:
    proc, port, note = start_server(kind, args.server_core)
    try:
        argv = [
            sys.executable, __file__, "--role", "load", "--workload", workload,
            "--port", str(port), "--pid", str(proc.pid),
            "--warmup", str(args.warmup), "--duration", str(args.duration),
        ]  # fmt: skip
        if args.client_core is not None:
            argv += ["--client-core", str(args.client_core)]
        out = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=120, check=True)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["note"] = note
        return result
    finally:
        proc.terminate()
        proc.wait(5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", choices=("main", "server", "load"), default="main")
    p.add_argument("--server", choices=SERVERS, action="append")
    p.add_argument("--workload", choices=WORKLOADS, action="append")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--quick", action="store_true", help="1 s warm-up, 2 s windows")
    args = p.parse_args()
    if (os.cpu_count() or 1) < 2:
        args.client_core = None  # one core: nothing to pin apart
    if args.role == "server":
        run_server(args.server[0], args.server_core)
        return
    if args.role == "load":
        args.workload = args.workload[0]
        run_load(args)
        return
    if args.quick:
        args.warmup, args.duration = 1.0, 2.0
    servers = args.server or list(SERVERS)
    workloads = args.workload or list(WORKLOADS)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, server on core "
        f"{args.server_core}, load on core {args.client_core}, warm-up {args.warmup}s, "
        f"window {args.duration}s"
    )
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for workload in workloads:
        for kind in servers:
            results[(kind, workload)] = measure(kind, workload, args)
    header = (
        f"{'workload':<9} {'server':<10} {'calls/s':>9} {'vs echo':>8} {'vs tp2':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'cpu ms/10k':>10} {'srv cpu':>7}"
    )
    print(header)
    print("-" * len(header))
    for workload in workloads:
        echo = results.get(("echo", workload))
        tp2 = results.get(("thriftpy2", workload))
        for kind in servers:
            r = results[(kind, workload)]
            vs_echo = r["calls_per_s"] / echo["calls_per_s"] if echo else float("nan")
            vs_tp2 = r["calls_per_s"] / tp2["calls_per_s"] if tp2 else float("nan")
            name = kind + (f" ({r['note']})" if r["note"] else "")
            print(
                f"{workload:<9} {name:<10} {r['calls_per_s']:>9.0f} {vs_echo:>7.2f}x "
                f"{vs_tp2:>6.2f}x {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
                f"{r['cpu_ms_per_10k']:>10.0f} {r['server_cpu_util']:>6.0%}"
            )


if __name__ == "__main__":
    main()
