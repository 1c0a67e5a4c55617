"""Hostile input against the C codecs: no crash, hang, over-read, unbounded allocation or leak.

Guards against failures seen in other Thrift codecs: a few bytes that make a decoder spin and
allocate gigabytes, a truncated string decoded without error (padded with whatever memory
followed), a negative length surfacing as SystemError, and deep nesting crashing the process.
Every test here runs the C twins only (the shared tables in test_decode_errors.py run both).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from typing import Any

import pytest

import swordfish.codec as codec_mod
from swordfish.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from swordfish.limits import Limits
from swordfish.model import MessageType

from .impls import IN_CI
from .specs import AllTypes, Containers, Empty, Inner, Node, sample_all_types, sample_containers

BIG = Limits(max_string_size=2**31 - 1, max_container_size=2**31 - 1, max_frame_size=2**31 - 1)


def _c(proto: str) -> Any:
    cls = codec_mod.BinaryCodecC if proto == "binary" else codec_mod.CompactCodecC
    if cls is None:
        if IN_CI:
            pytest.fail("CI=true: swordfish._speedups is not built")
        pytest.skip("C codecs not built")
    return cls


proto_param = pytest.mark.parametrize("proto", ["binary", "compact"])

# Bodies of at most 8 bytes that claim 2**31-1 (or 2**32-1) elements/bytes.
HUGE_CLAIMS = {
    "binary": [
        "0f 0001 08 7fffffff 00",  # list<i32> ints
        "0e 0002 0b 7fffffff 00",  # set<string>
        "0d 0003 0b 0a 7fffffff",  # map<string,i64>
        "0f 0006 0c 7fffffff",  # list<Inner>
        "0b 0007 7fffffff",  # string
        "0f 0063 0c 7fffffff",  # unknown field: skipped list of structs
        "0d 0063 0b 0b 7fffffff",  # unknown field: skipped map
    ],
    "compact": [
        "19 f5 ffffffff07",  # list<i32>
        "2a f8 ffffffff07",  # set<string>
        "3b ffffffff07 86",  # map<string,i64>
        "69 fc ffffffff07",  # list<Inner>
        "78 ffffffff07",  # string
        "0c 01 19 fc ffffffff07",  # skipped list of structs (long-form field id)
    ],
}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@proto_param
def test_huge_claims_fail_fast_without_allocating(proto: str) -> None:
    codec = _c(proto)(BIG)
    gc.collect()
    rss0 = _rss()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for hexdata in HUGE_CLAIMS[proto]:
            data = bytes.fromhex(hexdata.replace(" ", ""))
            for cls in (Containers, AllTypes, Empty):
                with pytest.raises(RemoteProtocolError, match="truncated"):
                    codec.decode_struct(cls, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 0.5
    assert peak < 200_000, f"hostile 8-byte inputs allocated {peak} bytes"
    assert _rss() - rss0 < 8 * 2**20


@proto_param
def test_truncated_string_at_every_offset(proto: str) -> None:
    codec = _c(proto)()
    value = AllTypes(a_string="x" * 300, a_binary=b"\xaa" * 300)
    body = codec.encode_struct(value)
    for cut in range(len(body)):
        with pytest.raises(RemoteProtocolError, match="truncated") as info:
            codec.decode_struct(AllTypes, body[:cut])
        assert type(info.value) is RemoteProtocolError
        # The same prefix inside a larger buffer: the view must not read past its end.
        view = memoryview(body + b"\x00" * 64)[:cut]
        with pytest.raises(RemoteProtocolError, match="truncated"):
            codec.decode_struct(AllTypes, view)
    assert codec.decode_struct(AllTypes, body) == value


NEGATIVE = {
    "binary": [
        (AllTypes, "0b 0007 ffffffff 00"),
        (AllTypes, "0b 0007 80000000 00"),
        (AllTypes, "0b 0008 fffffffe 00"),
        (Containers, "0f 0001 08 80000000 00"),
        (Containers, "0e 0002 0b ffffffff 00"),
        (Containers, "0d 0003 0b 0a ffffffff 00"),
        (Empty, "0b 0001 ffffffff 00"),
        (Empty, "0f 0001 0b 80000000 00"),
        (Empty, "0d 0001 0b 0b ffffffff 00"),
    ],
    "compact": [
        (AllTypes, "78 ffffffff0f 00"),
        (AllTypes, "78 8080808008 00"),
        (Containers, "19 f5 ffffffff0f 00"),
        (Containers, "3b ffffffff0f 00"),
        (Empty, "18 ffffffff0f 00"),
        (Empty, "19 f8 ffffffff0f 00"),
    ],
}


@proto_param
def test_negative_lengths_are_protocol_errors(proto: str) -> None:
    codec = _c(proto)(BIG)
    for cls, hexdata in NEGATIVE[proto]:
        data = bytes.fromhex(hexdata.replace(" ", ""))
        with pytest.raises(RemoteProtocolError, match="negative") as info:
            codec.decode_struct(cls, data)
        assert type(info.value) is RemoteProtocolError, info.value


@proto_param
def test_invalid_utf8_names_the_field(proto: str) -> None:
    codec = _c(proto)()
    bad = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"ok\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80"]
    for raw in bad:
        good = codec.encode_struct(AllTypes(a_string="#" * len(raw)))
        data = good.replace(b"#" * len(raw), raw)
        with pytest.raises(RemoteProtocolError, match=r"invalid UTF-8 in AllTypes\.a_string"):
            codec.decode_struct(AllTypes, data)
        # The same bytes as binary decode fine.
        blob = codec.encode_struct(AllTypes(a_binary=raw))
        assert codec.decode_struct(AllTypes, blob).a_binary == raw
    nested = codec.encode_struct(Containers(structs=[Inner(1, "é")]))
    with pytest.raises(RemoteProtocolError, match=r"UTF-8 in Inner\.text"):
        codec.decode_struct(Containers, nested.replace("é".encode(), b"\xc3\xc3"))


# (nested structs, nested lists) under an unknown or mismatched field: skipped, depth-checked.
BOMBS = {
    "binary": (b"\x0c\x00\x01" * 200_000, b"\x0f\x00\x63" + b"\x0f\x00\x00\x00\x01" * 200_000),
    "compact": (b"\x1c" * 200_000, b"\xf9" + b"\x19" * 200_000),
}


@proto_param
@pytest.mark.parametrize("max_depth", [64, 10**6])
def test_depth_bombs(proto: str, max_depth: int) -> None:
    codec = _c(proto)(Limits(max_depth=max_depth))
    envelope = codec.encode_message("m", MessageType.CALL, 1, Empty())[:-1]
    for data in BOMBS[proto]:
        t0 = time.perf_counter()
        for cls in (Empty, Node, Containers):
            with pytest.raises(RemoteProtocolError) as info:
                codec.decode_struct(cls, data)
            if max_depth == 64:
                assert isinstance(info.value, LimitExceeded), info.value
            else:
                assert "nesting too deep" in str(info.value)
            with pytest.raises(RemoteProtocolError):
                codec.scan_message(envelope + data)
        assert time.perf_counter() - t0 < 2.0


def test_deep_nesting_under_a_huge_recursion_limit() -> None:
    """With sys.setrecursionlimit(10**6) the C codec still stops at its own hard cap."""
    _c("binary")
    script = textwrap.dedent(
        """
        import sys
        sys.setrecursionlimit(1_000_000)
        from swordfish.codec import BinaryCodecC, CompactCodecC
        from swordfish.errors import LocalProtocolError, RemoteProtocolError
        from swordfish.limits import Limits
        from tests.codec.specs import Empty, Node
        for factory, bomb in ((BinaryCodecC, b"\\x0c\\x00\\x01"), (CompactCodecC, b"\\x1c")):
            codec = factory(Limits(max_depth=10**6))
            for cls in (Empty, Node):
                try:
                    codec.decode_struct(cls, bomb * 300_000)
                except RemoteProtocolError:
                    pass
        print("ok")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


