"""Pure-Python Thrift binary protocol (strict and old-style envelopes).

Layout (all integers big-endian): a message is ``0x8001_00TT`` (version 1 | message type),
i32-length name, i32 seqid (strict), or i32-length name, type byte, i32 seqid (old-style);
then the body struct. A struct is a run of fields ``type:u8 id:i16 value`` ended by a 0 byte.
Strings/binary are i32 length + bytes; lists/sets are ``elem_type:u8 count:i32``; maps are
``key_type:u8 value_type:u8 count:i32``; uuid is 16 raw bytes.

Speed comes from compiling, once per struct class, a field table of small closures (see
``_common``), reading fields with one dict lookup keyed by (wire type, field id), and packing
lists of fixed-size numbers with a single ``struct.pack`` call. Errors are only ever
``swordfish.errors`` types: internal ``struct.error``/``IndexError`` from short input become
``RemoteProtocolError("truncated ...")`` at the public entry points.
"""

from __future__ import annotations

import struct
from typing import Any, TypeVar

from ..errors import LimitExceeded, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from ..model.spec import StructSpec, TypeSpec
from ..model.struct import Struct
from ..model.ttype import TType
from ._common import (
    HASHABLE_TTYPES,
    VALID_MESSAGE_TYPES,
    PlanReaders,
    PlanWriters,
    PyCodecBase,
    Reader,
    Skipper,
    Truncated,
    Writer,
    as_binary,
    as_items,
    as_sequence,
    count_checker,
    generate_struct_writer,
    read_name,
    read_uuid,
    write_uuid,
)

__all__ = ["BinaryCodecPy"]

S = TypeVar("S", bound=Struct)

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")
_U32 = struct.Struct(">I")
_LIST_HDR = struct.Struct(">Bi")
_MAP_HDR = struct.Struct(">BBi")
_BI = struct.Struct(">Bi")
_pack_i32 = _I32.pack
_unpack_i32 = _I32.unpack_from
_unpack_bi = _LIST_HDR.unpack_from
_unpack_bbi = _MAP_HDR.unpack_from
_pack_list_hdr = _LIST_HDR.pack
_pack_map_hdr = _MAP_HDR.pack

VERSION_1 = 0x80010000
_VERSION_MASK = 0xFFFF0000

_STOP = 0
_BOOL = int(TType.BOOL)
_BYTE = int(TType.BYTE)
_I16T = int(TType.I16)
_I32T = int(TType.I32)
_I64T = int(TType.I64)
_DOUBLET = int(TType.DOUBLE)
_STRING = int(TType.STRING)
_STRUCT = int(TType.STRUCT)
_MAP = int(TType.MAP)
_SET = int(TType.SET)
_LIST = int(TType.LIST)
_UUID = int(TType.UUID)

#: Wire size of fixed-width values (used to skip them and to bound counts before allocating).
_FIXED_SIZE: dict[int, int] = {
    _BOOL: 1,
    _BYTE: 1,
    _I16T: 2,
    _I32T: 4,
    _I64T: 8,
    _DOUBLET: 8,
    _UUID: 16,
}
#: Smallest possible encoding of one value of each type.
_MIN_SIZE: dict[int, int] = {**_FIXED_SIZE, _STRING: 4, _STRUCT: 1, _MAP: 6, _SET: 5, _LIST: 5}
#: struct format letter of fixed-width numbers (bulk list packing).
_FMT: dict[int, str] = {_BYTE: "b", _I16T: "h", _I32T: "i", _I64T: "q", _DOUBLET: "d"}
_FIXED_STRUCT: dict[int, struct.Struct] = {
    _BYTE: _I8,
    _I16T: _I16,
    _I32T: _I32,
    _I64T: _I64,
    _DOUBLET: _DOUBLE,
}
_BOOL_BYTES: dict[Any, bytes] = {True: b"\x01", False: b"\x00"}
_BOOL_INTS: dict[Any, int] = {True: 1, False: 0}


def _type_name(t: int) -> str:
    try:
        return TType(t).name
    except ValueError:
        return str(t)


# --------------------------------------------------------------------------------------------
# Encoding (independent of Limits: limits guard what we *read*)
# --------------------------------------------------------------------------------------------


def _w_bool(out: bytearray, v: Any) -> None:
    out += _BOOL_BYTES[v]


def _w_string(out: bytearray, v: Any) -> None:
    b = v.encode("utf-8") if type(v) is str else as_binary(v, text=True)
    out += _pack_i32(len(b))
    out += b


def _w_binary(out: bytearray, v: Any) -> None:
    b = v if type(v) is bytes else as_binary(v, text=False)
    out += _pack_i32(len(b))
    out += b


