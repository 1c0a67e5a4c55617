"""What the wire formats cost: Thrift over HTTP and THeader/json/zlib over TCP, with the peers.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_wire.py --repeat 3 --warmup 0.5 --duration 2  # ~9 min
    .venv/bin/python benchmarks/bench_wire.py --quick        # smoke run (< 60 s)
    .venv/bin/python benchmarks/bench_wire.py --only http    # pairs whose label contains "http"

Every server runs in its own process pinned to one core (``os.sched_setaffinity``, like
``taskset``; gunicorn's workers inherit it); the load generator (a *client library*, unlike
bench_aio.py's raw sockets: here the client is half of what is measured) runs in another
process pinned to the other core. Each pair runs ``--duration`` seconds after ``--warmup``;
``--repeat N`` runs everything N times (interleaved, so drift on a shared box hits every pair
alike) and prints medians.

Workloads: ``ping`` (``void ping()``) and ``echo`` (``Person echo(1: Person p)``, a ~1 KB
struct, the one of bench_aio.py). A sync client makes one call at a time; ``aio-*`` clients keep
``--concurrency`` calls in flight. Printed per (pair, workload): calls/s, the ratio to the
group's Apache baseline, p50/p99 latency.

Groups (label = client -> server):

http   sf -> sf-gunicorn      HttpClient (keep-alive pool) -> ThriftWSGIApp, gunicorn gthread
       sf -> sf-wsgiref       HttpClient -> ThriftWSGIApp under wsgiref, thread per connection
                              (HTTP/1.0: a new connection per call)
       sf -> sf-uvicorn       HttpClient -> ThriftASGIApp under uvicorn
       apache -> apache       THttpClient -> THttpServer (baseline; both a connection per call)
       tp2 -> tp2             thriftpy2.http client (keep_alive=True) -> its server
       apache -> sf-uvicorn   cross pairs: who pays, client or server
       sf -> apache
       aio -> sf-uvicorn      AsyncHttpClient, --concurrency calls in flight
tcp    sf -> sf PROTO/TRANS   make_client -> make_server (threadpool), per protocol/transport
       apache -> apache       TSocket/TBufferedTransport/TBinaryProtocol -> TThreadedServer
                              (baseline for binary/compact/json/zlib)
       apache-header -> apache-header   THeaderProtocol both ends (baseline for header;
                              thriftpy2 has no THeader)
       sf header -> apache-header, apache-header -> sf header   cross pairs

Apache's plain factories (TBinaryProtocolFactory etc.) are pure Python; its THeaderProtocol
uses the C ``fastbinary`` sub-protocols, so the "header" baseline is Apache with its
accelerator and the "tcp" one is Apache without it. Swordfish uses its C codec where built.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

IDL = """
namespace py wirebench

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

WORKLOADS = ("ping", "echo")
WORKDIR = Path(tempfile.gettempdir()) / "swordfish_bench_wire"


@dataclass(frozen=True)
class Pair:
    group: str  # rows with the same group share a baseline
    label: str
    server: str  # server kind (see run_server)
    client: str  # client kind (see make_sync_client / aio)
    protocol: str = "binary"
    transport: str = "buffered"
    baseline: bool = False


