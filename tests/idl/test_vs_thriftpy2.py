"""Cross-check: swordfish and thriftpy2 derive the same field tables from the same IDL.

thriftpy2 cannot read all of ThriftTest.thrift (annotated namespaces, ``uuid``), so those lines
are dropped first; everything else must agree field by field: ids, names, wire types down to
the innermost container element, requiredness, defaults, and service method tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swordfish.idl import load
from swordfish.model import Requiredness, TType, TypeSpec
from tests.paths import THRIFT_TEST

thriftpy2 = pytest.importorskip("thriftpy2")


_BINARY = 18  # thriftpy2's own type id for binary


def _tp_type(ttype: int, arg: Any) -> Any:
    if ttype == TType.STRUCT:
        return (ttype, arg.__name__)
    if ttype in (TType.LIST, TType.SET):
        return (ttype, _tp_type(*_split(arg)))
    if ttype == TType.MAP:
        return (ttype, _tp_type(*_split(arg[0])), _tp_type(*_split(arg[1])))
    return (ttype,)  # base types; enums are (I32, EnumClass) in thriftpy2


def _split(t: Any) -> tuple[int, Any]:
    return (t, None) if isinstance(t, int) else (t[0], t[1])


def _sf_type(t: TypeSpec) -> Any:
    if t.ttype == TType.STRING and t.binary:
        return (_BINARY,)
    if t.ttype == TType.STRUCT:
        assert t.struct is not None
        return (TType.STRUCT, t.struct.__name__)
    if t.ttype in (TType.LIST, TType.SET):
        assert t.value is not None
        return (t.ttype, _sf_type(t.value))
    if t.ttype == TType.MAP:
        assert t.key is not None and t.value is not None
        return (t.ttype, _sf_type(t.key), _sf_type(t.value))
    return (t.ttype,)


def _tp_fields(cls: Any) -> dict[int, tuple[Any, ...]]:
    out = {}
    defaults = dict(cls.default_spec)
    for fid, entry in cls.thrift_spec.items():
        arg = entry[2] if len(entry) == 4 else None
        out[fid] = (entry[1], _tp_type(entry[0], arg), entry[-1], defaults[entry[1]])
    return out


def _sf_fields(cls: Any) -> dict[int, tuple[Any, ...]]:
    return {
        f.id: (f.name, _sf_type(f.type), f.requiredness == Requiredness.REQUIRED, f.default)
        for f in cls.__thrift_spec__.fields
    }


@pytest.fixture
def both(tmp_path: Path) -> tuple[Any, Any]:
    lines = THRIFT_TEST.read_text().splitlines()
    text = "\n".join(x for x in lines if "namespace xsd" not in x and "uuid" not in x)
    path = tmp_path / "tt.thrift"
    path.write_text(text)
    tp = thriftpy2.load(str(path), module_name="tp_tt_thrift")
    sf = load(path, module_name="sf_tt_thrift")
    return sf, tp


def test_every_struct_matches(both: tuple[Any, Any]) -> None:
    sf, tp = both
    checked = 0
    for kind in ("structs", "unions", "exceptions"):
        tp_names = [c.__name__ for c in tp.__thrift_meta__[kind]]
        assert [c.__name__ for c in sf.__thrift_meta__[kind]] == tp_names
        for name in tp_names:
            assert _sf_fields(getattr(sf, name)) == _tp_fields(getattr(tp, name)), name
            checked += 1
    assert checked > 20


def test_every_service_method_matches(both: tuple[Any, Any]) -> None:
    sf, tp = both
    for service in tp.__thrift_meta__["services"]:
        sf_service = getattr(sf, service.__name__)
        assert list(sf_service.thrift_services) == list(service.thrift_services)
        for method in service.thrift_services:
            tp_args = getattr(service, f"{method}_args")
            assert _sf_fields(getattr(sf_service, f"{method}_args")) == _tp_fields(tp_args)
            if sf_service.__thrift_service__.methods[method].oneway:
                # thriftpy2 builds an unused result struct for oneway methods; we build none.
                assert not hasattr(sf_service, f"{method}_result")
                continue
            tp_result = getattr(service, f"{method}_result")
            sf_result = _sf_fields(getattr(sf_service, f"{method}_result"))
            assert sf_result == _tp_fields(tp_result), method


def test_enums_and_consts_match(both: tuple[Any, Any]) -> None:
    sf, tp = both
    assert dict(sf.Numberz.__members__) == tp.Numberz._NAMES_TO_VALUES
    assert sf.myNumberz == tp.myNumberz
