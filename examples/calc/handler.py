"""The calculator's server-side implementation: one plain method per IDL method."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import swordfish

calc = swordfish.load(Path(__file__).with_name("calc.thrift"))


class CalculatorHandler:
    """Arguments arrive in IDL order; raising ``calc.InvalidOperation`` sends it to the caller."""

    def __init__(self) -> None:
        self.log: dict[int, int] = {}
        self.zips = 0
        self._lock = threading.Lock()  # a threadpool server may run calls concurrently

    def ping(self) -> None:
        pass

    def add(self, num1: int, num2: int) -> int:
        return num1 + num2

    def calculate(self, logid: int, w: Any) -> int:
        op = w.op
        value: int
        if op == calc.Operation.ADD:
            value = w.num1 + w.num2
        elif op == calc.Operation.SUBTRACT:
            value = w.num1 - w.num2
        elif op == calc.Operation.MULTIPLY:
            value = w.num1 * w.num2
        elif op == calc.Operation.DIVIDE:
            if w.num2 == 0:
                raise calc.InvalidOperation(whatOp=op, why="Cannot divide by 0")
            value = int(w.num1 / w.num2)
        else:
            raise calc.InvalidOperation(whatOp=op, why=f"Unknown operation {op}")
        with self._lock:
            self.log[logid] = value
        return value

    def zip(self) -> None:
        with self._lock:
            self.zips += 1