PAIRS = (
    Pair("http", "apache -> apache", "apache-http", "apache-http", baseline=True),
    Pair("http", "sf -> sf-gunicorn", "sf-gunicorn", "sf-http"),
    Pair("http", "sf -> sf-wsgiref", "sf-wsgiref", "sf-http"),
    Pair("http", "sf -> sf-uvicorn", "sf-uvicorn", "sf-http"),
    Pair("http", "tp2 -> tp2", "tp2-http", "tp2-http"),
    Pair("http", "apache -> sf-uvicorn", "sf-uvicorn", "apache-http"),
    Pair("http", "apache -> sf-gunicorn", "sf-gunicorn", "apache-http"),
    Pair("http", "sf -> apache", "apache-http", "sf-http"),
    Pair("http", "aio -> sf-uvicorn", "sf-uvicorn", "aio-http"),
    Pair("http", "aio -> sf-gunicorn", "sf-gunicorn", "aio-http"),
    Pair("tcp", "apache -> apache binary/buffered", "apache-tcp", "apache-tcp", baseline=True),
    Pair("tcp", "sf -> sf binary/buffered", "sf-tcp", "sf-tcp", "binary", "buffered"),
    Pair("tcp", "sf -> sf binary/framed", "sf-tcp", "sf-tcp", "binary", "framed"),
    Pair("tcp", "sf -> sf compact/framed", "sf-tcp", "sf-tcp", "compact", "framed"),
    Pair("tcp", "sf -> sf json/buffered", "sf-tcp", "sf-tcp", "json", "buffered"),
    Pair("tcp", "sf -> sf binary/zlib", "sf-tcp", "sf-tcp", "binary", "zlib"),
    Pair("tcp", "sf -> sf header", "sf-tcp", "sf-tcp", "header", "buffered"),
    Pair("tcp", "sf -> sf header+zlib", "sf-tcp", "sf-tcp", "header+zlib", "buffered"),
    Pair("tcp", "sf -> sf-aio header", "sf-aio-tcp", "sf-tcp", "header", "buffered"),
    Pair("tcp", "sf -> apache binary/buffered", "apache-tcp", "sf-tcp", "binary", "buffered"),
    Pair("tcp", "apache -> sf binary/buffered", "sf-tcp", "apache-tcp", "binary", "buffered"),
    Pair("tcp", "apache -> apache json", "apache-tcp", "apache-tcp", "json", "buffered"),
    Pair("tcp", "apache -> apache binary/zlib", "apache-tcp", "apache-tcp", "binary", "zlib"),
    Pair("header", "apache-hdr -> apache-hdr", "apache-header", "apache-header", baseline=True),
    Pair("header", "sf header -> sf", "sf-tcp", "sf-tcp", "header", "buffered"),
    Pair("header", "sf header -> apache-hdr", "apache-header", "sf-tcp", "header", "buffered"),
    Pair("header", "apache-hdr -> sf header", "sf-tcp", "apache-header", "header", "buffered"),
)


def idl_path() -> str:
    WORKDIR.mkdir(exist_ok=True)
    path = WORKDIR / "wirebench.thrift"
    if not path.exists() or path.read_text() != IDL:
        path.write_text(IDL)
    return str(path)


def apache_gen_dir() -> str:
    """``thrift --gen py`` output for the IDL (generated once per run, Debian's compiler)."""
    out = WORKDIR / "gen-py"
    if not (out / "wirebench" / "Bench.py").exists():
        compiler = shutil.which("thrift")
        if compiler is None:
            raise RuntimeError("the `thrift` compiler is needed for the Apache peers")
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([compiler, "--gen", "py", "-out", str(out), idl_path()], check=True)
    return str(out)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sf_protocol(protocol: str) -> tuple[str, tuple[str, ...]]:
    """("header+zlib") -> ("header", ("zlib",)): protocol and THeader transforms."""
    if protocol.endswith("+zlib"):
        return protocol[: -len("+zlib")], ("zlib",)
    return protocol, ()


# -- servers ---------------------------------------------------------------------------------


class SfHandler:
    def echo(self, p: Any) -> Any:
        return p

    def ping(self) -> None:
        return None


class SfAsyncHandler:
    async def echo(self, p: Any) -> Any:
        return p

    async def ping(self) -> None:
        return None


def wsgi_app() -> Any:
    """The gunicorn entry point (``bench_wire:wsgi_app()``)."""
    import swordfish
    from swordfish.web import ThriftWSGIApp

    mod = swordfish.load(idl_path())
    return ThriftWSGIApp(mod.Bench, SfHandler())


def apache_modules(gen_dir: str) -> tuple[Any, Any]:
    sys.path.insert(0, gen_dir)
    from wirebench import Bench, ttypes  # type: ignore[import-not-found]

    return Bench, ttypes


def apache_protocol_factory(protocol: str) -> Any:
    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol

    return {
        "binary": TBinaryProtocol.TBinaryProtocolFactory,
        "compact": TCompactProtocol.TCompactProtocolFactory,
        "json": TJSONProtocol.TJSONProtocolFactory,
    }[protocol]()