@proto_param
def test_huge_varints(proto: str) -> None:
    if proto != "compact":
        return
    codec = _c(proto)()
    for hexdata, match in [
        ("56" + "ff" * 10 + "01 00", "varint longer than 10"),
        ("56" + "ff" * 9 + "7f 00", "overflows 64"),
        ("45 ffffffffff01 00", "varint longer than 5"),
        ("45 ffffffff1f 00", "overflows 32"),
        ("05 ffffffffff01 00", "varint longer"),
        ("56" + "80" * 9, "truncated"),
    ]:
        with pytest.raises(RemoteProtocolError, match=match):
            codec.decode_struct(AllTypes, bytes.fromhex(hexdata.replace(" ", "")))


@proto_param
def test_bytearray_input_cannot_be_resized_during_decode(proto: str) -> None:
    """The resolver runs mid-decode; the buffer it could resize is locked (no dangling read)."""
    codec = _c(proto)()
    data = bytearray(codec.encode_message("m", MessageType.CALL, 1, sample_containers()))

    def resolve(name: str, mtype: MessageType) -> type:
        with pytest.raises(BufferError):
            data.clear()
        return Containers

    assert codec.decode_message(data, resolve).body == sample_containers()


@proto_param
def test_decoded_objects_hold_exact_references(proto: str) -> None:
    codec = _c(proto)()
    data = codec.encode_struct(sample_containers())
    obj = codec.decode_struct(Containers, data)
    twin = (codec_mod.BinaryCodecPy if proto == "binary" else codec_mod.CompactCodecPy)()
    ref = twin.decode_struct(Containers, data)
    # Every decoded object is referenced exactly as often as the Python twin's result is.
    for name in Containers._sf_names:
        assert sys.getrefcount(getattr(obj, name)) == sys.getrefcount(getattr(ref, name)), name
    assert sys.getrefcount(obj) == sys.getrefcount(ref)
    assert sys.getrefcount(obj.structs[0]) == sys.getrefcount(ref.structs[0])
    assert sys.getrefcount(obj.by_name["k"]) == sys.getrefcount(ref.by_name["k"])
    ref_cls = sys.getrefcount(Containers)
    ref_inner = sys.getrefcount(Inner)
    for _ in range(2000):
        codec.decode_struct(Containers, data)
        codec.encode_struct(obj)
    assert sys.getrefcount(Containers) == ref_cls
    assert sys.getrefcount(Inner) == ref_inner


