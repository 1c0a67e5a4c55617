"""Fields a peer leaves out decode to their IDL defaults (as Apache and thriftpy2 readers do)."""

from __future__ import annotations

from pathlib import Path

import pytest

import swordfish

IDL = """
struct Inner { 1: i32 x = 7 }
struct WithDefaults {
  1: i32 n = 42,
  2: string s = "hi",
  3: list<i32> xs = [1, 2],
  4: Inner inner = {"x": 9},
  5: optional i32 plain,
}
struct Empty {}
"""


@pytest.mark.parametrize("protocol", ["binary", "compact"])
def test_absent_fields_take_defaults(tmp_path: Path, protocol: str) -> None:
    path = tmp_path / "defaults.thrift"
    path.write_text(IDL)
    mod = swordfish.load(str(path), module_name=f"defaults_{protocol}_thrift")
    data = swordfish.dumps(mod.Empty(), protocol=protocol)  # a struct with no fields at all
    a = swordfish.loads(mod.WithDefaults, data, protocol=protocol)
    b = swordfish.loads(mod.WithDefaults, data, protocol=protocol)
    assert (a.n, a.s, a.xs, a.inner, a.plain) == (42, "hi", [1, 2], mod.Inner(x=9), None)
    assert a == mod.WithDefaults()
    # Mutable defaults are fresh objects per decoded value.
    a.xs.append(3)
    a.inner.x = 0
    assert b.xs == [1, 2] and b.inner.x == 9
    # Values present on the wire win over defaults.
    sent = mod.WithDefaults(n=1, s="x", xs=[], inner=mod.Inner(x=1), plain=5)
    assert (
        swordfish.loads(
            mod.WithDefaults, swordfish.dumps(sent, protocol=protocol), protocol=protocol
        )
        == sent
    )
