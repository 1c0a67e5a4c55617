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


# --------------------------------------------------------------------------------------------
# Objects and classes that lie about their layout (regressions: each of these crashed the
# interpreter or produced malformed bytes before the C codec stopped trusting them).
# --------------------------------------------------------------------------------------------


def _py(proto: str) -> Any:
    return codec_mod.BinaryCodecPy if proto == "binary" else codec_mod.CompactCodecPy


class _FakeInner:
    """Passes isinstance(x, Inner) through a lying __class__, with a different layout."""

    __slots__ = ()
    num = 5
    text = "fake"

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return Inner


class _InnerWithProperty(Inner):
    """A subclass that computes a field: the Python codec reads it through getattr."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def text(self) -> str:
        return "computed"


@proto_param
def test_struct_value_with_lying_class_is_read_through_getattr(proto: str) -> None:
    fake = _FakeInner()
    assert isinstance(fake, Inner)
    obj = AllTypes(a_struct=fake)
    expected = _py(proto)().encode_struct(obj)
    assert _c(proto)().encode_struct(obj) == expected
    assert _c(proto)().encode_struct(Containers(structs=[fake, fake])) == _py(
        proto
    )().encode_struct(Containers(structs=[fake, fake]))


@proto_param
def test_struct_value_of_a_subclass_is_read_through_getattr(proto: str) -> None:
    sub = _InnerWithProperty.__new__(_InnerWithProperty)
    object.__setattr__(sub, "num", 3)
    obj = AllTypes(a_struct=sub)
    expected = _py(proto)().encode_struct(obj)
    assert b"computed" in expected
    assert _c(proto)().encode_struct(obj) == expected


@proto_param
def test_copied_plan_attribute_on_another_class_is_not_trusted(proto: str) -> None:
    codec = _c(proto)()
    codec.encode_struct(AllTypes())  # compile and publish AllTypes' plan

    class Other:
        __slots__ = ("x",)
        __thrift_spec__ = AllTypes.__thrift_spec__
        _sf_init = AllTypes._sf_init
        _sf_names = AllTypes._sf_names
        _sf_cplan = AllTypes.__dict__["_sf_cplan"]

        def __getattr__(self, name: str) -> Any:
            return None

    other = Other()
    other.x = 1
    # Slot offsets of AllTypes must not be applied to an Other instance (no crash).
    assert codec.encode_struct(other) == codec.encode_struct(AllTypes())


@proto_param
@pytest.mark.parametrize("returns", ["int", "foreign", "late"])
def test_decode_with_new_returning_another_object(proto: str, returns: str) -> None:
    from .specs import T, define

    W = define("W", [(1, "a", T.I32), (2, "b", T.STRING)])
    data = _py(proto)().encode_struct(W(a=1, b="hi"))

    class Foreign:
        pass

    if returns == "late":
        _c(proto)().decode_struct(W, data)  # plan compiled before __new__ is replaced

    def new(cls: type, *args: Any) -> Any:
        return 7 if returns == "int" else Foreign()

    W.__new__ = new  # type: ignore[method-assign,assignment]
    outcomes = []
    for impl in (_py(proto)(), _c(proto)()):
        try:
            r = impl.decode_struct(W, data)
            outcomes.append((type(r), vars(r)))
        except Exception as exc:  # noqa: BLE001 - compared between the twins
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]
    if returns == "int":
        assert outcomes[1][0] is AttributeError
    else:
        assert outcomes[1] == (Foreign, {"a": 1, "b": "hi"})


@proto_param
def test_map_mutated_during_encoding_never_yields_malformed_bytes(proto: str) -> None:
    from .specs import T, define

    M = define("M", [(1, "m", T.map(T.STRING, T.I32)), (2, "z", T.I32)])
    d: dict[str, Any] = {}

    class Mutating:
        done = False

        def __index__(self) -> int:
            if not Mutating.done:
                Mutating.done = True
                del d["a"]  # same size afterwards, but one more entry to iterate
                d["d"] = 4
            return 1

    d.update(a=Mutating(), b=2, c=3)
    codec = _c(proto)()
    try:
        out = codec.encode_struct(M(m=d, z=9))
    except LocalProtocolError:
        return
    # If bytes come back at all they must be a valid encoding.
    codec.decode_struct(M, out)


@proto_param
def test_resolver_and_default_failures_match_python(proto: str) -> None:
    from .specs import T, define

    class NoCopy:
        def __deepcopy__(self, memo: Any) -> Any:
            raise RuntimeError("no copy")

        def __eq__(self, other: object) -> bool:
            return False

        __hash__ = None  # type: ignore[assignment]

    D = define("D", [(1, "a", T.I32), (2, "b", T.list(T.I32))])
    D._sf_init = (("a", None, False), ("b", NoCopy(), True))  # a default deepcopy refuses
    body = _py(proto)().encode_struct(Inner(1, "x"))
    msg = _py(proto)().encode_message("m", MessageType.CALL, 1, Inner(1, "x"))

    def boom(name: str, mtype: Any) -> Any:
        raise KeyError("resolver failed")

    cases = [
        lambda c: c.decode_struct(D, _py(proto)().encode_struct(Inner(num=1))),
        lambda c: c.decode_message(msg, boom),
        lambda c: c.decode_message(msg, lambda n, t: 42),
        lambda c: c.decode_message(msg, lambda n, t: int),
        lambda c: c.decode_message(msg, lambda n, t: Containers),
        lambda c: c.decode_struct(Containers, body),
    ]
    for case in cases:
        results = []
        for impl in (_py(proto)(), _c(proto)()):
            try:
                results.append(("ok", case(impl)))
            except Exception as exc:  # noqa: BLE001 - compared between the twins
                results.append((type(exc), str(exc)))
        assert results[0] == results[1]


@proto_param
def test_odd_input_buffers_match_python(proto: str) -> None:
    import array

    data = _py(proto)().encode_struct(sample_containers())

    class B(bytes):
        pass

    class BA(bytearray):
        pass

    padded = bytearray(len(data) * 2)
    padded[::2] = data
    inputs: list[Any] = [
        B(data),
        BA(data),
        memoryview(padded)[::2],  # non-contiguous
        memoryview(bytes(data)),
    ]
    if len(data) % 4 == 0:
        inputs.append(memoryview(array.array("i", data)))
    else:
        inputs.append(memoryview(data + b"\0" * (-len(data) % 4)).cast("i")[:0])
    if len(data) % 2 == 0:
        inputs.append(memoryview(data).cast("B", (2, len(data) // 2)))
    for buf in inputs:
        results = []
        for impl in (_py(proto)(), _c(proto)()):
            try:
                results.append(("ok", impl.decode_struct(Containers, buf)))
            except Exception as exc:  # noqa: BLE001 - compared between the twins
                results.append((type(exc), str(exc)))
        assert results[0] == results[1], type(buf)


def _race_plans(proto: str) -> None:
    """Eight threads compile and use the plans of a fresh mutually recursive pair at once."""
    import threading

    from swordfish.model import StructKind, make_struct_class

    from .specs import T, define

    a = make_struct_class("A", StructKind.STRUCT, ["b", "n"], __name__)
    b = make_struct_class("B", StructKind.STRUCT, ["a", "items"], __name__)
    define("A", [(1, "b", T.struct(b)), (2, "n", T.I32)], cls=a)
    define("B", [(1, "a", T.struct(a)), (2, "items", T.list(T.struct(a)))], cls=b)
    value = a(b=b(a=a(n=1), items=[a(n=2), a(b=b(items=[]))]), n=3)
    expected = _py(proto)().encode_struct(value)
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def work() -> None:
        codec = _c(proto)()
        barrier.wait()
        for _ in range(20):
            results.append(codec.encode_struct(value))
            results.append(codec.decode_struct(a, expected))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 * 40
    for r in results:
        assert r == expected or r == value
    # One published plan per class, each for its own class.
    assert "A" in repr(a.__dict__["_sf_cplan"]) and "B" in repr(b.__dict__["_sf_cplan"])


@proto_param
def test_plan_compilation_races_between_threads(proto: str) -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads inside plan compilation as often as possible
    try:
        for _ in range(5):
            _race_plans(proto)
    finally:
        sys.setswitchinterval(old)
