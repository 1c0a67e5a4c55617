"""Bounded coverage-guided fuzz run of the C codecs inside `make test` (``make fuzz`` runs longer).

Runs tests/fuzz/atheris_codecs.py in a subprocess (libFuzzer owns the process) on a seed
corpus of valid messages for SWORDFISH_FUZZ_SECONDS (default 20). Any crash, hang, unexpected
exception or C/Python disagreement makes libFuzzer exit non-zero and fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).with_name("atheris_codecs.py")


def test_atheris_fuzz_c_codecs(require: Any, tmp_path: Path) -> None:
    require.module("atheris")
    import swordfish.codec as codec_mod

    if codec_mod.BinaryCodecC is None:
        require.module("swordfish._speedups")  # skip locally, fail under CI=true
    seconds = int(os.environ.get("SWORDFISH_FUZZ_SECONDS", "20"))
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(HARNESS), "--make-seeds", str(corpus)], check=True)
    proc = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            str(corpus),
            f"-max_total_time={seconds}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-max_len=4096",
            f"-artifact_prefix={tmp_path}/",
            "-print_final_stats=1",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"fuzzer found a problem (exit {proc.returncode}):\n{tail}"
    assert "stat::number_of_executed_units" in tail, tail