def run_server(kind: str, protocol: str, transport: str, port: int, gen_dir: str) -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    if kind == "sf-tcp":
        import swordfish
        from swordfish.sync import make_server

        mod = swordfish.load(idl_path())
        proto, _ = sf_protocol(protocol)
        server = make_server(
            mod.Bench, SfHandler(), "127.0.0.1", port, protocol=proto, transport=transport
        )
        print(f"listening on 127.0.0.1:{server.port}", flush=True)
        server.serve_forever()
    elif kind == "sf-aio-tcp":
        import uvloop

        import swordfish
        from swordfish.aio import make_aio_server

        async def main() -> None:
            mod = swordfish.load(idl_path())
            proto, _ = sf_protocol(protocol)
            server = await make_aio_server(
                mod.Bench, SfAsyncHandler(), "127.0.0.1", port, protocol=proto, transport=transport
            )
            print(f"listening on 127.0.0.1:{server.port}", flush=True)
            await server.serve_forever()

        uvloop.run(main())
    elif kind == "sf-wsgiref":
        from swordfish.web.serving import wsgi_server

        httpd = wsgi_server(wsgi_app(), "127.0.0.1", port, model="threaded")
        print(f"listening on 127.0.0.1:{httpd.server_port}", flush=True)
        httpd.serve_forever()
    elif kind == "sf-uvicorn":
        import uvloop

        import swordfish
        from swordfish.web import ThriftASGIApp
        from swordfish.web.serving import uvicorn_server

        mod = swordfish.load(idl_path())
        app = ThriftASGIApp(mod.Bench, SfAsyncHandler())
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
        server = uvicorn_server(app)
        print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
        uvloop.run(server.serve(sockets=[sock]))
    elif kind == "apache-http":
        from thrift.server import THttpServer

        bench, _ = apache_modules(gen_dir)
        server = THttpServer.THttpServer(
            bench.Processor(SfHandler()), ("127.0.0.1", port), apache_protocol_factory(protocol)
        )
        print(f"listening on 127.0.0.1:{server.httpd.server_address[1]}", flush=True)
        server.serve()
    elif kind == "apache-tcp":
        from thrift.server import TServer
        from thrift.transport import TSocket, TTransport, TZlibTransport

        bench, _ = apache_modules(gen_dir)
        sock = TSocket.TServerSocket(host="127.0.0.1", port=port)
        tfactory: Any = (
            TZlibTransport.TZlibTransportFactory()
            if transport == "zlib"
            else TTransport.TBufferedTransportFactory()
        )
        server = TServer.TThreadedServer(
            bench.Processor(SfHandler()), sock, tfactory, apache_protocol_factory(protocol)
        )
        server.daemon = True
        print(f"listening on 127.0.0.1:{port}", flush=True)
        server.serve()
    elif kind == "apache-header":
        from thrift.protocol.THeaderProtocol import THeaderProtocolFactory
        from thrift.server import TServer
        from thrift.transport import TSocket, TTransport

        bench, _ = apache_modules(gen_dir)
        sock = TSocket.TServerSocket(host="127.0.0.1", port=port)
        server = TServer.TThreadedServer(
            bench.Processor(SfHandler()),
            sock,
            TTransport.TTransportFactoryBase(),  # THeaderProtocol wraps the socket itself
            THeaderProtocolFactory(),
        )
        server.daemon = True
        print(f"listening on 127.0.0.1:{port}", flush=True)
        server.serve()
    elif kind == "tp2-http":
        import thriftpy2
        from thriftpy2.http import make_server as tp2_make_server

        mod = thriftpy2.load(idl_path(), module_name="wirebench_thrift")
        tp2_server = tp2_make_server(mod.Bench, SfHandler(), "127.0.0.1", port)
        print(f"listening on 127.0.0.1:{port}", flush=True)
        tp2_server.serve()
    else:
        raise ValueError(kind)


