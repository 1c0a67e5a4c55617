"""``python -m examples.calc.demo`` (what ``make demo`` runs) works and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_demo_runs_and_exits_0() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.calc.demo"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "add(1, 1) = 2" in out
    assert "calculate(1, 1 / 0) raised InvalidOperation: Cannot divide by 0" in out
    assert "calculate(2, 15 - 10) = 5" in out
    assert "server: stopped; log={2: 5}, zips=1" in out
