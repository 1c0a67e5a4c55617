"""Apache's simple JSON protocol (``TSimpleJSONProtocol``): readable JSON, write-only.

For people and scripts, not for peers: a struct is an object keyed by field *name* with plain
values (``{"num":1,"text":"x"}``), lists and sets are arrays, maps are objects. The types are
not on the wire, so it cannot be decoded back into Thrift values without the IDL; Apache ships
no reader for it either. That is why it is not a wire protocol here: it is absent from
``CODEC_NAMES`` (so no server or client can be configured with it) and only
``swordfish.dumps(obj, protocol="simplejson")`` (or this class) produces it.

Values: bool ``1``/``0`` (as Apache writes them), integers, doubles in their shortest
round-trip form (Apache's Python ``str(float)``), non-finite doubles as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"`` (so the output stays valid JSON, unlike Apache's bare
``inf``), strings with JSON escapes, binary as base64, uuid as its canonical string. Map keys
are strings (numbers quoted); a list, set, map or struct cannot be a JSON object key, so a map
with such keys is refused with ``LocalProtocolError`` (Apache's Java library refuses it too).

A message is ``["name",type,seqid,{body}]``, the envelope Apache's Java library writes
(its Python library drops the envelope entirely).
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from ..limits import DEFAULT_LIMITS, Limits
from ..model.spec import TypeSpec
from ..model.struct import Struct
from ..model.ttype import MessageType, TType
from ._common import (
    BadValue,
    PlanWriters,
    PyCodecBase,
    Reader,
    Writer,
    as_items,
    as_sequence,
    generate_struct_writer,
)
from .base import BodyTypeResolver, Message
from .json import (
    SPECIAL_DOUBLES,
    as_double,
    int_writer,
    w_binary,
    w_string,
    w_uuid,
    write_json_string,
)

__all__ = ["SimpleJSONCodecPy", "WRITE_ONLY_MESSAGE"]

#: Why decoding is refused (the ``ValueError`` text).
WRITE_ONLY_MESSAGE = (
    "the 'simplejson' protocol is write-only: its output names fields but not types, so it "
    "cannot be decoded (Apache has no reader for it either); use protocol='json' for JSON "
    "that reads back"
)

S = TypeVar("S", bound=Struct)

_BOOL = int(TType.BOOL)
_DOUBLE = int(TType.DOUBLE)
_UUID = int(TType.UUID)
_INTS = (int(TType.BYTE), int(TType.I16), int(TType.I32), int(TType.I64))
_COMMA, _COLON, _LBRACKET, _RBRACKET, _LBRACE, _RBRACE = 44, 58, 91, 93, 123, 125

_BOOL_VALUES: dict[Any, bytes] = {True: b"1", False: b"0"}
_BOOL_KEYS: dict[Any, bytes] = {True: b'"1"', False: b'"0"'}


def _w_bool(out: bytearray, v: Any) -> None:
    out += _BOOL_VALUES[v]


def _wk_bool(out: bytearray, v: Any) -> None:
    out += _BOOL_KEYS[v]


def _w_double(out: bytearray, v: Any) -> None:
    x = as_double(v)
    r = repr(x)
    special = SPECIAL_DOUBLES.get(r)
    out += r.encode("ascii") if special is None else special


def _wk_double(out: bytearray, v: Any) -> None:
    x = as_double(v)
    r = repr(x)
    special = SPECIAL_DOUBLES.get(r)
    out += b'"%s"' % r.encode("ascii") if special is None else special


def _key_refuser(ts: TypeSpec) -> Writer:
    """A map-key writer for types JSON cannot use as an object key (refused when used)."""
    why = f"simplejson cannot write a {ts.describe()} as a map key (JSON keys are strings)"

    def write(out: bytearray, v: Any) -> None:
        raise BadValue(why)

    return write


_SCALAR_WRITERS: dict[int, Writer] = {
    _BOOL: _w_bool,
    _DOUBLE: _w_double,
    _UUID: w_uuid,
    **{t: int_writer(t, b"%d") for t in _INTS},
}
_KEY_WRITERS: dict[int, Writer] = {
    _BOOL: _wk_bool,
    _DOUBLE: _wk_double,
    _UUID: w_uuid,
    **{t: int_writer(t, b'"%d"') for t in _INTS},
}


class _Writers(PlanWriters):
    """Simple JSON's value and struct writers (one shared instance)."""

    key = "simplejson.w"
    scalar_writers = _SCALAR_WRITERS
    string_writers = (w_string, w_binary)

    def key_writer(self, kts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        t = int(kts.ttype)
        w = _KEY_WRITERS.get(t)
        if w is not None:
            return w
        if t == TType.STRING:
            return self.writer(kts, pending)
        return _key_refuser(kts)

    def list_writer(self, t: int, ets: TypeSpec, pending: dict[type, Writer]) -> Writer:
        ew = self.writer(ets, pending)

        def write(out: bytearray, v: Any) -> None:
            v = as_sequence(v)
            out.append(_LBRACKET)
            for x in v:
                ew(out, x)
                out.append(_COMMA)
            if out[-1] == _COMMA:  # the last element's "," becomes the closing "]"
                out[-1] = _RBRACKET
            else:
                out.append(_RBRACKET)

        return write

    def map_writer(self, kts: TypeSpec, vts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        kw = self.key_writer(kts, pending)
        vw = self.writer(vts, pending)

        def write(out: bytearray, v: Any) -> None:
            items = as_items(v)
            out.append(_LBRACE)
            for k, x in items:
                kw(out, k)
                out.append(_COLON)
                vw(out, x)
                out.append(_COMMA)
            if out[-1] == _COMMA:
                out[-1] = _RBRACE
            else:
                out.append(_RBRACE)

        return write

    def build_struct_writer(self, cls: type[Struct], pending: dict[type, Writer]) -> Writer:
        ns: dict[str, Any] = {}
        bodies: list[list[str]] = []
        for i, f in enumerate(cls.__thrift_spec__.fields):
            head = bytearray()
            write_json_string(head, f.name.encode("utf-8"))
            head.append(_COLON)
            ns[f"h{i}"] = bytes(head)
            ns[f"w{i}"] = self.writer(f.type, pending)
            bodies.append([f"out += h{i}", f"w{i}(out, v)", "out.append(44)"])
        epilogue = ["if out[-1] == 44:", "    out[-1] = 125", "else:", "    out.append(125)"]
        return generate_struct_writer(cls, bodies, ns, ["out.append(123)"], epilogue)


_WRITERS = _Writers()


class SimpleJSONCodecPy(PyCodecBase):
    """Write-only simple JSON (see the module docstring). Every decode method raises
    ``ValueError``: there is nothing to decode it with."""

    name = "simplejson"
    #: Not a THeader protocol: it is never sent to a peer.
    protocol_id = -1

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
        self.limits = limits

    def __repr__(self) -> str:
        return "SimpleJSONCodecPy()"

    def _struct_writer(self, cls: type[Struct]) -> Writer:
        return _WRITERS.struct_writer(cls)

    def _write_envelope(self, out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
        out.append(_LBRACKET)
        write_json_string(out, name)
        out += b",%d,%d," % (mtype, seqid)

    def encode_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> bytes:
        return super().encode_message(name, mtype, seqid, body) + b"]"

    # -- no reading -----------------------------------------------------------------------

    def _refuse(self) -> NoReturn:
        raise ValueError(WRITE_ONLY_MESSAGE)

    def _struct_reader(self, cls: type[Struct]) -> Reader:
        self._refuse()

    def _skip_struct(self, buf: Any, pos: int, depth: int) -> int:
        self._refuse()

    def decode_struct(self, cls: type[S], data: bytes | bytearray | memoryview) -> S:
        self._refuse()

    def decode_message(
        self, data: bytes | bytearray | memoryview, body_type: BodyTypeResolver
    ) -> Message:
        self._refuse()

    def scan_message(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        self._refuse()
