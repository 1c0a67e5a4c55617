"""Time loading a generated ~2,000-line IDL: swordfish.idl.load vs thriftpy2.load.

Run: ``python benchmarks/bench_idl.py [--repeat N]``. Both loaders are timed
uncached (swordfish's cache is cleared and a fresh module name used for each repeat; thriftpy2
is given a fresh module name too). thriftpy2 is optional: without it only swordfish is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from swordfish.idl import clear_cache, load  # noqa: E402


def generate_idl(n_enums: int = 20, n_structs: int = 105, n_services: int = 10) -> str:
    """A realistic IDL: enums, typedefs, consts, nested structs, unions, exceptions, services."""
    out = ["namespace py bench", "namespace java org.bench", ""]
    for e in range(n_enums):
        out.append(f"/** Enum number {e}. */")
        out.append(f"enum Kind{e} {{")
        out.extend(f"  K{e}_V{v} = {v * 2}," for v in range(8))
        out.append("}")
        out.append("")
    out.append("typedef i64 Timestamp")
    out.append("typedef map<string, string> Tags")
    out.append("const i32 MAX_ITEMS = 0x400")
    out.append('const list<string> DEFAULT_NAMES = ["a", "b", "c"]')
    out.append('const map<string, i32> LIMITS = {"low": 1, "high": 100}')
    out.append("")
    for i in range(n_structs):
        kind = "exception" if i % 10 == 9 else "union" if i % 10 == 8 else "struct"
        out.append(f"/** Generated {kind} {i}. */")
        out.append(f"{kind} S{i} {{")
        opt = "" if kind == "union" else "optional "
        req = "" if kind == "union" else "required "
        out.append(f"  1: {req}i64 id,")
        out.append(f'  2: {opt}string name = "s{i}",')
        out.append(f"  3: {opt}Kind{i % n_enums} kind = Kind{i % n_enums}.K{i % n_enums}_V1,")
        out.append(f"  4: {opt}list<i32> values,")
        out.append(f"  5: {opt}map<string, list<double>> series,")
        out.append(f'  6: {opt}Timestamp created (python.note = "ts"),')
        out.append(f"  7: {opt}Tags tags,")
        if i > 0 and kind == "struct":
            out.append(f"  8: {opt}S{i - 1} previous,")
            out.append(f"  9: {opt}list<S{i - 1}> history,")
        out.append(f"  10: {opt}set<string> labels,")
        out.append(f"  11: {opt}binary blob,")
        out.append("}")
        out.append("")
    exceptions = [i for i in range(n_structs) if i % 10 == 9]
    for s in range(n_services):
        extends = f" extends Service{s - 1}" if s else ""
        out.append(f"service Service{s}{extends} {{")
        for m in range(10):
            arg = (s * 10 + m) % n_structs
            exc = exceptions[(s + m) % len(exceptions)]
            out.append(f"  /** Method {m}. */")
            out.append(
                f"  S{arg} get{s}_{m}(1: i64 id, 2: S{arg} filter, 3: list<string> fields)"
                f" throws (1: S{exc} err),"
            )
        out.append(f"  oneway void ping{s}(1: i32 n)")
        out.append("}")
        out.append("")
    return "\n".join(out)


def _median_ms(fn: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    text = generate_idl()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.thrift")
        with open(path, "w") as f:
            f.write(text)
        print(f"IDL: {text.count(chr(10)) + 1} lines, {len(text)} bytes")

        def swordfish_load(i: int) -> object:
            clear_cache()
            return load(path, module_name=f"bench_sf_{i}_thrift")

        swordfish_load(-1)  # warm imports
        sf = _median_ms(swordfish_load, args.repeat)
        print(f"swordfish.idl.load  median {sf:8.2f} ms  ({args.repeat} repeats)")
        for i in range(-1, args.repeat):
            sys.modules.pop(f"bench_sf_{i}_thrift", None)

        try:
            import thriftpy2
        except ImportError:
            print("thriftpy2 not installed: no comparison")
            return

        def thriftpy2_load(i: int) -> object:
            return thriftpy2.load(path, module_name=f"bench_tp_{i}_thrift")

        thriftpy2_load(-1)
        tp = _median_ms(thriftpy2_load, args.repeat)
        print(f"thriftpy2.load      median {tp:8.2f} ms  ({args.repeat} repeats)")
        print(f"ratio thriftpy2 / swordfish: {tp / sf:.2f}x")


if __name__ == "__main__":
    main()