def _leak_workload(proto: str, rounds: int) -> None:
    codec = _c(proto)()
    small_limits = _c(proto)(Limits(max_container_size=2, max_depth=3))
    small = AllTypes(a_i32=5, a_string="hello", a_binary=b"xy", a_struct=Inner(1, "a"))
    big = sample_containers()
    all_types = sample_all_types()
    small_bytes = codec.encode_struct(small)
    big_bytes = codec.encode_struct(big)
    msg = codec.encode_message("call", MessageType.CALL, 7, big)
    bad_utf8 = codec.encode_struct(AllTypes(a_string="#")).replace(b"#", b"\xff")
    resolve = {"call": Containers}.get
    for i in range(rounds):
        codec.decode_struct(AllTypes, codec.encode_struct(small))
        codec.decode_struct(AllTypes, small_bytes)
        if i % 8 == 0:
            codec.decode_struct(Containers, big_bytes)
            codec.encode_struct(big)
            codec.encode_struct(all_types)
            codec.decode_message(msg, lambda n, t: resolve(n))
            codec.scan_message(msg)
            for exc_type, fn, args in (
                (RemoteProtocolError, codec.decode_struct, (Containers, big_bytes[:-5])),
                (RemoteProtocolError, codec.decode_struct, (AllTypes, bad_utf8)),
                (LimitExceeded, small_limits.decode_struct, (Containers, big_bytes)),
                (LocalProtocolError, codec.encode_struct, (AllTypes(a_i32="x"),)),
            ):
                try:
                    fn(*args)
                except exc_type:
                    pass


@proto_param
def test_no_leaks_over_many_cycles(proto: str) -> None:
    """~1.5M encode/decode calls: RSS and traced memory stay flat.

    Scale with SWORDFISH_LEAK_ROUNDS (default 300000 rounds, a few seconds per protocol).
    """
    rounds = int(os.environ.get("SWORDFISH_LEAK_ROUNDS", "300000"))
    _leak_workload(proto, 2000)  # warm-up: plans compiled, caches and free lists filled
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    _leak_workload(proto, rounds)
    elapsed = time.perf_counter() - t0
    gc.collect()
    growth = _rss() - rss0
    assert growth < 4 * 2**20, f"RSS grew {growth} bytes over {rounds} rounds ({elapsed:.1f}s)"
    # Traced allocations: a finer measure over fewer rounds (tracemalloc is slow).
    tracemalloc.start()
    try:
        _leak_workload(proto, 500)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        _leak_workload(proto, 5000)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, f"traced memory grew {after - before} bytes"
