"""Call the gunicorn-served calculator and show which worker answered each connection.

python -m examples.gunicorn.client [--host 127.0.0.1] [--port 9090] [--connections 8]
"""

from __future__ import annotations

import argparse
from collections import Counter

import swordfish

from .calc_app import calc_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)

    service = calc_app.WorkerCalculator
    with swordfish.make_client(service, args.host, args.port, timeout=10) as client:
        print(f"add(1, 2) = {client.add(1, 2)}")
        work = calc_app.calc.Work(num1=1, num2=0, op=calc_app.calc.Operation.DIVIDE)
        try:
            client.calculate(1, work)
        except calc_app.calc.InvalidOperation as exc:
            print(f"calculate(1, 1 / 0) raised InvalidOperation: {exc.why}")

    # A Thrift connection stays with the worker that accepted it: new connections spread.
    pids: Counter[int] = Counter()
    for _ in range(args.connections):
        with swordfish.make_client(service, args.host, args.port, timeout=10) as client:
            pids[client.pid()] += 1
    print(f"{args.connections} connections answered by workers {dict(sorted(pids.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
