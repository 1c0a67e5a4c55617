"""Call the calculator over HTTP, with the blocking and the asyncio client.

python -m examples.http.client [--url http://127.0.0.1:8080/calc]
"""

from __future__ import annotations

import argparse
import asyncio

import swordfish

from ..calc.handler import calc


async def concurrent_adds(url: str) -> list[int]:
    """Ten calls at once over a pool of (at most) four keep-alive connections."""
    async with await swordfish.make_aio_client(
        calc.Calculator, url, transport="http", pool_size=4, timeout=10
    ) as client:
        return list(await asyncio.gather(*(client.add(i, i) for i in range(10))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/calc")
    args = parser.parse_args(argv)

    with swordfish.make_client(calc.Calculator, args.url, transport="http", timeout=10) as client:
        print(f"add(1, 2) = {client.add(1, 2)}")
        work = calc.Work(num1=1, num2=0, op=calc.Operation.DIVIDE)
        try:
            client.calculate(1, work)
        except calc.InvalidOperation as exc:
            print(f"calculate(1, 1 / 0) raised InvalidOperation: {exc.why}")
    print(f"concurrent adds: {asyncio.run(concurrent_adds(args.url))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
