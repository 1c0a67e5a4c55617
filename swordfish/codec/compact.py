"""Pure-Python Thrift compact protocol.

Layout: a message is ``0x82``, ``(type << 5) | 1``, varint seqid (the i32 as unsigned), varint
name length, name; then the body struct. Field headers carry the id as a delta from the
previous field (1..15 in the high nibble) or, in long form, a zigzag varint i16 after a bare
type byte. Bools live in the field type (1 = true, 2 = false) and take one byte (1/2) inside
containers. i16/i32/i64 are zigzag varints, i8 one raw byte, double 8 bytes little-endian,
binary/string a varint length + bytes, uuid 16 raw bytes. Lists/sets: ``(size << 4) | type``
when size < 15, else ``0xF0 | type`` + varint size. Maps: varint size, then
``(key_type << 4) | value_type`` unless the size is 0.

The per-class plan cache, limits handling and public entry points are shared with the binary
codec (``_common``), so both protocols fail the same way on the same kind of bad input.
"""

from __future__ import annotations

import operator
import struct
from typing import Any

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import Limits
from ..model.spec import StructSpec, TypeSpec
from ..model.struct import Struct
from ..model.ttype import TType
from ._common import (
    HASHABLE_TTYPES,
    MAX_I32,
    VALID_MESSAGE_TYPES,
    BadValue,
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

__all__ = ["CompactCodecPy", "CompactType"]

PROTOCOL_ID = 0x82
VERSION = 1
_VERSION_MASK = 0x1F
_TYPE_SHIFT = 5


class CompactType:
    """Compact protocol wire type ids (they differ from ``TType``)."""

    STOP = 0
    BOOLEAN_TRUE = 1
    BOOLEAN_FALSE = 2
    BYTE = 3
    I16 = 4
    I32 = 5
    I64 = 6
    DOUBLE = 7
    BINARY = 8
    LIST = 9
    SET = 10
    MAP = 11
    STRUCT = 12
    UUID = 13


_CT_TRUE = CompactType.BOOLEAN_TRUE
_CT_FALSE = CompactType.BOOLEAN_FALSE
_CT_BYTE = CompactType.BYTE
_CT_I16 = CompactType.I16
_CT_I32 = CompactType.I32
_CT_I64 = CompactType.I64
_CT_DOUBLE = CompactType.DOUBLE
_CT_BINARY = CompactType.BINARY
_CT_LIST = CompactType.LIST
_CT_SET = CompactType.SET
_CT_MAP = CompactType.MAP
_CT_STRUCT = CompactType.STRUCT
_CT_UUID = CompactType.UUID

#: TType -> compact type (bool maps to BOOLEAN_TRUE, as Apache writes it in container headers).
_CTYPE: dict[int, int] = {
    TType.BOOL: _CT_TRUE,
    TType.BYTE: _CT_BYTE,
    TType.I16: _CT_I16,
    TType.I32: _CT_I32,
    TType.I64: _CT_I64,
    TType.DOUBLE: _CT_DOUBLE,
    TType.STRING: _CT_BINARY,
    TType.LIST: _CT_LIST,
    TType.SET: _CT_SET,
    TType.MAP: _CT_MAP,
    TType.STRUCT: _CT_STRUCT,
    TType.UUID: _CT_UUID,
}
_CT_NAMES = {
    v: k for k, v in vars(CompactType).items() if not k.startswith("_") and isinstance(v, int)
}
#: Smallest encoding of one container element of each compact type.
_MIN_SIZE: dict[int, int] = {
    _CT_TRUE: 1,
    _CT_FALSE: 1,
    _CT_BYTE: 1,
    _CT_I16: 1,
    _CT_I32: 1,
    _CT_I64: 1,
    _CT_DOUBLE: 8,
    _CT_BINARY: 1,
    _CT_LIST: 1,
    _CT_SET: 1,
    _CT_MAP: 1,
    _CT_STRUCT: 1,
    _CT_UUID: 16,
}
#: Fixed-width element sizes (skipped without looking at each byte).
_FIXED_SIZE: dict[int, int] = {_CT_TRUE: 1, _CT_FALSE: 1, _CT_BYTE: 1, _CT_DOUBLE: 8, _CT_UUID: 16}

#: (byte order, struct code) of element types packed/unpacked in bulk in lists and sets.
_BULK_FMT: dict[int, tuple[str, str]] = {_CT_BYTE: ("<", "b"), _CT_DOUBLE: ("<", "d")}

_I8 = struct.Struct(">b")
_DOUBLE = struct.Struct("<d")
_pack_i8 = _I8.pack
_unpack_i8 = _I8.unpack_from
_pack_double = _DOUBLE.pack
_unpack_double = _DOUBLE.unpack_from
_index = operator.index

_SMALL = [bytes((i,)) for i in range(128)]
_BOOL_CT: dict[Any, int] = {True: _CT_TRUE, False: _CT_FALSE}

_I16_MIN, _I16_MAX = -(1 << 15), (1 << 15) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _ct_name(ct: int) -> str:
    return _CT_NAMES.get(ct, str(ct))


# --------------------------------------------------------------------------------------------
# Varints
# --------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    """Unsigned LEB128 of ``n >= 0``."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(buf: Any, pos: int, limit: int) -> tuple[int, int]:
    """Unsigned varint of at most ``limit`` bytes (5 for 32-bit, 10 for 64-bit values)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    end = pos + limit
    pos += 1
    while True:
        if pos >= end:
            raise RemoteProtocolError(f"varint longer than {limit} bytes")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _read_u32(buf: Any, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    n, pos = _read_varint(buf, pos, 5)
    if n > 0xFFFFFFFF:
        raise RemoteProtocolError("varint overflows 32 bits")
    return n, pos


def _read_size(buf: Any, pos: int, what: str) -> tuple[int, int]:
    """A length or count: a 32-bit varint that Apache peers read as a signed int."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    n, pos = _read_u32(buf, pos)
    if n > MAX_I32:
        raise RemoteProtocolError(f"negative {what} {n - (1 << 32)}")
    return n, pos


def _zz_i16(buf: Any, pos: int) -> tuple[int, int]:
    n, pos = _read_u32(buf, pos)
    v = (n >> 1) ^ -(n & 1)
    if not _I16_MIN <= v <= _I16_MAX:
        raise RemoteProtocolError(f"i16 value {v} out of range")
    return v, pos


def _zz_i32(buf: Any, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    n, pos = _read_u32(buf, pos)
    return (n >> 1) ^ -(n & 1), pos


def _zz_i64(buf: Any, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    n, pos = _read_varint(buf, pos, 10)
    if n >> 64:
        raise RemoteProtocolError("varint overflows 64 bits")
    return (n >> 1) ^ -(n & 1), pos


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _int_writer(lo: int, hi: int, tname: str) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if type(v) is not int:
            v = _index(v)
        if not lo <= v <= hi:
            raise BadValue(f"out of range for {tname}")
        z = (v << 1) ^ (v >> 63)
        if z < 0x80:
            out.append(z)
        else:
            out += _varint(z)

    return write


def _w_byte(out: bytearray, v: Any) -> None:
    out += _pack_i8(v)


def _w_double(out: bytearray, v: Any) -> None:
    out += _pack_double(v)


def _w_bool_elem(out: bytearray, v: Any) -> None:
    out.append(_BOOL_CT[v])


def _w_string(out: bytearray, v: Any) -> None:
    b = v.encode("utf-8") if type(v) is str else as_binary(v, text=True)
    n = len(b)
    if n < 0x80:
        out.append(n)
    else:
        out += _varint(n)
    out += b


def _w_binary(out: bytearray, v: Any) -> None:
    b = v if type(v) is bytes else as_binary(v, text=False)
    out += _varint(len(b))
    out += b


_INT_RANGES: dict[int, tuple[int, int, str]] = {
    TType.I16: (_I16_MIN, _I16_MAX, "i16"),
    TType.I32: (_I32_MIN, _I32_MAX, "i32"),
    TType.I64: (_I64_MIN, _I64_MAX, "i64"),
}

_SCALAR_WRITERS: dict[int, Writer] = {
    TType.BOOL: _w_bool_elem,
    TType.BYTE: _w_byte,
    TType.I16: _int_writer(_I16_MIN, _I16_MAX, "i16"),
    TType.I32: _int_writer(_I32_MIN, _I32_MAX, "i32"),
    TType.I64: _int_writer(_I64_MIN, _I64_MAX, "i64"),
    TType.DOUBLE: _w_double,
    TType.UUID: write_uuid,
}


def _ctype(ts: TypeSpec) -> int:
    ct = _CTYPE.get(ts.ttype)
    if ct is None:
        raise LocalProtocolError(f"type {ts.describe()} has no compact encoding")
    return ct


class _Writers(PlanWriters):
    """The compact protocol's value and struct writers (one shared instance)."""

    key = "compact.w"
    scalar_writers = _SCALAR_WRITERS
    string_writers = (_w_string, _w_binary)

    def list_writer(self, t: int, ets: TypeSpec, pending: dict[type, Writer]) -> Writer:
        ew = self.writer(ets, pending)
        et = _ctype(ets)
        long_hdr = 0xF0 | et
        fmt = _BULK_FMT.get(et)

        def write(out: bytearray, v: Any) -> None:
            v = as_sequence(v)
            n = len(v)
            if n < 15:
                out.append(n << 4 | et)
            else:
                out.append(long_hdr)
                out += _varint(n)
            if fmt is not None:
                # Fixed-width elements (i8, double): one struct call for the whole list.
                out += struct.pack(f"{fmt[0]}{n}{fmt[1]}", *v)
                return
            for x in v:
                ew(out, x)

        return write

    def map_writer(self, kts: TypeSpec, vts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        kw = self.writer(kts, pending)
        vw = self.writer(vts, pending)
        kv = _ctype(kts) << 4 | _ctype(vts)

        def write(out: bytearray, v: Any) -> None:
            items = as_items(v)
            n = len(items)
            if n == 0:
                out.append(0)
                return
            out += _varint(n)
            out.append(kv)
            for k, x in items:
                kw(out, k)
                vw(out, x)

        return write

    def build_struct_writer(self, cls: type[Struct], pending: dict[type, Writer]) -> Writer:
        spec = cls.__thrift_spec__
        ns: dict[str, Any] = {
            "boolct": _BOOL_CT,
            "varint": _varint,
            "as_binary": as_binary,
            "index": _index,
            "BadValue": BadValue,
        }
        bodies: list[list[str]] = []
        for i, f in enumerate(spec.fields):
            t = int(f.type.ttype)
            fid = f.id
            # The header is a delta from the previous field written, known only at run time.
            ns[f"l{i}"] = _varint(((fid << 1) ^ (fid >> 31)) & 0xFFFFFFFF)
            if t == TType.BOOL:
                body = ["ct = boolct[v]"]
                ct_expr = "ct"
            else:
                ct = _CTYPE.get(t)
                if ct is None:
                    raise LocalProtocolError(f"cannot encode values of type {f.type.describe()}")
                body = []
                ct_expr = str(ct)
            if fid > 0:
                body += [
                    f"if 0 < {fid} - last <= 15:",
                    f"    out.append(({fid} - last) << 4 | {ct_expr})",
                    "else:",
                    f"    out.append({ct_expr})",
                    f"    out += l{i}",
                ]
            else:
                body += [f"out.append({ct_expr})", f"out += l{i}"]
            body.append(f"last = {fid}")
            if t == TType.STRING:
                text = "False" if f.type.binary else "True"
                body += [
                    "if type(v) is not bytes:",
                    "    v = v.encode('utf-8') if type(v) is str else as_binary(v, text=True)"
                    if not f.type.binary
                    else f"    v = as_binary(v, text={text})",
                    "n = len(v)",
                    "if n < 128:",
                    "    out.append(n)",
                    "else:",
                    "    out += varint(n)",
                    "out += v",
                ]
            elif t in _INT_RANGES:
                lo, hi, tname = _INT_RANGES[t]
                body += [
                    "if type(v) is not int:",
                    "    v = index(v)",
                    f"if not {lo} <= v <= {hi}:",
                    f"    raise BadValue('out of range for {tname}')",
                    "z = (v << 1) ^ (v >> 63)",
                    "if z < 128:",
                    "    out.append(z)",
                    "else:",
                    "    out += varint(z)",
                ]
            elif t != TType.BOOL:
                ns[f"w{i}"] = self.writer(f.type, pending)
                body.append(f"w{i}(out, v)")
            bodies.append(body)
        return generate_struct_writer(cls, bodies, ns, ["last = 0"], ["out.append(0)"])


_WRITERS = _Writers()


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _r_byte(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return _unpack_i8(buf, pos)[0], pos + 1


def _r_double(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return _unpack_double(buf, pos)[0], pos + 8


def _r_bool_elem(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    # Apache reads a container bool as "byte == BOOLEAN_TRUE"; do the same for interop.
    return buf[pos] == _CT_TRUE, pos + 1


def _r_i16(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return _zz_i16(buf, pos)


def _r_i32(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return _zz_i32(buf, pos)


def _r_i64(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    return _zz_i64(buf, pos)


_SCALAR_READERS: dict[int, Reader] = {
    TType.BOOL: _r_bool_elem,
    TType.BYTE: _r_byte,
    TType.I16: _r_i16,
    TType.I32: _r_i32,
    TType.I64: _r_i64,
    TType.DOUBLE: _r_double,
    TType.UUID: read_uuid,
}


class _Readers(PlanReaders):
    """Compiled readers and the validating skipper for one ``Limits`` value."""

    key_prefix = "compact.r"

    def make_skipper(self, limits: Limits) -> Skipper:
        return _make_skipper(limits)

    def build_struct_reader(self, cls: type[Struct], spec: StructSpec) -> Reader:
        index = {n: i for i, n in enumerate(cls._sf_names)}
        ns: dict[str, Any] = {"zz16": _zz_i16, "zz32": _zz_i32}
        bodies: dict[int, list[str]] = {}
        for f in spec.fields:
            t = int(f.type.ttype)
            fid = f.id & 0xFFFF
            i = index[f.name]
            if t == TType.BOOL:
                bodies[_CT_TRUE << 16 | fid] = [f"v{i} = True"]
                bodies[_CT_FALSE << 16 | fid] = [f"v{i} = False"]
            elif t == TType.I32:
                bodies[_CT_I32 << 16 | fid] = [
                    "b = buf[pos]",
                    "if b < 128:",
                    f"    v{i} = (b >> 1) ^ -(b & 1)",
                    "    pos += 1",
                    "else:",
                    f"    v{i}, pos = zz32(buf, pos)",
                ]
            else:
                ct = _CTYPE.get(t)
                if ct is None:
                    raise LocalProtocolError(f"cannot decode values of type {f.type.describe()}")
                ns[f"r{i}"] = self.reader(f.type)
                bodies[ct << 16 | fid] = [f"fi = {i}", f"v{i}, pos = r{i}(buf, pos, d1)"]
        # Unknown id, or a known id with another wire type: skip it (Apache does too). Bool
        # fields carry their value in the type nibble, so there is nothing to skip for them.
        default = ["if ct != 1 and ct != 2:", "    pos = skip(buf, pos, ct, d1)"]
        field_key = [
            "b = buf[pos]",
            "pos += 1",
            "if b == 0:",
            "    break",
            "ct = b & 15",
            "if b >> 4:",
            "    last += b >> 4",
            "else:",
            "    last, pos = zz16(buf, pos)",
            "key = ct << 16 | (last & 65535)",
        ]
        return self.generate_struct_reader(cls, ns, bodies, default, ["last = 0"], field_key, "pos")

    def scalar_reader(self, t: int) -> Reader | None:
        return _SCALAR_READERS.get(t)

    def string_reader(self, binary: bool) -> Reader:
        maxs = self.limits.max_string_size

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            n = buf[pos]
            if n < 0x80:
                pos += 1
            else:
                n, pos = _read_size(buf, pos, "string length")
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
        as_set = t == TType.SET and (hashable or ets.ttype in HASHABLE_TTYPES)
        eread = self.reader(ets, hashable or as_set)
        et = _ctype(ets)
        fmt = _BULK_FMT.get(et)
        is_bool = ets.ttype == TType.BOOL
        what = "list" if t == TType.LIST else "set"
        kind = frozenset if hashable and as_set else set if as_set else tuple if hashable else list
        maxd = self.limits.max_depth
        minsize = _MIN_SIZE[et]
        count = self.count
        expected = _ct_name(et)

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"{what}: nesting deeper than max_depth={maxd}")
            b = buf[pos]
            pos += 1
            n = b >> 4
            if n == 15:
                n, pos = _read_size(buf, pos, f"{what} size")
            if n == 0:
                return kind(), pos
            wt = b & 0x0F
            if wt != et and not (is_bool and wt == _CT_FALSE):
                raise RemoteProtocolError(
                    f"{what} element type {_ct_name(wt)} where {expected} was expected"
                )
            count(what, n, pos, minsize, buf)
            if is_bool:
                end = pos + n
                return kind([x == _CT_TRUE for x in buf[pos:end]]), end
            if fmt is not None:
                values: Any = struct.unpack_from(f"{fmt[0]}{n}{fmt[1]}", buf, pos)
                return (values if kind is tuple else kind(values)), pos + n * minsize
            d1 = depth + 1
            items: list[Any] = []
            append = items.append
            for _ in range(n):
                v, pos = eread(buf, pos, d1)
                append(v)
            return (items if kind is list else kind(items)), pos

        return read

    def map_reader(self, kts: TypeSpec, vts: TypeSpec) -> Reader:
        kread = self.reader(kts, True)
        vread = self.reader(vts)
        kt = _ctype(kts)
        vt = _ctype(vts)
        kbool = kts.ttype == TType.BOOL
        vbool = vts.ttype == TType.BOOL
        maxd = self.limits.max_depth
        minsize = _MIN_SIZE[kt] + _MIN_SIZE[vt]
        count = self.count
        expected = f"{_ct_name(kt)}/{_ct_name(vt)}"

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"map: nesting deeper than max_depth={maxd}")
            n = buf[pos]
            if n < 0x80:
                pos += 1
            else:
                n, pos = _read_size(buf, pos, "map size")
            result: dict[Any, Any] = {}
            if n == 0:
                return result, pos
            b = buf[pos]
            pos += 1
            wkt = b >> 4
            wvt = b & 0x0F
            if (wkt != kt and not (kbool and wkt == _CT_FALSE)) or (
                wvt != vt and not (vbool and wvt == _CT_FALSE)
            ):
                raise RemoteProtocolError(
                    f"map key/value types {_ct_name(wkt)}/{_ct_name(wvt)} "
                    f"where {expected} was expected"
                )
            count("map", n, pos, minsize, buf)
            d1 = depth + 1
            for _ in range(n):
                k, pos = kread(buf, pos, d1)
                v, pos = vread(buf, pos, d1)
                result[k] = v
            return result, pos

        return read


def _make_skipper(limits: Limits) -> Skipper:
    """Skip one value of compact type ``ct`` (container context: bools are one byte)."""
    maxd = limits.max_depth
    maxs = limits.max_string_size
    fixed_size = _FIXED_SIZE
    min_size = _MIN_SIZE
    check_count = count_checker(limits.max_container_size)

    def valid(ct: int) -> int:
        ms = min_size.get(ct)
        if ms is None:
            raise RemoteProtocolError(f"invalid compact type id {ct}")
        return ms

    def skip(buf: Any, pos: int, ct: int, depth: int) -> int:
        n: int
        size = fixed_size.get(ct)
        if size is not None:
            pos += size
            if pos > len(buf):
                raise Truncated(f"truncated {_ct_name(ct)}", pos)
            return pos
        if ct == _CT_I32 or ct == _CT_I16:
            return _read_u32(buf, pos)[1]
        if ct == _CT_I64:
            return _read_varint(buf, pos, 10)[1]
        if ct == _CT_BINARY:
            n, pos = _read_size(buf, pos, "string length")
            if n > maxs:
                raise LimitExceeded(f"string of {n} bytes exceeds max_string_size={maxs}")
            pos += n
            if pos > len(buf):
                raise Truncated(f"truncated string: {n} bytes declared", pos)
            return pos
        if depth > maxd:
            raise LimitExceeded(f"nesting deeper than max_depth={maxd}")
        d1 = depth + 1
        if ct == _CT_STRUCT:
            while True:
                b = buf[pos]
                pos += 1
                if b == 0:
                    return pos
                ft = b & 0x0F
                if not b >> 4:
                    pos = _read_u32(buf, pos)[1]
                if ft == _CT_TRUE or ft == _CT_FALSE:
                    continue
                pos = skip(buf, pos, ft, d1)
        if ct == _CT_LIST or ct == _CT_SET:
            b = buf[pos]
            pos += 1
            n = b >> 4
            if n == 15:
                n, pos = _read_size(buf, pos, "list size")
            if n == 0:
                return pos
            et = b & 0x0F
            ms = valid(et)
            check_count("list", n, pos, ms, buf)
            size = fixed_size.get(et)
            if size is not None:
                return pos + n * size
            for _ in range(n):
                pos = skip(buf, pos, et, d1)
            return pos
        if ct == _CT_MAP:
            n, pos = _read_size(buf, pos, "map size")
            if n == 0:
                return pos
            b = buf[pos]
            pos += 1
            kt = b >> 4
            vt = b & 0x0F
            check_count("map", n, pos, valid(kt) + valid(vt), buf)
            ks = fixed_size.get(kt)
            vs = fixed_size.get(vt)
            if ks is not None and vs is not None:
                return pos + n * (ks + vs)
            for _ in range(n):
                pos = skip(buf, pos, kt, d1)
                pos = skip(buf, pos, vt, d1)
            return pos
        raise RemoteProtocolError(f"invalid compact type id {ct}")

    return skip


# --------------------------------------------------------------------------------------------
# The codec
# --------------------------------------------------------------------------------------------


class CompactCodecPy(PyCodecBase):
    """Thrift compact protocol in pure Python (the reference twin of the C codec)."""

    name = "compact"
    protocol_id = 2
    _writers = _WRITERS
    _readers_type = _Readers
    _struct_code = _CT_STRUCT

    def __repr__(self) -> str:
        return f"CompactCodecPy(limits={self.limits!r})"

    def _write_envelope(self, out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
        out.append(PROTOCOL_ID)
        out.append(VERSION | mtype << _TYPE_SHIFT)
        out += _varint(seqid & 0xFFFFFFFF)
        out += _varint(len(name))
        out += name

    def _envelope(self, buf: Any, pos: int, decode_name: bool) -> tuple[str, int, int, int]:
        proto = buf[pos]
        if proto != PROTOCOL_ID:
            raise RemoteProtocolError(f"bad protocol id 0x{proto:02x} (compact is 0x82)")
        b = buf[pos + 1]
        version = b & _VERSION_MASK
        if version != VERSION:
            raise RemoteProtocolError(f"bad version {version} in compact message header")
        mtype = b >> _TYPE_SHIFT
        if mtype not in VALID_MESSAGE_TYPES:
            raise RemoteProtocolError(f"invalid message type {mtype}")
        seqid, pos = _read_u32(buf, pos + 2)
        if seqid > MAX_I32:
            seqid -= 1 << 32
        n, pos = _read_size(buf, pos, "message name length")
        name, pos = read_name(buf, pos, n, decode_name, self.limits.max_string_size)
        return name, mtype, seqid, pos