def _fixed_writer(st: struct.Struct) -> Writer:
    pack = st.pack

    def write(out: bytearray, v: Any) -> None:
        out += pack(v)

    return write


_SCALAR_WRITERS: dict[int, Writer] = {
    _BOOL: _w_bool,
    _BYTE: _fixed_writer(_I8),
    _I16T: _fixed_writer(_I16),
    _I32T: _fixed_writer(_I32),
    _I64T: _fixed_writer(_I64),
    _DOUBLET: _fixed_writer(_DOUBLE),
    _UUID: write_uuid,
}


class _Writers(PlanWriters):
    """The binary protocol's value and struct writers (one shared instance)."""

    key = "binary.w"
    scalar_writers = _SCALAR_WRITERS
    string_writers = (_w_string, _w_binary)

    def list_writer(self, t: int, ets: TypeSpec, pending: dict[type, Writer]) -> Writer:
        et = int(ets.ttype)
        fmt = _FMT.get(et)
        if fmt is not None:
            code = fmt

            def write_fixed(out: bytearray, v: Any) -> None:
                v = as_sequence(v)
                n = len(v)
                out += _pack_list_hdr(et, n)
                out += struct.pack(f">{n}{code}", *v)

            return write_fixed
        if et == _BOOL:

            def write_bools(out: bytearray, v: Any) -> None:
                v = as_sequence(v)
                out += _pack_list_hdr(et, len(v))
                out += bytes(map(_BOOL_INTS.__getitem__, v))

            return write_bools
        ew = self.writer(ets, pending)

        def write(out: bytearray, v: Any) -> None:
            v = as_sequence(v)
            out += _pack_list_hdr(et, len(v))
            for x in v:
                ew(out, x)

        return write

    def map_writer(self, kts: TypeSpec, vts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        kt = int(kts.ttype)
        vt = int(vts.ttype)
        kw = self.writer(kts, pending)
        vw = self.writer(vts, pending)

        def write(out: bytearray, v: Any) -> None:
            items = as_items(v)
            out += _pack_map_hdr(kt, vt, len(items))
            for k, x in items:
                kw(out, k)
                vw(out, x)

        return write

    def build_struct_writer(self, cls: type[Struct], pending: dict[type, Writer]) -> Writer:
        ns: dict[str, Any] = {
            "pack_i32": _pack_i32,
            "as_binary": as_binary,
            "boolbytes": _BOOL_BYTES,
        }
        bodies: list[list[str]] = []
        for i, f in enumerate(cls.__thrift_spec__.fields):
            t = int(f.type.ttype)
            ns[f"h{i}"] = bytes((t,)) + _I16.pack(f.id)
            body = [f"out += h{i}"]
            fixed = _FIXED_STRUCT.get(t)
            if fixed is not None:
                ns[f"p{i}"] = fixed.pack
                body.append(f"out += p{i}(v)")
            elif t == _BOOL:
                body.append("out += boolbytes[v]")
            elif t == _STRING:
                text = "False" if f.type.binary else "True"
                body += [
                    "if type(v) is not bytes:",
                    f"    v = v.encode('utf-8') if type(v) is str else as_binary(v, text={text})",
                    "out += pack_i32(len(v))",
                    "out += v",
                ]
                if f.type.binary:
                    body[2] = f"    v = as_binary(v, text={text})"
            else:
                ns[f"w{i}"] = self.writer(f.type, pending)
                body.append(f"w{i}(out, v)")
            bodies.append(body)
        return generate_struct_writer(cls, bodies, ns, [], ["out.append(0)"])


_WRITERS = _Writers()


# --------------------------------------------------------------------------------------------
# Decoding (closures capture the Limits they enforce)
# --------------------------------------------------------------------------------------------


def _r_bool(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return buf[pos] != 0, pos + 1


class _Readers(PlanReaders):
    """Compiled readers and the validating skipper for one ``Limits`` value."""

    key_prefix = "binary.r"

    def make_skipper(self, limits: Limits) -> Skipper:
        return _make_skipper(limits)

    def build_struct_reader(self, cls: type[Struct], spec: StructSpec) -> Reader:
        index = {n: i for i, n in enumerate(cls._sf_names)}
        ns: dict[str, Any] = {}
        bodies: dict[int, list[str]] = {}
        for f in spec.fields:
            t = int(f.type.ttype)
            key = t << 16 | (f.id & 0xFFFF)
            i = index[f.name]
            fixed = _FIXED_STRUCT.get(t)
            if fixed is not None:
                ns[f"u{i}"] = fixed.unpack_from
                bodies[key] = [f"v{i} = u{i}(buf, pos)[0]", f"pos += {fixed.size}"]
            elif t == _BOOL:
                bodies[key] = [f"v{i} = buf[pos] != 0", "pos += 1"]
            else:
                ns[f"r{i}"] = self.reader(f.type)
                bodies[key] = [f"fi = {i}", f"v{i}, pos = r{i}(buf, pos, d1)"]
        # Unknown id, or a known id with another wire type: skip it (Apache does too).
        default = ["pos = skip(buf, pos, t, d1)"]
        field_key = [
            "t = buf[pos]",
            "if t == 0:",
            "    break",
            "key = t << 16 | buf[pos + 1] << 8 | buf[pos + 2]",
            "pos += 3",
        ]
        return self.generate_struct_reader(cls, ns, bodies, default, [], field_key, "pos + 1")

    # -- values ---------------------------------------------------------------------------

    def scalar_reader(self, t: int) -> Reader | None:
        fixed = _FIXED_STRUCT.get(t)
        if fixed is not None:
            unpack = fixed.unpack_from
            size = fixed.size

            def read_fixed(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
                return unpack(buf, pos)[0], pos + size

            return read_fixed
        if t == _BOOL:
            return _r_bool
        if t == _UUID:
            return read_uuid
        return None

    def string_reader(self, binary: bool) -> Reader:
        maxs = self.limits.max_string_size

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            n = _unpack_i32(buf, pos)[0]
            pos += 4
            if n < 0:
                raise RemoteProtocolError(f"negative string length {n}")
            if n > maxs:
                raise LimitExceeded(f"string of {n} bytes exceeds max_string_size={maxs}")
            end = pos + n
            if end > len(buf):
                raise Truncated(f"truncated string: {n} bytes declared", end)
            if binary:
                return bytes(buf[pos:end]), end
            return str(buf[pos:end], "utf-8"), end

        return read

    def list_reader(self, t: int, ets: TypeSpec, hashable: bool) -> Reader:
        et = int(ets.ttype)
        what = "list" if t == _LIST else "set"
        as_set = t == _SET and (hashable or et in HASHABLE_TTYPES)
        kind = frozenset if hashable and as_set else set if as_set else tuple if hashable else list
        maxd = self.limits.max_depth
        minsize = _MIN_SIZE[et]
        fmt = _FMT.get(et)
        eread = self.reader(ets, hashable or as_set)
        count = self.count
        expected = _type_name(et)

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"{what}: nesting deeper than max_depth={maxd}")
            wt, n = _unpack_bi(buf, pos)
            pos += 5
            if wt != et and n > 0:
                raise RemoteProtocolError(
                    f"{what} element type {_type_name(wt)} where {expected} was expected"
                )
            count(what, n, pos, minsize, buf)
            if n == 0:
                return kind(), pos
            if fmt is not None:
                values: Any = struct.unpack_from(f">{n}{fmt}", buf, pos)
                return (values if kind is tuple else kind(values)), pos + n * minsize
            if et == _BOOL:
                end = pos + n
                return kind([b != 0 for b in buf[pos:end]]), end
            d1 = depth + 1
            items: list[Any] = []
            append = items.append
            for _ in range(n):
                v, pos = eread(buf, pos, d1)
                append(v)
            return (items if kind is list else kind(items)), pos

        return read

    def map_reader(self, kts: TypeSpec, vts: TypeSpec) -> Reader:
        kt = int(kts.ttype)
        vt = int(vts.ttype)
        maxd = self.limits.max_depth
        minsize = _MIN_SIZE[kt] + _MIN_SIZE[vt]
        kread = self.reader(kts, True)
        vread = self.reader(vts)
        count = self.count
        expected = f"{_type_name(kt)}/{_type_name(vt)}"

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"map: nesting deeper than max_depth={maxd}")
            wkt, wvt, n = _unpack_bbi(buf, pos)
            pos += 6
            if (wkt != kt or wvt != vt) and n > 0:
                raise RemoteProtocolError(
                    f"map key/value types {_type_name(wkt)}/{_type_name(wvt)} "
                    f"where {expected} was expected"
                )
            count("map", n, pos, minsize, buf)
            result: dict[Any, Any] = {}
            if n == 0:
                return result, pos
            d1 = depth + 1
            for _ in range(n):
                k, pos = kread(buf, pos, d1)
                v, pos = vread(buf, pos, d1)
                result[k] = v
            return result, pos

        return read


def _make_skipper(limits: Limits) -> Skipper:
    """A function skipping one value of wire type ``t`` while validating it against limits."""
    maxd = limits.max_depth
    maxs = limits.max_string_size
    fixed_size = _FIXED_SIZE
    min_size = _MIN_SIZE
    check_count = count_checker(limits.max_container_size)

    def valid(t: int) -> int:
        ms = min_size.get(t)
        if ms is None:
            raise RemoteProtocolError(f"invalid type id {t}")
        return ms

    def skip(buf: Any, pos: int, t: int, depth: int) -> int:
        size = fixed_size.get(t)
        n: int
        if size is not None:
            pos += size
            if pos > len(buf):
                raise Truncated(f"truncated {_type_name(t)}", pos)
            return pos
        if t == _STRING:
            n = _unpack_i32(buf, pos)[0]
            if n < 0:
                raise RemoteProtocolError(f"negative string length {n}")
            if n > maxs:
                raise LimitExceeded(f"string of {n} bytes exceeds max_string_size={maxs}")
            pos += 4 + n
            if pos > len(buf):
                raise Truncated(f"truncated string: {n} bytes declared", pos)
            return pos
        if depth > maxd:
            raise LimitExceeded(f"nesting deeper than max_depth={maxd}")
        d1 = depth + 1
        if t == _STRUCT:
            while True:
                ft = buf[pos]
                if ft == 0:
                    return pos + 1
                pos = skip(buf, pos + 3, ft, d1)
        if t == _LIST or t == _SET:
            et, n = _unpack_bi(buf, pos)
            pos += 5
            if n == 0:
                check_count("list", n, pos, 0, buf)
                return pos
            ms = valid(et)
            check_count("list", n, pos, ms, buf)
            size = fixed_size.get(et)
            if size is not None:
                return pos + n * size
            for _ in range(n):
                pos = skip(buf, pos, et, d1)
            return pos
        if t == _MAP:
            kt, vt, n = _unpack_bbi(buf, pos)
            pos += 6
            if n == 0:
                check_count("map", n, pos, 0, buf)
                return pos
            ms = valid(kt) + valid(vt)
            check_count("map", n, pos, ms, buf)
            ks = fixed_size.get(kt)
            vs = fixed_size.get(vt)
            if ks is not None and vs is not None:
                return pos + n * (ks + vs)
            for _ in range(n):
                pos = skip(buf, pos, kt, d1)
                pos = skip(buf, pos, vt, d1)
            return pos
        raise RemoteProtocolError(f"invalid type id {t}")

    return skip


# --------------------------------------------------------------------------------------------
# The codec
# --------------------------------------------------------------------------------------------


class BinaryCodecPy(PyCodecBase):
    """Thrift binary protocol in pure Python (the reference twin of the C codec).

    strict_write: write the versioned envelope (every modern peer expects it).
    strict_read: refuse old-style (unversioned) envelopes instead of accepting both.
    """

    name = "binary"
    protocol_id = 0
    _writers = _WRITERS
    _readers_type = _Readers
    _struct_code = _STRUCT

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        strict_write: bool = True,
        strict_read: bool = False,
    ) -> None:
        super().__init__(limits)
        self.strict_write = strict_write
        self.strict_read = strict_read

    def __repr__(self) -> str:
        return (
            f"BinaryCodecPy(strict_write={self.strict_write}, strict_read={self.strict_read}, "
            f"limits={self.limits!r})"
        )

    def _write_envelope(self, out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
        if self.strict_write:
            out += _pack_strict_head(VERSION_1 | mtype, len(name))
            out += name
            out += _pack_i32(seqid)
        else:
            out += _pack_i32(len(name))
            out += name
            out += _pack_old_tail(mtype, seqid)

    def _envelope(self, buf: Any, pos: int, decode_name: bool) -> tuple[str, int, int, int]:
        word = _unpack_i32(buf, pos)[0]
        pos += 4
        if word < 0:
            version = word & _VERSION_MASK
            if version != VERSION_1:
                raise RemoteProtocolError(f"bad version 0x{version:08x} in message header")
            mtype = word & 0xFF
            n = _unpack_i32(buf, pos)[0]
            pos += 4
            name, pos = self._name(buf, pos, n, decode_name)
            seqid = _unpack_i32(buf, pos)[0]
            pos += 4
        else:
            if self.strict_read:
                raise RemoteProtocolError(
                    "old-style message without version header refused (strict_read)"
                )
            name, pos = self._name(buf, pos, word, decode_name)
            mtype = buf[pos]
            seqid = _unpack_i32(buf, pos + 1)[0]
            pos += 5
        if mtype not in VALID_MESSAGE_TYPES:
            raise RemoteProtocolError(f"invalid message type {mtype}")
        return name, mtype, seqid, pos

    def _name(self, buf: Any, pos: int, n: int, decode: bool) -> tuple[str, int]:
        return read_name(buf, pos, n, decode, self.limits.max_string_size)


_pack_strict_head = struct.Struct(">Ii").pack
_pack_old_tail = struct.Struct(">Bi").pack
