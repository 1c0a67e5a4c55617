"""Pre-fork scaling: ``swordfish serve --server prefork`` with N workers against 1 worker.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_prefork.py            # 3 repeats (~2 minutes)
    .venv/bin/python benchmarks/bench_prefork.py --quick    # 1 repeat, shorter windows
    .venv/bin/python benchmarks/bench_prefork.py --pin --workers 1,2,4,8  # 16+ cores

Each measurement starts a fresh server with the real command line (``swordfish serve IDL
--service Bench --handler ... --server prefork --workers N --worker-server S --transport
framed``, uvloop for asyncio workers), waits for its ``listening on`` line, then starts
``--load-procs`` load-generator processes. The load generator is bench_aio's, imported from
it (raw uvloop sockets, pre-encoded framed binary calls, replies matched by seqid), so the
numbers measure the server and not a client library. One load process is one core at most
and cannot saturate several workers, hence several; the total number of connections is the
same for every N and is split between them. All load processes connect, warm up, and then
measure the same window (monotonic clock deadlines handed to each), while this process reads
CPU times from /proc over that window.

Workloads (every configuration gets the same one):

struct64   64 connections, one call in flight on each: ``Person echo(1: Person p)`` with a
           ~1 KB Person. Cheap per call (~30-50 us of server CPU with the C codec): the load
           generator needs about as much CPU as the server does.
cpu64      the same calls, but the handler also runs ``--work`` rounds of pure-Python
           arithmetic (~0.2 ms by default) before answering: a handler that does real work.
           The load generator's share of the CPU becomes small, which is what lets a
           2-core box show the scaling of the server itself.

Worker servers: ``asyncio`` (``--loop uvloop``, async handler) and ``threadpool`` (the sync
``Server``, 8 threads per worker, plain handler).

Columns: calls/s (the median of the repeats; every run at the end of the line) and that
median over the 1-worker median of the same workload and worker server ("vs 1"). The rest
come from the median run: p50/p99 latency (ms); server CPU per 10k calls (supervisor + every
worker, user+system from /proc/<pid>/stat); CPU over the window in % of one core (200% = two
cores busy) of the server ("srv cpu", then each worker), of the load processes ("load") and
of everything else on the box ("other": /proc/stat's busy time minus those two, i.e. the
neighbours this run competed with); the whole box's CPU use ("box", 100% = every core busy);
and the connections each worker held in the middle of the window (socket descriptors in
/proc/<pid>/fd, less those it had before the load connected). How to read a row: ``srv
cpu`` ~100% per worker means the server was the bottleneck and "vs 1" is its own scaling;
``box`` ~100% with ``srv cpu`` below that means the cores were full and "vs 1" is bounded by
what the load generator and the neighbours took.

Pinning: off by default. On a 2-core box there is no core to spare: pinning the server to
one core and the load to the other (as bench_aio does) caps 2 workers at one core, and
pinning the server to both leaves the load generator nothing of its own. So everything
floats, and the table says how the cores were shared. ``--pin`` is for a bigger machine:
the whole server (supervisor, and so every worker it forks) goes on cores 0..N-1 of the
usable set and the load processes on the cores above the largest N, the same load cores for
every N; raise ``--load-procs`` until ``srv cpu`` is ~100% per worker.

One effect of floating to keep in mind: a threadpool worker's 8 pool threads (and its
selector thread) run on every core they may use and pass the GIL between cores, which on the
2-core box costs the unpinned 1-worker threadpool server 2-3x the CPU per call it needs when
held to one core (``--pin --workers 1`` measures that). Its unpinned "vs 1" therefore says
more about that baseline than about pre-fork; asyncio workers run one thread and do not pay it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_aio  # noqa: E402  (the shared load generator, found through the path above)

WORKER_SERVERS = ("asyncio", "threadpool")
WORKLOADS = ("struct64", "cpu64")
#: Environment variable telling the handler how many rounds of work to do per call.
WORK_ENV = "SWORDFISH_BENCH_PREFORK_WORK"
#: Default rounds of handler work for cpu64 (~0.1 us each on the 2-core box: ~0.2 ms).
DEFAULT_WORK = 2000
CONNECTIONS = 64
STOP_TIMEOUT = 10.0
#: How long the workers may take to accept every connection before the warm-up starts anyway.
ACCEPT_TIMEOUT = 10.0
LISTENING = re.compile(r"^swordfish: listening on \S+:(\d+) ")


# -- handlers (imported by every worker: ``--handler bench_prefork:AsyncHandler``) ------------


def burn(rounds: int) -> int:
    """``rounds`` steps of pure-Python arithmetic: CPU that holds the GIL, like handler code."""
    x = 0
    for i in range(rounds):
        x = (x * 31 + i) & 0xFFFFFFFF
    return x


class SyncHandler:
    """For threadpool workers: plain methods, run in the worker's thread pool."""

    def __init__(self) -> None:
        self.work = int(os.environ.get(WORK_ENV, "0"))

    def echo(self, p: Any) -> Any:
        if self.work:
            burn(self.work)
        return p

    def ping(self) -> None:
        return None


