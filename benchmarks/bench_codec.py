"""Codec micro-benchmark: encode+decode of a ~1 KB nested struct.

Compares swordfish's codecs (pure Python now; C when built) with thriftpy2's pure-Python
binary/compact protocols and Apache ``thrift``'s pure-Python TBinaryProtocol/TCompactProtocol,
when those packages are installed. Prints the median time per operation and the ratio to
swordfish's pure-Python binary codec. Run: ``python benchmarks/bench_codec.py [--quick]``.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from swordfish.codec import BinaryCodecC, BinaryCodecPy, CompactCodecC, CompactCodecPy  # noqa: E402
from swordfish.model import (  # noqa: E402
    FieldSpec,
    StructKind,
    StructSpec,
    TType,
    TypeSpec,
    bind_spec,
    make_struct_class,
)

IDL = """
struct Item { 1: i32 id, 2: string name, 3: double score, 4: bool active }
struct Doc {
  1: i64 id,
  2: string title,
  3: list<Item> items,
  4: map<string, i64> counters,
  5: set<i32> tags,
  6: list<i32> numbers,
}
"""


def _swordfish_types() -> tuple[Any, Any]:
    item = make_struct_class("Item", StructKind.STRUCT, ["id", "name", "score", "active"], "b")
    bind_spec(
        item,
        StructSpec(
            "Item",
            StructKind.STRUCT,
            (
                FieldSpec(1, "id", TypeSpec(TType.I32)),
                FieldSpec(2, "name", TypeSpec(TType.STRING)),
                FieldSpec(3, "score", TypeSpec(TType.DOUBLE)),
                FieldSpec(4, "active", TypeSpec(TType.BOOL)),
            ),
        ),
    )
    doc = make_struct_class(
        "Doc", StructKind.STRUCT, ["id", "title", "items", "counters", "tags", "numbers"], "b"
    )
    bind_spec(
        doc,
        StructSpec(
            "Doc",
            StructKind.STRUCT,
            (
                FieldSpec(1, "id", TypeSpec(TType.I64)),
                FieldSpec(2, "title", TypeSpec(TType.STRING)),
                FieldSpec(
                    3, "items", TypeSpec(TType.LIST, value=TypeSpec(TType.STRUCT, struct=item))
                ),
                FieldSpec(
                    4,
                    "counters",
                    TypeSpec(TType.MAP, key=TypeSpec(TType.STRING), value=TypeSpec(TType.I64)),
                ),
                FieldSpec(5, "tags", TypeSpec(TType.SET, value=TypeSpec(TType.I32))),
                FieldSpec(6, "numbers", TypeSpec(TType.LIST, value=TypeSpec(TType.I32))),
            ),
        ),
    )
    return item, doc


def _values() -> dict[str, Any]:
    return {
        "id": 1234567890123,
        "title": "a benchmark document with a moderately long title",
        "items": [
            {"id": i, "name": f"item-{i}-name", "score": i * 1.25, "active": i % 2 == 0}
            for i in range(16)
        ],
        "counters": {f"counter{i}": i * 1000 for i in range(12)},
        "tags": set(range(10)),
        "numbers": list(range(-20, 20)),
    }


def _build(item_cls: Any, doc_cls: Any) -> Any:
    v = _values()
    return doc_cls(
        id=v["id"],
        title=v["title"],
        items=[item_cls(**i) for i in v["items"]],
        counters=v["counters"],
        tags=v["tags"],
        numbers=v["numbers"],
    )


def _apache_init(self: Any, **kwargs: Any) -> None:
    for spec in self.thrift_spec[1:]:
        setattr(self, spec[2], kwargs.get(spec[2]))


def _median_us(fn: Callable[[], Any], rounds: int, number: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(samples)


def _cases() -> list[tuple[str, Callable[[], bytes], Callable[[bytes], Any]]]:
    cases: list[tuple[str, Callable[[], bytes], Callable[[bytes], Any]]] = []
    item, doc = _swordfish_types()
    obj = _build(item, doc)
    impls = [("swordfish py binary", BinaryCodecPy), ("swordfish py compact", CompactCodecPy)]
    if BinaryCodecC is not None:
        impls.append(("swordfish C binary", BinaryCodecC))
    if CompactCodecC is not None:
        impls.append(("swordfish C compact", CompactCodecC))
    for label, factory in impls:
        try:
            codec = factory()
        except ImportError:
            continue
        cases.append(
            (
                label,
                lambda c=codec: c.encode_struct(obj),
                lambda b, c=codec: c.decode_struct(doc, b),
            )
        )

    try:
        import thriftpy2
        from thriftpy2.protocol.binary import TBinaryProtocolFactory
        from thriftpy2.protocol.compact import TCompactProtocolFactory
        from thriftpy2.utils import deserialize, serialize
    except ImportError:
        print("(thriftpy2 not installed; skipped)")
    else:
        with tempfile.NamedTemporaryFile("w", suffix="_thrift.thrift", delete=False) as fh:
            fh.write(IDL)
        mod = thriftpy2.load(fh.name, module_name="bench_thrift")
        os.unlink(fh.name)
        v = _values()
        tobj = mod.Doc(
            id=v["id"],
            title=v["title"],
            items=[mod.Item(**i) for i in v["items"]],
            counters=v["counters"],
            tags=v["tags"],
            numbers=v["numbers"],
        )
        for label, pf in (
            ("thriftpy2 py binary", TBinaryProtocolFactory()),
            ("thriftpy2 py compact", TCompactProtocolFactory()),
        ):
            cases.append(
                (
                    label,
                    lambda p=pf: serialize(tobj, p),
                    lambda b, p=pf: deserialize(mod.Doc(), b, p),
                )
            )

    try:
        from thrift.protocol import TBinaryProtocol, TCompactProtocol  # type: ignore[import-untyped]
        from thrift.protocol.TBase import TBase  # type: ignore[import-untyped]
        from thrift.Thrift import TType as AT  # type: ignore[import-untyped]
        from thrift.transport import TTransport  # type: ignore[import-untyped]
    except ImportError:
        print("(apache thrift not installed; skipped)")
    else:
        # Hand-written equivalents of Apache-generated classes: TBase reads/writes through
        # the protocol's generic readStruct/writeStruct driven by ``thrift_spec``.
        item_spec = (
            None,
            (1, AT.I32, "id", None, None),
            (2, AT.STRING, "name", "UTF8", None),
            (3, AT.DOUBLE, "score", None, None),
            (4, AT.BOOL, "active", None, None),
        )
        AItem: Any = type("AItem", (TBase,), {"thrift_spec": item_spec, "__init__": _apache_init})
        doc_spec = (
            None,
            (1, AT.I64, "id", None, None),
            (2, AT.STRING, "title", "UTF8", None),
            (3, AT.LIST, "items", (AT.STRUCT, [AItem, item_spec], False), None),
            (4, AT.MAP, "counters", (AT.STRING, "UTF8", AT.I64, None, False), None),
            (5, AT.SET, "tags", (AT.I32, None, False), None),
            (6, AT.LIST, "numbers", (AT.I32, None, False), None),
        )
        ADoc: Any = type("ADoc", (TBase,), {"thrift_spec": doc_spec, "__init__": _apache_init})
        v = _values()
        aobj = ADoc(
            id=v["id"],
            title=v["title"],
            items=[AItem(**i) for i in v["items"]],
            counters=v["counters"],
            tags=v["tags"],
            numbers=v["numbers"],
        )

        def a_enc(proto: Any) -> Callable[[], bytes]:
            def enc() -> bytes:
                buf = TTransport.TMemoryBuffer()
                aobj.write(proto(buf))
                return bytes(buf.getvalue())

            return enc

        def a_dec(proto: Any) -> Callable[[bytes], Any]:
            def dec(data: bytes) -> Any:
                o = ADoc()
                o.read(proto(TTransport.TMemoryBuffer(data)))
                return o

            return dec

        cases.append(
            (
                "apache py binary",
                a_enc(TBinaryProtocol.TBinaryProtocol),
                a_dec(TBinaryProtocol.TBinaryProtocol),
            )
        )
        cases.append(
            (
                "apache py compact",
                a_enc(TCompactProtocol.TCompactProtocol),
                a_dec(TCompactProtocol.TCompactProtocol),
            )
        )
    return cases


def main() -> None:
    quick = "--quick" in sys.argv
    rounds, number = (5, 200) if quick else (15, 1000)
    results = []
    for label, enc, dec in _cases():
        data = enc()
        dec(data)
        e = _median_us(enc, rounds, number)
        d = _median_us(functools.partial(dec, data), rounds, number)
        results.append((label, len(data), e, d))
    base = results[0][2] + results[0][3]
    print(
        f"{'implementation':24} {'bytes':>6} {'encode us':>10} {'decode us':>10} "
        f"{'total us':>9} {'x py-bin':>9}"
    )
    for label, size, e, d in results:
        print(f"{label:24} {size:6d} {e:10.1f} {d:10.1f} {e + d:9.1f} {(e + d) / base:9.2f}")


if __name__ == "__main__":
    main()