def start_server(
    pair: Pair, core: int | None, gen_dir: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start ``pair.server`` pinned to ``core``; returns (process, port, log file)."""
    port = free_port()
    log = WORKDIR / f"server-{os.getpid()}.log"
    if pair.server == "sf-gunicorn":
        argv = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "8", "--worker-class", "gthread",
            "--keep-alive", "5", "--log-level", "warning",
            "--chdir", str(Path(__file__).resolve().parent), "bench_wire:wsgi_app()",
        ]  # fmt: skip
    else:
        argv = [
            sys.executable, __file__, "--role", "server", "--server", pair.server,
            "--protocol", pair.protocol, "--transport", pair.transport,
            "--port", str(port), "--gen-dir", gen_dir,
        ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            preexec_fn=(lambda: pin(core)) if core is not None else None,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{pair.server} exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port, log
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{pair.server} did not start:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- clients ---------------------------------------------------------------------------------


def make_sync_client(kind: str, protocol: str, transport: str, port: int, gen_dir: str) -> Any:
    """(client object, person argument) for one client kind."""
    if kind in ("sf-http", "sf-tcp"):
        import swordfish
        from swordfish.sync import make_client

        mod = swordfish.load(idl_path())
        proto, transforms = sf_protocol(protocol)
        options: dict[str, Any] = {"protocol": proto}
        if transforms:
            options["header_transforms"] = transforms
        client: Any
        if kind == "sf-http":
            client = make_client(mod.Bench, "127.0.0.1", port, transport="http", **options)
        else:
            client = make_client(mod.Bench, "127.0.0.1", port, transport=transport, **options)
        return client, make_person(mod)
    if kind == "tp2-http":
        import thriftpy2
        from thriftpy2.http import make_client as tp2_make_client

        mod = thriftpy2.load(idl_path(), module_name="wirebench_thrift")
        return tp2_make_client(mod.Bench, "127.0.0.1", port, keep_alive=True), make_person(mod)
    bench, ttypes = apache_modules(gen_dir)
    if kind == "apache-http":
        from thrift.transport import THttpClient

        trans: Any = THttpClient.THttpClient(f"http://127.0.0.1:{port}/")
        proto_obj = apache_protocol_factory(protocol).getProtocol(trans)
    elif kind == "apache-tcp":
        from thrift.transport import TSocket, TTransport, TZlibTransport

        sock = TSocket.TSocket("127.0.0.1", port)
        trans = (
            TZlibTransport.TZlibTransport(sock)
            if transport == "zlib"
            else TTransport.TBufferedTransport(sock)
        )
        proto_obj = apache_protocol_factory(protocol).getProtocol(trans)
    elif kind == "apache-header":
        from thrift.protocol.THeaderProtocol import THeaderProtocol
        from thrift.transport import TSocket
        from thrift.transport.THeaderTransport import THeaderClientType

        trans = TSocket.TSocket("127.0.0.1", port)
        proto_obj = THeaderProtocol(trans, [THeaderClientType.HEADERS])
    else:
        raise ValueError(kind)
    trans.open()
    return bench.Client(proto_obj), make_person(ttypes)


def percentiles(lat: list[float]) -> tuple[float, float]:
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3 if lat else float("nan")

    return pct(0.50), pct(0.99)


def load_sync(args: argparse.Namespace) -> dict[str, Any]:
    client, person = make_sync_client(
        args.client, args.protocol, args.transport, args.port, args.gen_dir
    )
    if args.workload == "echo":
        out = client.echo(person)
        assert out == person, "echo changed the struct"

        def call() -> Any:
            return client.echo(person)
    else:
        call = client.ping
    clock = time.perf_counter
    end = clock() + args.warmup
    while clock() < end:
        call()
    lat: list[float] = []
    start = clock()
    end = start + args.duration
    now = start
    while now < end:
        t0 = now
        call()
        now = clock()
        lat.append(now - t0)
    elapsed = now - start
    p50, p99 = percentiles(lat)
    return {"calls_per_s": len(lat) / elapsed, "p50_ms": p50, "p99_ms": p99, "calls": len(lat)}


async def load_aio(args: argparse.Namespace) -> dict[str, Any]:
    import swordfish
    from swordfish.aio import make_aio_client

    mod = swordfish.load(idl_path())
    person = make_person(mod)
    client = await make_aio_client(
        mod.Bench, "127.0.0.1", args.port, transport="http", pool_size=args.concurrency
    )
    lat: list[float] = []
    state = {"measuring": False, "stop": False}

    async def worker() -> None:
        clock = time.perf_counter
        while not state["stop"]:
            t0 = clock()
            if args.workload == "echo":
                await client.echo(person)
            else:
                await client.ping()
            if state["measuring"]:
                lat.append(clock() - t0)

    try:
        tasks = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        start = time.perf_counter()
        await asyncio.sleep(args.duration)
        state["measuring"] = False
        calls, elapsed = len(lat), time.perf_counter() - start
        state["stop"] = True
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    finally:
        await client.close()
    p50, p99 = percentiles(lat)
    return {"calls_per_s": calls / elapsed, "p50_ms": p50, "p99_ms": p99, "calls": calls}


def run_load(args: argparse.Namespace) -> None:
    pin(args.client_core)
    if args.client == "aio-http":
        import uvloop

        result = uvloop.run(load_aio(args))
    else:
        result = load_sync(args)
    print(json.dumps(result), flush=True)


# -- orchestration ---------------------------------------------------------------------------


def measure(pair: Pair, workload: str, args: argparse.Namespace, gen_dir: str) -> dict[str, Any]:
    proc, port, log = start_server(pair, args.server_core, gen_dir)
    try:
        argv = [
            sys.executable, __file__, "--role", "load", "--client", pair.client,
            "--workload", workload, "--protocol", pair.protocol, "--transport", pair.transport,
            "--port", str(port), "--gen-dir", gen_dir, "--concurrency", str(args.concurrency),
            "--warmup", str(args.warmup), "--duration", str(args.duration),
        ]  # fmt: skip
        if args.client_core is not None:
            argv += ["--client-core", str(args.client_core)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            tail = out.stderr.strip().splitlines()[-3:]
            server_log = log.read_text(errors="replace").strip().splitlines()[-3:]
            return {"error": " | ".join(tail + server_log)}
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    finally:
        stop(proc)


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if "error" not in r]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", choices=("main", "server", "load"), default="main")
    p.add_argument("--server")
    p.add_argument("--client")
    p.add_argument("--workload", choices=WORKLOADS, action="append")
    p.add_argument("--protocol", default="binary")
    p.add_argument("--transport", default="buffered")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--gen-dir", default="")
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=16, help="aio-* calls in flight")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--only", action="append", help="run pairs whose group/label contains this")
    p.add_argument("--json", help="also write every run's numbers to this file")
    p.add_argument("--quick", action="store_true", help="0.2 s warm-up, 0.5 s windows, ping, 1 run")
    args = p.parse_args()
    if (os.cpu_count() or 1) < 2:
        args.client_core = None  # one core: nothing to pin apart
    if args.role == "server":
        run_server(args.server, args.protocol, args.transport, args.port, args.gen_dir)
        return
    if args.role == "load":
        args.workload = args.workload[0]
        run_load(args)
        return
    pairs = list(PAIRS)
    if args.quick:
        args.warmup, args.duration, args.repeat = 0.2, 0.5, 1
        args.workload = args.workload or ["ping"]
    if args.only:
        pairs = [
            x for x in pairs if any(o in x.label or o == x.group for o in args.only) or x.baseline
        ]
    workloads = args.workload or list(WORKLOADS)
    gen_dir = apache_gen_dir()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, server on core "
        f"{args.server_core}, load on core {args.client_core}, warm-up {args.warmup}s, "
        f"window {args.duration}s, repeat {args.repeat}, aio concurrency {args.concurrency}",
        flush=True,
    )
    runs: dict[tuple[Pair, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for workload in workloads:
            for pair in pairs:
                r = measure(pair, workload, args, gen_dir)
                runs.setdefault((pair, workload), []).append(r)
                shown = (
                    f"error: {r['error'][:200]}"
                    if "error" in r
                    else f"{r['calls_per_s']:.0f}/s p50 {r['p50_ms']:.2f} ms"
                )
                print(f"  [{rep + 1}/{args.repeat}] {workload:<4} {pair.label:<34} {shown}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {"group": k[0].group, "label": k[0].label, "workload": k[1], "runs": v}
                    for k, v in runs.items()
                ],
                indent=1,
            )
        )
    header = (
        f"{'group':<6} {'workload':<8} {'pair (client -> server)':<34} {'calls/s':>8} "
        f"{'vs base':>8} {'p50 ms':>7} {'p99 ms':>7} {'runs (calls/s)':<24}"
    )
    print()
    print(header)
    print("-" * len(header))
    for workload in workloads:
        for group in dict.fromkeys(x.group for x in pairs):
            base = next((x for x in pairs if x.group == group and x.baseline), None)
            base_cps = median_of(runs[(base, workload)], "calls_per_s") if base else float("nan")
            for pair in (x for x in pairs if x.group == group):
                rs = runs[(pair, workload)]
                cps = median_of(rs, "calls_per_s")
                each = ",".join(
                    f"{r['calls_per_s']:.0f}" if "error" not in r else "ERR" for r in rs
                )
                print(
                    f"{group:<6} {workload:<8} {pair.label:<34} {cps:>8.0f} "
                    f"{cps / base_cps:>7.2f}x {median_of(rs, 'p50_ms'):>7.2f} "
                    f"{median_of(rs, 'p99_ms'):>7.2f} {each:<24}"
                )
    errors = [(k, r["error"]) for k, v in runs.items() for r in v if "error" in r]
    for (pair, workload), err in errors:
        print(f"ERROR {pair.label} {workload}: {err}")


if __name__ == "__main__":
    main()
