"""Coverage-guided fuzzing of the C codecs (atheris/libFuzzer), checked against the Python twins.

Each input picks a protocol, a struct class, limits and an operation from its first bytes and
feeds the rest to decode_struct / decode_message / scan_message of both the C codec and its
pure-Python twin. A crash, a hang (libFuzzer -timeout), an exception other than
RemoteProtocolError, or any difference between the two (result, exception class or message)
fails the run. Successfully decoded values are re-encoded by both and must give equal bytes.

Coverage feedback comes from the instrumented Python side (the twin follows the same
decision paths as the C code); the C extension itself is built with gcc here, which has no
libFuzzer-compatible coverage instrumentation.

Run: ``python tests/fuzz/atheris_codecs.py [CORPUS_DIR] -max_total_time=SECONDS`` (``make fuzz``),
or ``--make-seeds DIR`` to write a seed corpus of valid messages.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import atheris  # noqa: E402

with atheris.instrument_imports(include=["swordfish"]):
    from swordfish.codec import BinaryCodecC, BinaryCodecPy, CompactCodecC, CompactCodecPy
    from swordfish.errors import LocalProtocolError, RemoteProtocolError
    from swordfish.limits import Limits
    from swordfish.model import MessageType, TApplicationException
    from tests.codec.specs import (
        AllTypes,
        Bools,
        Choice,
        Containers,
        Empty,
        Ids,
        Inner,
        Node,
        Oops,
        Strict,
        sample_all_types,
        sample_containers,
    )

if BinaryCodecC is None or CompactCodecC is None:
    sys.exit("swordfish._speedups is not built: nothing to fuzz")

TYPES = [Containers, AllTypes, Choice, Node, Ids, Bools, Oops, Strict, Inner, Empty]
TYPES.append(TApplicationException)
LIMITS = [
    Limits(),
    Limits(max_frame_size=4096, max_string_size=64, max_container_size=32, max_depth=6),
]
PAIRS = [(BinaryCodecPy(lim), BinaryCodecC(lim)) for lim in LIMITS] + [
    (CompactCodecPy(lim), CompactCodecC(lim)) for lim in LIMITS
]
PAIRS.append((BinaryCodecPy(strict_read=True), BinaryCodecC(strict_read=True)))


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except RemoteProtocolError as exc:
        return type(exc).__name__, str(exc)


def _check(py: Any, c: Any, method: str, *args: Any) -> tuple[str, Any]:
    a = _outcome(getattr(py, method), *args)
    b = _outcome(getattr(c, method), *args)
    # repr, not ==: NaN != NaN, and the reprs of equal decoded values are equal too (the same
    # elements inserted in the same order give the same set and dict iteration order).
    if a[0] != b[0] or repr(a[1]) != repr(b[1]) or type(a[1]) is not type(b[1]):
        raise AssertionError(f"{method} on {c!r}: python {a!r} != C {b!r}; args={args!r}")
    return a


def _reencode(py: Any, c: Any, value: Any) -> None:
    try:
        expected = py.encode_struct(value)
    except LocalProtocolError:
        return  # e.g. a decoded union with two fields set: not re-encodable, by design
    got = c.encode_struct(value)
    if got != expected:
        raise AssertionError(f"re-encoding differs: {expected!r} != {got!r}")


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    head, sel, body = data[0], data[1], data[2:]
    py, c = PAIRS[head % len(PAIRS)]
    cls = TYPES[sel % len(TYPES)]
    op = (head >> 4) % 4
    if op == 0:
        kind, value = _check(py, c, "decode_struct", cls, body)
        if kind == "ok":
            _reencode(py, c, value)
    elif op == 1:
        kind, msg = _check(py, c, "decode_message", body, lambda n, t: cls)
        if kind == "ok":
            _reencode(py, c, msg.body)
    elif op == 2:
        _check(py, c, "decode_message", body, lambda n, t: None)
    else:
        _check(py, c, "scan_message", body, (sel >> 4) % (len(body) + 1))


def make_seeds(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    values = [
        sample_all_types(),
        sample_containers(),
        Choice(word="w"),
        Node(1, [Node(2, [])]),
        Ids(-1, 1, 16, 17, 40, 300),
        Bools(True, False, [True, False]),
        Oops("boom", 3),
        Strict(1, "x"),
        Inner(7, "seven"),
        Empty(),
    ]
    n = 0
    for pi, (py, _) in enumerate(PAIRS):
        for v in values:
            sel = TYPES.index(type(v))
            for op in range(4):
                body = (
                    py.encode_struct(v)
                    if op == 0
                    else py.encode_message("method", MessageType.CALL, 5, v)
                )
                with open(os.path.join(directory, f"seed-{n:04d}"), "wb") as fh:
                    fh.write(bytes([(op << 4) | pi, sel]) + body)
                n += 1


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--make-seeds":
        make_seeds(sys.argv[2])
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
