"""The calculator as a gunicorn application: ``app`` (plain handler) and ``async_app``.

Serve it (from the repository root)::

    gunicorn -c examples/gunicorn/gunicorn.conf.py                       # ThriftWorker, :9090
    gunicorn -k swordfish.web.gunicorn.ThriftAsyncWorker -b 127.0.0.1:9090 \\
        examples.gunicorn.calc_app:async_app                            # async def handler

and call it with ``python -m examples.gunicorn.client``. ``make_app(**options)`` builds the
plain app with other ``ThriftApp`` options; gunicorn accepts a call with literal arguments as
the application, e.g. ``'examples.gunicorn.calc_app:make_app(transport="framed")'``.

The module is imported by every worker after the fork (unless ``--preload``), so each worker
process has its own handler and its own state.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import swordfish
from swordfish.web import ThriftApp

from ..calc.handler import CalculatorHandler

calc_app = swordfish.load(Path(__file__).with_name("calc_app.thrift"))


class WorkerCalculatorHandler(CalculatorHandler):
    """Plain methods: the ThriftWorker runs them in its thread pool, ThriftAsyncWorker in its."""

    def pid(self) -> int:
        return os.getpid()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AsyncWorkerCalculatorHandler:
    """``async def`` methods, run on the event loop of a ThriftAsyncWorker."""

    def __init__(self) -> None:
        self.calculator = CalculatorHandler()  # the arithmetic is the same; it never blocks

    async def ping(self) -> None:
        pass

    async def add(self, num1: int, num2: int) -> int:
        return num1 + num2

    async def calculate(self, logid: int, w: Any) -> int:
        return self.calculator.calculate(logid, w)

    async def zip(self) -> None:
        self.calculator.zip()

    async def pid(self) -> int:
        return os.getpid()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def make_app(**options: Any) -> ThriftApp:
    """The calculator app with the plain handler and the given ``ThriftApp`` options."""
    return ThriftApp(calc_app.WorkerCalculator, WorkerCalculatorHandler(), **options)


#: For either worker: ``gunicorn -k swordfish.web.gunicorn.ThriftWorker ... calc_app:app``.
app = make_app()

#: For ThriftAsyncWorker only (its methods are ``async def``).
async_app = ThriftApp(calc_app.WorkerCalculator, AsyncWorkerCalculatorHandler())