class AsyncHandler:
    """For asyncio workers: ``async`` methods, run on the worker's event loop."""

    def __init__(self) -> None:
        self.work = int(os.environ.get(WORK_ENV, "0"))

    async def echo(self, p: Any) -> Any:
        if self.work:
            burn(self.work)
        return p

    async def ping(self) -> None:
        return None


# -- /proc -------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (the supervisor's workers), from /proc/*/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if ppid == pid:
            found.append(int(entry))
    return sorted(found)


def sockets(pid: int) -> int:
    """Socket descriptors open in ``pid``: the listener, the loop's own, one per connection."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def box_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs together, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def accept_queue(port: int) -> int | None:
    """Connections waiting in the accept queue of the IPv4 listener on ``port`` (/proc/net/tcp)."""
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
                    return int(fields[4].split(":")[1], 16)  # rx_queue: the accept backlog
    except (OSError, IndexError, ValueError):
        pass
    return None


def threads_report(pids: list[int]) -> str:
    """Each thread of ``pids``: name, state and the kernel function it waits in."""
    lines = []
    for pid in pids:
        for task in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            base = f"/proc/{pid}/task/{task}"
            try:
                with open(f"{base}/comm") as f:
                    name = f.read().strip()
                with open(f"{base}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"{base}/wchan") as f:
                    wchan = f.read().strip() or "-"
            except OSError:
                continue
            lines.append(f"    pid {pid} thread {task} {name}: {state} in {wchan}")
    return "\n".join(lines)


# -- load generator process --------------------------------------------------------------------


async def load_main(args: argparse.Namespace) -> dict[str, Any]:
    """Connect, say ``ready``, read the window's deadlines from stdin, measure, report."""
    loop = asyncio.get_running_loop()
    gen = bench_aio.LoadGen(args.method)
    transports = []
    for _ in range(args.connections):
        transport, _ = await asyncio.wait_for(
            loop.create_connection(
                lambda: bench_aio.LoadProtocol(gen, args.depth), "127.0.0.1", args.port
            ),
            30,
        )
        transports.append(transport)
    print("ready", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    start_at, end_at = (float(v) for v in line.split())
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    gen.measuring = True
    first, start = gen.completed, time.perf_counter()
    await asyncio.sleep(max(0.0, end_at - time.monotonic()))
    calls, elapsed = gen.completed - first, time.perf_counter() - start
    gen.measuring = False
    gen.stopping = True
    for t in transports:
        t.close()
    return {
        "calls": calls,
        "elapsed": elapsed,
        "latencies_us": [round(x * 1e6) for x in gen.latencies],
    }


def run_load(args: argparse.Namespace) -> None:
    import uvloop

    signal.alarm(int(args.give_up))  # never outlive a stuck orchestrator
    bench_aio.pin(args.core)
    # To a file, not stdout: with PYTHONUNBUFFERED=1, a print over 64 KB to a pipe made after
    # uvloop.run() came out cut at 64 KB here (one short write(), never retried).
    Path(args.report).write_text(json.dumps(uvloop.run(load_main(args))))


# -- orchestration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    workload: str
    worker_server: str
    workers: int


@dataclass(frozen=True)
class Placement:
    """Cores for the server (given its worker count) and for each load process."""

    pin: bool
    usable: tuple[int, ...]
    load_cores: tuple[int, ...]

    def server_cores(self, workers: int) -> set[int] | None:
        return set(self.usable[:workers]) if self.pin else None

    def load_core(self, index: int) -> int | None:
        return self.load_cores[index % len(self.load_cores)] if self.pin else None

    def describe(self, workers: list[int]) -> str:
        if not self.pin:
            return "unpinned: server and load share every core"
        return (
            f"pinned: server on the first N of cores {list(self.usable[: max(workers)])}, "
            f"load on cores {list(self.load_cores)}"
        )


def start_server(
    config: Config, args: argparse.Namespace, placement: Placement, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    handler = "AsyncHandler" if config.worker_server == "asyncio" else "SyncHandler"
    argv = [
        sys.executable, "-m", "swordfish", "serve", bench_aio.idl_path(),
        "--service", "Bench", "--handler", f"bench_prefork:{handler}",
        "--server", "prefork", "--workers", str(config.workers),
        "--worker-server", config.worker_server,
        "--protocol", "binary", "--transport", "framed",
        "--host", "127.0.0.1", "--port", "0", "--graceful-timeout", "1",
    ]  # fmt: skip
    if config.worker_server == "asyncio":
        argv += ["--loop", "uvloop"]
    # The handler is this module, imported by name from the server's working directory (a
    # handler given as a file path is not registered in sys.modules, which dataclasses need).
    env = dict(os.environ, **{WORK_ENV: str(args.work if config.workload == "cpu64" else 0)})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cores = placement.server_cores(config.workers)

    def set_affinity() -> None:  # in the child, before exec: the workers inherit it
        if cores is not None:
            os.sched_setaffinity(0, cores)

    with open(log, "wb") as err:
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=err, cwd=HERE, env=env, preexec_fn=set_affinity
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            match = LISTENING.match(line)
            if match:
                return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_server(proc, [])
    raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")


def stop_server(proc: subprocess.Popen[bytes], workers: list[int]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    # Workers leave on their own once the supervisor is gone; make sure of it.
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in workers:
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(f"/proc/{pid}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def cpu_of(pids: list[int]) -> list[float]:
    return [bench_aio.cpu_seconds(pid) for pid in pids]


def measure(config: Config, args: argparse.Namespace, placement: Placement) -> dict[str, Any]:
    method, depth = "echo", 1
    with tempfile.TemporaryDirectory(prefix="bench_prefork_") as tmp:
        proc, port = start_server(config, args, placement, Path(tmp) / "server.log")
        workers = children(proc.pid)
        loads: list[subprocess.Popen[str]] = []
        try:
            if len(workers) != config.workers:
                raise RuntimeError(f"expected {config.workers} workers, found {workers}")
            cores = placement.server_cores(config.workers)
            if cores is not None and any(os.sched_getaffinity(w) != cores for w in workers):
                raise RuntimeError(f"workers {workers} are not pinned to cores {sorted(cores)}")
            base_sockets = [sockets(pid) for pid in workers]
            give_up = 60 + args.warmup + args.duration
            per_proc = [
                CONNECTIONS // args.load_procs + (i < CONNECTIONS % args.load_procs)
                for i in range(args.load_procs)
            ]
            for i, conns in enumerate(per_proc):
                argv = [
                    sys.executable, __file__, "--role", "load", "--port", str(port),
                    "--method", method, "--connections", str(conns), "--depth", str(depth),
                    "--give-up", str(give_up), "--report", str(Path(tmp) / f"load{i}.json"),
                ]  # fmt: skip
                core = placement.load_core(i)
                if core is not None:
                    argv += ["--core", str(core)]
                loads.append(
                    subprocess.Popen(
                        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
                    )
                )
            for load in loads:
                assert load.stdout is not None
                if load.stdout.readline().strip() != "ready":
                    raise RuntimeError("a load process failed to connect")
            # Connected is not accepted: a busy worker can take a second or more to accept
            # the last connections. The warm-up starts once every one is being served.
            connected = time.monotonic()
            while time.monotonic() < connected + ACCEPT_TIMEOUT:
                held = sum(sockets(pid) for pid in workers) - sum(base_sockets)
                if held >= CONNECTIONS:
                    break
                time.sleep(0.02)
            accept_s = time.monotonic() - connected
            stall = ""
            if held < CONNECTIONS:
                # Measured anyway (and left out of the medians): say what the server was doing.
                stall = (
                    f"only {held} of {CONNECTIONS} connections accepted after "
                    f"{ACCEPT_TIMEOUT:.0f} s (per worker: "
                    f"{[sockets(w) - b for w, b in zip(workers, base_sockets, strict=True)]}, "
                    f"accept queue {accept_queue(port)})\n"
                    f"{threads_report([proc.pid, *workers])}"
                )
            start_at = time.monotonic() + args.warmup
            end_at = start_at + args.duration
            for load in loads:
                assert load.stdin is not None
                load.stdin.write(f"{start_at} {end_at}\n")
                load.stdin.flush()
            server_pids = [proc.pid, *workers]
            load_pids = [load.pid for load in loads]
            time.sleep(max(0.0, start_at - time.monotonic()))
            srv0, load0, box0 = cpu_of(server_pids), cpu_of(load_pids), box_times()
            # Mid-window: at its end the load processes are already closing their connections.
            time.sleep(max(0.0, start_at + args.duration / 2 - time.monotonic()))
            conns = [sockets(pid) - base for pid, base in zip(workers, base_sockets, strict=True)]
            time.sleep(max(0.0, end_at - time.monotonic()))
            srv1, load1, box1 = cpu_of(server_pids), cpu_of(load_pids), box_times()
            reports = []
            for i, load in enumerate(loads):
                load.communicate(timeout=60)
                if load.returncode != 0:
                    raise RuntimeError(f"a load process exited with {load.returncode}")
                reports.append(json.loads((Path(tmp) / f"load{i}.json").read_text()))
        finally:
            for load in loads:
                if load.poll() is None:
                    load.kill()
                    load.wait(STOP_TIMEOUT)
            stop_server(proc, workers)
    calls = sum(r["calls"] for r in reports)
    rate = sum(r["calls"] / r["elapsed"] for r in reports)
    window = args.duration
    srv = [b - a for a, b in zip(srv0, srv1, strict=True)]
    lat = sorted(x for r in reports for x in r["latencies_us"])

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1e3 if lat else float("nan")

    busy = (box1[0] - box0[0]) / max(1, box1[1] - box0[1])
    busy_cores = (box1[0] - box0[0]) / os.sysconf("SC_CLK_TCK") / window
    load_util = sum(b - a for a, b in zip(load0, load1, strict=True)) / window
    return {
        "calls_per_s": rate,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_ms_per_10k": sum(srv) / calls * 10_000 * 1e3 if calls else float("nan"),
        "srv_util": sum(srv) / window,
        "supervisor_util": srv[0] / window,
        "worker_util": [s / window for s in srv[1:]],
        "load_util": load_util,
        "box_util": busy,
        # CPU the rest of the box took meanwhile (neighbours): what this run competed with.
        "other_util": max(0.0, busy_cores - sum(srv) / window - load_util),
        "conns": conns,
        "accept_s": accept_s,
        "stall": stall,
    }


def parse_list(text: str, choices: tuple[str, ...] | None = None) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if choices is not None and item not in choices:
            raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(choices)}")
    return items


def spread(values: list[float], fmt: str) -> str:
    return "/".join(format(v, fmt) for v in values)


def summarize(
    configs: list[Config], runs: dict[Config, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Per configuration: the median calls/s, the ratio to 1 worker, and the median run.

    Every other column comes from the median run (the one with the median calls/s), so that
    a row's CPU, latency and connection numbers belong together.
    """
    rows = []
    for config in configs:
        rates = [r["calls_per_s"] for r in runs[config]]
        results = [r for r in runs[config] if not r["stall"]] or runs[config]
        median_run = sorted(results, key=lambda r: r["calls_per_s"])[len(results) // 2]
        median = statistics.median(r["calls_per_s"] for r in results)
        rows.append(dict(median_run, config=config, rates=rates, median=median))
    for row in rows:
        one = next(
            (
                r
                for r in rows
                if r["config"].workers == 1
                and r["config"].workload == row["config"].workload
                and r["config"].worker_server == row["config"].worker_server
            ),
            None,
        )
        row["vs_1"] = row["median"] / one["median"] if one and one["median"] else float("nan")
    return rows


def print_table(rows: list[dict[str, Any]], markdown: bool) -> None:
    if markdown:
        print(
            "| workload | worker server | workers | calls/s (runs) | median | vs 1 worker "
            "| p50 ms | p99 ms | server CPU ms / 10k calls | srv cpu | per worker | load cpu "
            "| other cpu | box cpu | conns per worker |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            c = r["config"]
            runs = " / ".join(f"{x:,.0f}" for x in r["rates"])
            print(
                f"| {c.workload} | {c.worker_server} | {c.workers} | {runs} | "
                f"{r['median']:,.0f} | {r['vs_1']:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['cpu_ms_per_10k']:,.0f} | {r['srv_util']:.0%} | "
                f"{spread(r['worker_util'], '.0%')} | {r['load_util']:.0%} | "
                f"{r['other_util']:.0%} | {r['box_util']:.0%} | {spread(r['conns'], 'd')} |"
            )
        return
    header = (
        f"{'workload':<8} {'worker':<10} {'N':>2} {'calls/s':>8} {'vs 1':>5} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'ms/10k':>7} {'srv cpu':>7} {'per worker':>11} {'load':>5} "
        f"{'other':>5} {'box':>4} {'conns':>7}  runs"
    )
    print(header)
    print("-" * (len(header) + 20))
    for r in rows:
        c = r["config"]
        print(
            f"{c.workload:<8} {c.worker_server:<10} {c.workers:>2} {r['median']:>8.0f} "
            f"{r['vs_1']:>4.2f}x {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['cpu_ms_per_10k']:>7.0f} {r['srv_util']:>7.0%} "
            f"{spread(r['worker_util'], '.0%'):>11} {r['load_util']:>5.0%} "
            f"{r['other_util']:>5.0%} {r['box_util']:>4.0%} {spread(r['conns'], 'd'):>7}  "
            + " ".join(f"{x:.0f}" for x in r["rates"])
        )


def calibrate(rounds: int) -> float:
    """Microseconds one call's handler work takes here (the best of a few tries)."""
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        burn(rounds)
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", choices=("main", "load"), default="main", help=argparse.SUPPRESS)
    p.add_argument("--workers", default="1,2", help="worker counts (default: %(default)s)")
    p.add_argument(
        "--worker-server",
        default=",".join(WORKER_SERVERS),
        help="comma-separated: asyncio (uvloop), threadpool (default: %(default)s)",
    )
    p.add_argument(
        "--workload",
        default=",".join(WORKLOADS),
        help="comma-separated: struct64, cpu64 (default: %(default)s)",
    )
    p.add_argument(
        "--load-procs",
        type=int,
        default=None,
        help="load-generator processes (default: one per core the load may use)",
    )
    p.add_argument(
        "--work",
        type=int,
        default=DEFAULT_WORK,
        help="cpu64: rounds of handler work per call (default: %(default)s, ~0.2 ms)",
    )
    p.add_argument("--repeats", type=int, default=3, help="default: %(default)s")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds (default: %(default)s)")
    p.add_argument("--duration", type=float, default=2.0, help="seconds (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="1 repeat, 0.5 s warm-up, 1.5 s windows")
    p.add_argument(
        "--pin",
        action="store_true",
        help="server on the first N cores, load on the cores above the largest N",
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--json", metavar="PATH", help="also write every run's numbers here")
    # Load-process arguments.
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--method", default="echo", help=argparse.SUPPRESS)
    p.add_argument("--connections", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--depth", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--give-up", type=float, default=120.0, help=argparse.SUPPRESS)
    p.add_argument("--report", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "load":
        run_load(args)
        return

    try:
        worker_counts = sorted({int(w) for w in parse_list(args.workers)})
        worker_servers = parse_list(args.worker_server, WORKER_SERVERS)
        workloads = parse_list(args.workload, WORKLOADS)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        p.error(str(exc))
    if not worker_counts or min(worker_counts) < 1:
        p.error("--workers: positive counts, e.g. 1,2,4")
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 0.5, 1.5
    usable = tuple(sorted(os.sched_getaffinity(0)))
    if args.pin:
        if len(usable) <= max(worker_counts):
            p.error(
                f"--pin needs more usable cores ({len(usable)}) than the largest --workers "
                f"({max(worker_counts)}): the load runs on the cores above them"
            )
        placement = Placement(True, usable, usable[max(worker_counts) :])
    else:
        placement = Placement(False, usable, usable)
    if args.load_procs is None:
        args.load_procs = len(placement.load_cores)
    if not 1 <= args.load_procs <= CONNECTIONS:
        p.error(f"--load-procs must be 1..{CONNECTIONS}")

    configs = [
        Config(workload, server, n)
        for workload in workloads
        for server in worker_servers
        for n in worker_counts
    ]
    work_note = (
        f", cpu64 handler work {args.work} rounds = {calibrate(args.work):.0f} us"
        if "cpu64" in workloads
        else ""
    )
    from swordfish import codec

    print(
        f"python {sys.version.split()[0]}, {len(usable)} usable cores, "
        f"{placement.describe(worker_counts)}; {args.load_procs} load processes, "
        f"{CONNECTIONS} connections x 1 in flight; codec {codec.BinaryCodec.__name__}"
        f"{work_note}; warm-up {args.warmup}s, window {args.duration}s, {args.repeats} repeats",
        flush=True,
    )
    runs: dict[Config, list[dict[str, Any]]] = {c: [] for c in configs}
    began = time.monotonic()
    # Repeats are interleaved (every configuration once, then again), so a slow spell on a
    # shared box hits every configuration instead of all the runs of one.
    for repeat in range(args.repeats):
        for config in configs:
            result = measure(config, args, placement)
            runs[config].append(result)
            print(
                f"  run {repeat + 1}/{args.repeats} {config.workload} {config.worker_server} "
                f"x{config.workers}: {result['calls_per_s']:,.0f} calls/s, srv cpu "
                f"{result['srv_util']:.0%} ({spread(result['worker_util'], '.0%')}), load cpu "
                f"{result['load_util']:.0%}, other {result['other_util']:.0%}, box "
                f"{result['box_util']:.0%}, conns "
                f"{spread(result['conns'], 'd')} (accept wait {result['accept_s']:.2f} s)",
                file=sys.stderr,
                flush=True,
            )
            if result["stall"]:
                print(
                    f"  STALLED, left out of the medians: {result['stall']}",
                    file=sys.stderr,
                    flush=True,
                )
    rows = summarize(configs, runs)
    print(f"total {time.monotonic() - began:.0f} s; medians over the repeats:")
    print_table(rows, args.markdown)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "workload": c.workload,
                        "worker_server": c.worker_server,
                        "workers": c.workers,
                        "runs": runs[c],
                    }
                    for c in configs
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
