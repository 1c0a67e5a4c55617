"""Apache Thrift's JSON protocol (``TJSONProtocol``), both directions, in pure Python.

Layout (Apache's dialect of JSON, no whitespace anywhere):

- message: ``[1,"name",type,seqid,{struct}]`` (1 is the protocol version);
- struct: an object keyed by field id, each value a one-entry object naming the wire type:
  ``{"1":{"i32":5},"2":{"str":"x"}}``; type names are ``tf i8 i16 i32 i64 dbl str rec map
  lst set uid``;
- list/set: ``["i32",3,1,2,3]``; map: ``["str","i64",2,{"a":1,"b":2}]``;
- bool is ``1``/``0``; numbers are bare, except where they are an object key (a field id or a
  map key), where they are quoted: ``{"1":...}``, ``["i32","tf",1,{"7":1}]``;
- doubles: 17 significant digits (``%.17g``, as Apache's Python library writes them);
  NaN and the infinities are the quoted strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- binary: standard base64 with padding (reading accepts it with or without padding);
- strings: UTF-8, with ``"`` ``\\`` and control characters escaped;
- uuid (``uid``): the canonical hyphenated lowercase string;
- a map key that is a list or set is written as the bare array (``{["i32",1,5]:"x"}``):
  not strict JSON, but it is what every Apache implementation writes and reads.

Where Apache's Python library is not interoperable with its own reader or with Apache's other
languages, this codec writes what C++/Java write and reads both forms:

- control characters other than ``\\b \\f \\n \\r \\t`` are written ``\\u00XX`` (Apache's Python
  writes them raw, which is invalid JSON); raw ones are accepted on read;
- non-finite doubles are written quoted (Apache's Python writes a bare ``inf``/``nan``, which
  its own reader rejects, and Python's ``json`` module a bare ``Infinity``/``NaN``); those bare
  forms, and ``"inf"``, ``"-inf"``, ``"nan"`` (Apache's Python map keys), are read too, so an
  Apache Python peer's infinities arrive, which Apache's own Python server cannot manage.

Plans: the same per-struct compiled readers/writers as the binary and compact codecs
(``_common``): a struct's reader matches each field head with one regular expression and
dispatches on (wire type, field id). Limits are checked before anything is built: a container
count against ``max_container_size`` and against the bytes left, a string's raw length before
it is sliced, depth on every struct and container. ``scan_message`` finds where a message ends
with a bracket/string-aware scan that builds nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any, TypeVar

from ..errors import LimitExceeded, RemoteProtocolError
from ..limits import Limits
from ..model.spec import StructSpec, TypeSpec
from ..model.struct import Struct
from ..model.ttype import MessageType, TType
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
    as_uuid_bytes,
    count_checker,
    describe_value,
    generate_struct_writer,
    guard,
    normalize_input,
)
from .base import NEED_DATA, BodyTypeResolver, Message

__all__ = ["JSONCodecPy", "VERSION", "TYPE_NAMES"]

S = TypeVar("S", bound=Struct)

#: The protocol version written first in every message.
VERSION = 1

_BOOL = int(TType.BOOL)
_BYTE = int(TType.BYTE)
_I16 = int(TType.I16)
_I32 = int(TType.I32)
_I64 = int(TType.I64)
_DOUBLE = int(TType.DOUBLE)
_STRING = int(TType.STRING)
_STRUCT = int(TType.STRUCT)
_MAP = int(TType.MAP)
_SET = int(TType.SET)
_LIST = int(TType.LIST)
_UUID = int(TType.UUID)

#: Wire type names by TType (string and binary share "str").
TYPE_NAMES: dict[int, bytes] = {
    _BOOL: b"tf",
    _BYTE: b"i8",
    _I16: b"i16",
    _I32: b"i32",
    _I64: b"i64",
    _DOUBLE: b"dbl",
    _STRING: b"str",
    _STRUCT: b"rec",
    _MAP: b"map",
    _LIST: b"lst",
    _SET: b"set",
    _UUID: b"uid",
}
_TYPE_IDS: dict[bytes, int] = {v: k for k, v in TYPE_NAMES.items()}

#: (min, max, name) of the integer types.
_INT_RANGES: dict[int, tuple[int, int, str]] = {
    _BYTE: (-(2**7), 2**7 - 1, "i8"),
    _I16: (-(2**15), 2**15 - 1, "i16"),
    _I32: (-(2**31), 2**31 - 1, "i32"),
    _I64: (-(2**63), 2**63 - 1, "i64"),
}

#: Shortest encoding of a value of each type (bounds container counts before allocating).
_MIN_VALUE: dict[int, int] = {
    _BOOL: 1,
    _BYTE: 1,
    _I16: 1,
    _I32: 1,
    _I64: 1,
    _DOUBLE: 1,
    _STRING: 2,  # ""
    _UUID: 34,  # 32 hex digits, quoted
    _STRUCT: 2,  # {}
    _LIST: 8,  # ["i8",0]
    _SET: 8,
    _MAP: 16,  # ["i8","i8",0,{}]
}
#: The same for a map key: numbers are quoted there.
_MIN_KEY: dict[int, int] = {**_MIN_VALUE, **dict.fromkeys(_INT_RANGES, 3), _BOOL: 3, _DOUBLE: 3}
#: Numbers and bools are quoted when they are a map key.
_QUOTED_KEY_TYPES = frozenset({_BOOL, _BYTE, _I16, _I32, _I64, _DOUBLE})


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------

_INT = re.compile(rb"-?[0-9]{1,20}(?![0-9])")
_QINT = re.compile(rb'"(-?[0-9]{1,20})"')
_NUMBER = rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_DBL = re.compile(_NUMBER)
_SPECIAL_NAMES = rb"NaN|Infinity|-Infinity|nan|inf|-inf"
_QSPECIAL = re.compile(rb'"(' + _SPECIAL_NAMES + rb')"')
_BARE_SPECIAL = re.compile(rb"(?:" + _SPECIAL_NAMES + rb")(?![A-Za-z0-9])")
_QDBL = re.compile(rb'"(' + _NUMBER + rb"|" + _SPECIAL_NAMES + rb')"')
_SPECIAL_VALUES: dict[bytes, float] = {
    b"NaN": float("nan"),
    b"nan": float("nan"),
    b"Infinity": float("inf"),
    b"inf": float("inf"),
    b"-Infinity": float("-inf"),
    b"-inf": float("-inf"),
}
_QUUID = re.compile(rb'"([0-9A-Fa-f]{8}(?:-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12})"')
#: A string without escapes / any string (escapes are pairs: backslash + one character).
_PLAIN_STR = re.compile(rb'"([^"\\]*+)"')
_ANY_STR = re.compile(rb'"((?:[^"\\]++|\\.)*+)"', re.DOTALL)
#: Field heads: the first one follows the struct's "{", the others the "}" closing a field.
_FIRST_HEAD = re.compile(rb'\{(?:"(-?[0-9]{1,6})":\{"([^"\\]*)":|\})')
_NEXT_HEAD = re.compile(rb'\}(?:,"(-?[0-9]{1,6})":\{"([^"\\]*)":|\})')
_LIST_HEAD = re.compile(rb'\["([^"\\]*)",(-?[0-9]{1,10})(?![0-9])')
_MAP_HEAD = re.compile(rb'\["([^"\\]*)","([^"\\]*)",(-?[0-9]{1,10}),\{')
_ENVELOPE_HEAD = re.compile(rb"\[(-?[0-9]{1,10})(?![0-9])")
_ENVELOPE_TAIL = re.compile(rb",(-?[0-9]{1,10}),(-?[0-9]{1,11}),")

_COMMA, _COLON, _RBRACKET, _LBRACE, _RBRACE, _QUOTE = 44, 58, 93, 123, 125, 34


def _malformed(buf: Any, pos: int, what: str) -> RemoteProtocolError:
    """The error for input that is not ``what`` at ``pos`` (truncated when nothing is left)."""
    if pos >= len(buf):
        return Truncated(f"input ended at byte {len(buf)} where {what} was expected", pos + 1)
    excerpt = bytes(buf[pos : pos + 24])
    return RemoteProtocolError(f"malformed JSON at byte {pos}: expected {what}, found {excerpt!r}")


def _wire_type(name: bytes) -> int:
    t = _TYPE_IDS.get(name)
    if t is None:
        raise RemoteProtocolError(f"unknown JSON type name {name[:20]!r}")
    return t


def _field_id(digits: bytes) -> int:
    fid = int(digits)
    if not -(2**15) <= fid < 2**15:
        raise RemoteProtocolError(f"field id {fid} out of the i16 range")
    return fid


def _count(digits: bytes) -> int:
    n = int(digits)
    if n > MAX_I32:
        raise RemoteProtocolError(f"container size {n} out of the i32 range")
    return n


# --------------------------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------------------------

_SIMPLE_UNESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_SIMPLE_UNESCAPES["t"] = "\t"
_UNESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|\\u([0-9a-fA-F]{4})"
    r'|\\(["\\/bfnrt])'
    r"|\\(.?)",  # anything else after a backslash is an error
    re.DOTALL,
)


def _unescape_one(m: re.Match[str]) -> str:
    high = m.group(1)
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(m.group(2), 16) - 0xDC00))
    code = m.group(3)
    if code is not None:
        c = int(code, 16)
        if 0xD800 <= c <= 0xDFFF:
            raise RemoteProtocolError(f"unpaired UTF-16 surrogate \\u{code} in a JSON string")
        return chr(c)
    simple = m.group(4)
    if simple is not None:
        return _SIMPLE_UNESCAPES[simple]
    raise RemoteProtocolError(f"invalid escape \\{m.group(5)} in a JSON string")


def _string_span(buf: Any, pos: int, what: str) -> tuple[int, int, bool]:
    """(content start, content end, has escapes) of the JSON string at ``pos``."""
    m = _PLAIN_STR.match(buf, pos)
    if m is not None:
        return m.start(1), m.end(1), False
    m = _ANY_STR.match(buf, pos)
    if m is None:
        raise _malformed(buf, pos, what)
    return m.start(1), m.end(1), True


def _unescaped(buf: Any, a: int, b: int) -> str:
    """The text of string content ``buf[a:b]`` holding escapes (UnicodeDecodeError if not UTF-8)."""
    return _UNESCAPE.sub(_unescape_one, str(buf[a:b], "utf-8"))


def _text_cap(maxs: int) -> int:
    """Longest raw JSON string (no escapes) that can hold a valid string or binary value."""
    return max(maxs, 4 * ((maxs + 2) // 3))


def _escaped_cap(maxs: int) -> int:
    """The same with escapes (``\\u00XX`` is 6 bytes for 1; ``\\/`` 2 per base64 digit)."""
    return max(6 * maxs, 8 * ((maxs + 2) // 3)) + 8


def _string_reader(maxs: int) -> Reader:
    """A UTF-8 string; ``max_string_size`` counts its UTF-8 bytes."""

    def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        a, b, escaped = _string_span(buf, pos, "a string")
        if not escaped:
            if b - a > maxs:
                raise LimitExceeded(f"string of {b - a} bytes exceeds max_string_size={maxs}")
            return str(buf[a:b], "utf-8"), b + 1
        if b - a > _escaped_cap(maxs):
            raise LimitExceeded(f"string of {b - a} bytes exceeds max_string_size={maxs}")
        text = _unescaped(buf, a, b)
        if b - a > maxs and len(text.encode("utf-8")) > maxs:
            raise LimitExceeded(f"string exceeds max_string_size={maxs}")
        return text, b + 1

    return read


def _binary_reader(maxs: int) -> Reader:
    """Base64 text (standard alphabet, padding optional) decoded to bytes."""

    def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        a, b, escaped = _string_span(buf, pos, "base64 binary")
        if b - a > (_escaped_cap(maxs) if escaped else _text_cap(maxs)):
            raise LimitExceeded(f"binary of {b - a} base64 digits exceeds max_string_size={maxs}")
        raw = bytes(buf[a:b])
        if escaped:
            try:
                raw = _unescaped(buf, a, b).encode("ascii")
            except (UnicodeDecodeError, UnicodeEncodeError):
                raise RemoteProtocolError(f"invalid base64 at byte {a}: not ASCII") from None
        core = raw.rstrip(b"=")
        if len(raw) - len(core) > 2 or len(core) % 4 == 1:
            raise RemoteProtocolError(f"invalid base64 at byte {a}: bad length or padding")
        size = len(core) * 3 // 4
        if size > maxs:
            raise LimitExceeded(f"binary of {size} bytes exceeds max_string_size={maxs}")
        try:
            return base64.b64decode(core + b"=" * (-len(core) % 4), validate=True), b + 1
        except binascii.Error:
            raise RemoteProtocolError(f"invalid base64 at byte {a}") from None

    return read


# --------------------------------------------------------------------------------------------
# Scalars (value position, and quoted in map-key position)
# --------------------------------------------------------------------------------------------


def _int_reader(t: int, key: bool) -> Reader:
    lo, hi, name = _INT_RANGES[t]
    match = (_QINT if key else _INT).match
    what = f"a quoted {name} map key" if key else f"an {name}"

    def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        m = match(buf, pos)
        if m is None:
            raise _malformed(buf, pos, what)
        v = int(m.group(1) if key else m.group())
        if v < lo or v > hi:
            raise RemoteProtocolError(f"{name} value {v} out of range")
        return v, m.end()

    return read


def _r_bool(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    m = _INT.match(buf, pos)
    if m is None:
        raise _malformed(buf, pos, "a bool (1 or 0)")
    return int(m.group()) != 0, m.end()


def _rk_bool(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    m = _QINT.match(buf, pos)
    if m is None:
        raise _malformed(buf, pos, 'a quoted bool map key ("1" or "0")')
    return int(m.group(1)) != 0, m.end()


def _r_double(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    m = _DBL.match(buf, pos)
    if m is not None:
        return float(m.group()), m.end()
    m = _QSPECIAL.match(buf, pos)
    if m is not None:
        return _SPECIAL_VALUES[m.group(1)], m.end()
    m = _BARE_SPECIAL.match(buf, pos)  # what Python writers send (see the module docstring)
    if m is not None:
        return _SPECIAL_VALUES[m.group()], m.end()
    raise _malformed(buf, pos, 'a double (a number, "NaN", "Infinity" or "-Infinity")')


def _rk_double(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    m = _QDBL.match(buf, pos)
    if m is None:
        raise _malformed(buf, pos, "a quoted double map key")
    text = m.group(1)
    special = _SPECIAL_VALUES.get(text)
    return (float(text) if special is None else special), m.end()


def _r_uuid(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    m = _QUUID.match(buf, pos)
    if m is None:
        raise _malformed(buf, pos, "a uuid string")
    return uuid.UUID(m.group(1).decode("ascii")), m.end()


_VALUE_SCALARS: dict[int, Reader] = {
    _BOOL: _r_bool,
    _DOUBLE: _r_double,
    _UUID: _r_uuid,
    **{t: _int_reader(t, False) for t in _INT_RANGES},
}
_KEY_SCALARS: dict[int, Reader] = {
    **_VALUE_SCALARS,
    _BOOL: _rk_bool,
    _DOUBLE: _rk_double,
    **{t: _int_reader(t, True) for t in _INT_RANGES},
}


# --------------------------------------------------------------------------------------------
# Encoding (independent of Limits: limits guard what we *read*)
# --------------------------------------------------------------------------------------------

_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')
_ESCAPES: dict[bytes, bytes] = {bytes((c,)): b"\\u%04x" % c for c in range(0x20)}
_ESCAPES.update(
    {b'"': b'\\"', b"\\": b"\\\\", b"\b": b"\\b", b"\f": b"\\f", b"\n": b"\\n", b"\r": b"\\r"}
)
_ESCAPES[b"\t"] = b"\\t"


def _escape_match(m: re.Match[bytes]) -> bytes:
    return _ESCAPES[m.group()]


def write_json_string(out: bytearray, b: bytes | bytearray) -> None:
    """Append UTF-8 bytes ``b`` as a quoted JSON string (the caller checked they are UTF-8)."""
    out.append(_QUOTE)
    if _NEEDS_ESCAPE.search(b) is None:
        out += b
    else:
        out += _NEEDS_ESCAPE.sub(_escape_match, b)
    out.append(_QUOTE)


def text_bytes(v: Any) -> bytes | bytearray:
    """UTF-8 bytes of a string field's value; bytes given for a string must be valid UTF-8
    (a JSON document is text, so unlike binary/compact they cannot be passed through)."""
    b = as_binary(v, text=True)
    if not isinstance(v, str):
        try:
            str(b, "utf-8")
        except UnicodeDecodeError:
            raise BadValue("bytes given for a string field are not valid UTF-8") from None
    return b


def w_string(out: bytearray, v: Any) -> None:
    """A string field's value as a JSON string."""
    write_json_string(out, v.encode("utf-8") if type(v) is str else text_bytes(v))


def w_binary(out: bytearray, v: Any) -> None:
    """Base64 with padding, as Apache's Python library writes it (every reader accepts it)."""
    out.append(_QUOTE)
    out += base64.b64encode(v if type(v) is bytes else as_binary(v, text=False))
    out.append(_QUOTE)


def w_uuid(out: bytearray, v: Any) -> None:
    """The canonical hyphenated lowercase form."""
    u = v if type(v) is uuid.UUID else uuid.UUID(bytes=as_uuid_bytes(v))
    out += b'"%s"' % str(u).encode("ascii")


def as_double(v: Any) -> float:
    """The float to write for a double field (ints and float-like objects; never a string)."""
    if type(v) is float:
        return v
    if isinstance(v, (str, bytes, bytearray, memoryview)):
        raise BadValue(f"expected a float, got {describe_value(v)}")
    return float(v)


#: What non-finite doubles look like, quoted (what Apache C++/Java write and all readers read).
SPECIAL_DOUBLES: dict[str, bytes] = {
    "nan": b'"NaN"',
    "inf": b'"Infinity"',
    "-inf": b'"-Infinity"',
}


def _w_double(out: bytearray, v: Any) -> None:
    x = as_double(v)
    if x - x == 0.0:  # finite (inf - inf and nan - nan are nan)
        out += b"%.17g" % x
    else:
        out += SPECIAL_DOUBLES[repr(x)]


def _wk_double(out: bytearray, v: Any) -> None:
    x = as_double(v)
    if x - x == 0.0:
        out += b'"%.17g"' % x
    else:
        out += SPECIAL_DOUBLES[repr(x)]


def as_int(v: Any, lo: int, hi: int, name: str) -> int:
    """``v`` as an int in [lo, hi] (bools and int enums count; floats and strings do not)."""
    if type(v) is not int:
        if isinstance(v, float) or not hasattr(v, "__index__"):
            raise BadValue(f"expected an int, got {describe_value(v)}")
        v = v.__index__()
    if v < lo or v > hi:
        raise BadValue(f"out of range for {name}")
    return v  # type: ignore[no-any-return]


def int_writer(t: int, fmt: bytes) -> Writer:
    """Writer of integer type ``t``; ``fmt`` is ``b"%d"`` or (map keys) ``b'"%d"'``."""
    lo, hi, name = _INT_RANGES[t]

    def write(out: bytearray, v: Any) -> None:
        if type(v) is not int or v < lo or v > hi:
            v = as_int(v, lo, hi, name)
        out += fmt % v

    return write


_BOOL_VALUES: dict[Any, bytes] = {True: b"1", False: b"0"}
_BOOL_KEYS: dict[Any, bytes] = {True: b'"1"', False: b'"0"'}


def _w_bool(out: bytearray, v: Any) -> None:
    out += _BOOL_VALUES[v]


def _wk_bool(out: bytearray, v: Any) -> None:
    out += _BOOL_KEYS[v]


_SCALAR_WRITERS: dict[int, Writer] = {
    _BOOL: _w_bool,
    _DOUBLE: _w_double,
    _UUID: w_uuid,
    **{t: int_writer(t, b"%d") for t in _INT_RANGES},
}
_KEY_WRITERS: dict[int, Writer] = {
    _BOOL: _wk_bool,
    _DOUBLE: _wk_double,
    **{t: int_writer(t, b'"%d"') for t in _INT_RANGES},
}


class _Writers(PlanWriters):
    """TJSONProtocol's value and struct writers (one shared instance)."""

    key = "json.w"
    scalar_writers = _SCALAR_WRITERS
    string_writers = (w_string, w_binary)

    def key_writer(self, kts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        """Map keys: numbers and bools quoted, anything else as a value."""
        w = _KEY_WRITERS.get(int(kts.ttype))
        return w if w is not None else self.writer(kts, pending)

    def list_writer(self, t: int, ets: TypeSpec, pending: dict[type, Writer]) -> Writer:
        head = b'["%s",' % TYPE_NAMES[int(ets.ttype)]
        ew = self.writer(ets, pending)

        def write(out: bytearray, v: Any) -> None:
            v = as_sequence(v)
            out += head
            out += b"%d" % len(v)
            for x in v:
                out.append(_COMMA)
                ew(out, x)
            out.append(_RBRACKET)

        return write

    def map_writer(self, kts: TypeSpec, vts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        head = b'["%s","%s",' % (TYPE_NAMES[int(kts.ttype)], TYPE_NAMES[int(vts.ttype)])
        kw = self.key_writer(kts, pending)
        vw = self.writer(vts, pending)

        def write(out: bytearray, v: Any) -> None:
            items = as_items(v)
            out += head
            out += b"%d,{" % len(items)
            for k, x in items:
                kw(out, k)
                out.append(_COLON)
                vw(out, x)
                out.append(_COMMA)
            # Each pair ended with ","; the last one's becomes the closing "}".
            if out[-1] == _COMMA:
                out[-1] = _RBRACE
            else:
                out.append(_RBRACE)
            out.append(_RBRACKET)

        return write

    def build_struct_writer(self, cls: type[Struct], pending: dict[type, Writer]) -> Writer:
        ns: dict[str, Any] = {}
        bodies: list[list[str]] = []
        for i, f in enumerate(cls.__thrift_spec__.fields):
            t = int(f.type.ttype)
            ns[f"h{i}"] = b'"%d":{"%s":' % (f.id, TYPE_NAMES[t])
            ns[f"w{i}"] = self.writer(f.type, pending)
            body = [f"out += h{i}"]
            rng = _INT_RANGES.get(t)
            if rng is not None:  # the common case inline: a plain int in range
                body += [
                    f"if type(v) is int and {rng[0]} <= v <= {rng[1]}:",
                    "    out += b'%d' % v",
                    "else:",
                    f"    w{i}(out, v)",
                ]
            else:
                body.append(f"w{i}(out, v)")
            body.append("out += b'},'")
            bodies.append(body)
        # Every field ends with "},": the last field's "," becomes the struct's closing "}".
        epilogue = ["if out[-1] == 44:", "    out[-1] = 125", "else:", "    out.append(125)"]
        return generate_struct_writer(cls, bodies, ns, ["out.append(123)"], epilogue)


_WRITERS = _Writers()


# --------------------------------------------------------------------------------------------
# Decoding (closures capture the Limits they enforce)
# --------------------------------------------------------------------------------------------


class _Readers(PlanReaders):
    """Compiled readers and the validating skipper for one ``Limits`` value."""

    key_prefix = "json.r"

    def make_skipper(self, limits: Limits) -> Skipper:
        return _make_skipper(limits)

    def build_struct_reader(self, cls: type[Struct], spec: StructSpec) -> Reader:
        index = {n: i for i, n in enumerate(cls._sf_names)}
        ns: dict[str, Any] = {
            "first": _FIRST_HEAD.match,
            "later": _NEXT_HEAD.match,
            "malformed": _malformed,
            "wire_type": _wire_type,
            "field_id": _field_id,
        }
        bodies: dict[int, list[str]] = {}
        for f in spec.fields:
            t = int(f.type.ttype)
            i = index[f.name]
            ns[f"r{i}"] = self.reader(f.type)
            bodies[t << 16 | (f.id & 0xFFFF)] = [f"fi = {i}", f"v{i}, pos = r{i}(buf, pos, d1)"]
        # Unknown id, or a known id with another wire type: skip it (Apache does too).
        default = ["pos = skip(buf, pos, t, d1)"]
        field_key = [
            "m = head(buf, pos)",
            "if m is None:",
            "    raise malformed(buf, pos, 'a field of ' + cname + \" or '}'\")",
            "head = later",
            "tn = m.group(2)",
            "if tn is None:",
            "    pos = m.end()",
            "    break",
            "t = wire_type(tn)",
            "key = t << 16 | field_id(m.group(1)) & 65535",
            "pos = m.end()",
        ]
        return self.generate_struct_reader(
            cls, ns, bodies, default, ["head = first"], field_key, "pos"
        )

    def scalar_reader(self, t: int) -> Reader | None:
        return _VALUE_SCALARS.get(t)

    def string_reader(self, binary: bool) -> Reader:
        maxs = self.limits.max_string_size
        return _binary_reader(maxs) if binary else _string_reader(maxs)

    def key_reader(self, kts: TypeSpec) -> Reader:
        """Map keys: numbers and bools are quoted; anything else reads as a (hashable) value."""
        t = int(kts.ttype)
        if t in _QUOTED_KEY_TYPES:
            return _KEY_SCALARS[t]
        return self.reader(kts, True)

    def list_reader(self, t: int, ets: TypeSpec, hashable: bool) -> Reader:
        et = int(ets.ttype)
        what = "list" if t == _LIST else "set"
        as_set = t == _SET and (hashable or et in HASHABLE_TTYPES)
        kind = frozenset if hashable and as_set else set if as_set else tuple if hashable else list
        maxd = self.limits.max_depth
        minsize = _MIN_VALUE[et] + 1
        eread = self.reader(ets, hashable or as_set)
        count = self.count
        expected = TYPE_NAMES[et]

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"{what}: nesting deeper than max_depth={maxd}")
            m = _LIST_HEAD.match(buf, pos)
            if m is None:
                raise _malformed(buf, pos, f'a {what} (["type",count,...])')
            n = _count(m.group(2))
            wt = m.group(1)
            if wt != expected and _wire_type(wt) and n > 0:  # an empty list may say any type
                raise RemoteProtocolError(
                    f"{what} element type {wt.decode()} where {expected.decode()} was expected"
                )
            pos = m.end()
            count(what, n, pos, minsize, buf)
            d1 = depth + 1
            items: list[Any] = []
            append = items.append
            for _ in range(n):
                if buf[pos] != _COMMA:
                    raise _malformed(buf, pos, f"',' before the next {what} element")
                v, pos = eread(buf, pos + 1, d1)
                append(v)
            if buf[pos] != _RBRACKET:
                raise _malformed(buf, pos, f"']' closing the {what} of {n}")
            return (items if kind is list else kind(items)), pos + 1

        return read

    def map_reader(self, kts: TypeSpec, vts: TypeSpec) -> Reader:
        kt = int(kts.ttype)
        vt = int(vts.ttype)
        maxd = self.limits.max_depth
        minsize = _MIN_KEY[kt] + _MIN_VALUE[vt] + 2
        kread = self.key_reader(kts)
        vread = self.reader(vts)
        count = self.count
        expected = (TYPE_NAMES[kt], TYPE_NAMES[vt])

        def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
            if depth > maxd:
                raise LimitExceeded(f"map: nesting deeper than max_depth={maxd}")
            m = _MAP_HEAD.match(buf, pos)
            if m is None:
                raise _malformed(buf, pos, 'a map (["ktype","vtype",count,{...}])')
            n = _count(m.group(3))
            wkt, wvt = m.group(1, 2)
            if (wkt, wvt) != expected and _wire_type(wkt) and _wire_type(wvt) and n > 0:
                raise RemoteProtocolError(
                    f"map key/value types {wkt.decode()}/{wvt.decode()} where "
                    f"{expected[0].decode()}/{expected[1].decode()} was expected"
                )
            pos = m.end()
            count("map", n, pos, minsize, buf)
            result: dict[Any, Any] = {}
            d1 = depth + 1
            for i in range(n):
                if i:
                    if buf[pos] != _COMMA:
                        raise _malformed(buf, pos, "',' before the next map entry")
                    pos += 1
                k, pos = kread(buf, pos, d1)
                if buf[pos] != _COLON:
                    raise _malformed(buf, pos, "':' after a map key")
                result[k], pos = vread(buf, pos + 1, d1)
            if buf[pos : pos + 2] != b"}]":
                raise _malformed(buf, pos, f"'}}]' closing the map of {n}")
            return result, pos + 2

        return read


def _make_skipper(limits: Limits) -> Skipper:
    """``skip(buf, pos, t, depth)``: pass over one value of wire type ``t``, validating its
    structure and limits (strings are not unescaped or UTF-8 checked: only decoding does that).
    """
    maxd = limits.max_depth
    text_cap = _text_cap(limits.max_string_size)
    escaped_cap = _escaped_cap(limits.max_string_size)
    maxs = limits.max_string_size
    check_count = count_checker(limits.max_container_size)

    def skip_string(buf: Any, pos: int) -> int:
        a, b, escaped = _string_span(buf, pos, "a string")
        if b - a > (escaped_cap if escaped else text_cap):
            raise LimitExceeded(f"string of {b - a} bytes exceeds max_string_size={maxs}")
        return b + 1

    def skip(buf: Any, pos: int, t: int, depth: int, key: bool = False) -> int:
        r = (_KEY_SCALARS if key else _VALUE_SCALARS).get(t)
        if r is not None:
            return r(buf, pos, depth)[1]
        if t == _STRING:
            return skip_string(buf, pos)
        if depth > maxd:
            raise LimitExceeded(f"nesting deeper than max_depth={maxd}")
        d1 = depth + 1
        if t == _STRUCT:
            m = _FIRST_HEAD.match(buf, pos)
            while True:
                if m is None:
                    raise _malformed(buf, pos, "a field or '}'")
                tn = m.group(2)
                pos = m.end()
                if tn is None:
                    return pos
                _field_id(m.group(1))
                pos = skip(buf, pos, _wire_type(tn), d1)
                m = _NEXT_HEAD.match(buf, pos)
        if t == _LIST or t == _SET:
            m = _LIST_HEAD.match(buf, pos)
            if m is None:
                raise _malformed(buf, pos, 'a list (["type",count,...])')
            et = _wire_type(m.group(1))
            n = _count(m.group(2))
            pos = m.end()
            check_count("list", n, pos, _MIN_VALUE[et] + 1, buf)
            for _ in range(n):
                if buf[pos] != _COMMA:
                    raise _malformed(buf, pos, "',' before the next list element")
                pos = skip(buf, pos + 1, et, d1)
            if buf[pos] != _RBRACKET:
                raise _malformed(buf, pos, "']' closing a list")
            return pos + 1
        if t == _MAP:
            m = _MAP_HEAD.match(buf, pos)
            if m is None:
                raise _malformed(buf, pos, 'a map (["ktype","vtype",count,{...}])')
            kt = _wire_type(m.group(1))
            vt = _wire_type(m.group(2))
            n = _count(m.group(3))
            pos = m.end()
            check_count("map", n, pos, _MIN_KEY[kt] + _MIN_VALUE[vt] + 2, buf)
            for i in range(n):
                if i:
                    if buf[pos] != _COMMA:
                        raise _malformed(buf, pos, "',' before the next map entry")
                    pos += 1
                pos = skip(buf, pos, kt, d1, True)
                if buf[pos] != _COLON:
                    raise _malformed(buf, pos, "':' after a map key")
                pos = skip(buf, pos + 1, vt, d1)
            if buf[pos : pos + 2] != b"}]":
                raise _malformed(buf, pos, "'}]' closing a map")
            return pos + 2
        raise RemoteProtocolError(f"invalid type id {t}")

    return skip


# --------------------------------------------------------------------------------------------
# Scanning (unframed transport): where does the message end?
# --------------------------------------------------------------------------------------------

#: Bytes allowed between tokens outside strings: numbers, separators and the letters of the
#: bare non-finite doubles Python writers send (NaN, Infinity, inf, nan).
_SCAN_PLAIN = re.compile(rb"[0-9,:.eE+\-INafinty]*+")
_SCAN_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_OPENERS = {91: 93, 123: 125}  # [ -> ], { -> }


def _scan(buf: Any, start: int, limits: Limits, opener: int = 91) -> int:
    """Length of the JSON value at ``start`` (a message: ``opener`` "["), or NEED_DATA.

    Purely structural: brackets must nest and match, strings must be closed, and outside
    strings only numbers and separators may appear; errors are raised as early as possible.
    Nesting is bounded by what ``max_depth`` allows (each Thrift level takes at most two JSON
    levels), strings by the longest raw form a ``max_string_size`` value can have, the whole
    by ``max_frame_size``.
    """
    n = len(buf)
    maxf = limits.max_frame_size
    max_nesting = 2 * limits.max_depth + 1
    text_cap = _text_cap(limits.max_string_size)
    escaped_cap = _escaped_cap(limits.max_string_size)
    if start >= n:
        return NEED_DATA
    if buf[start] != opener:
        raise RemoteProtocolError(
            f"a JSON message starts with {chr(opener)!r}, got {bytes(buf[start : start + 16])!r}"
        )
    stack = bytearray()
    pos = start
    while True:
        pos = _SCAN_PLAIN.match(buf, pos).end()  # type: ignore[union-attr]  # matches ""
        if pos >= n:
            break
        c = buf[pos]
        if c == _QUOTE:
            a = pos + 1
            e = _SCAN_STRING_BODY.match(buf, a).end()  # type: ignore[union-attr]
            if e - a > text_cap and (e - a > escaped_cap or buf.find(b"\\", a, e) < 0):
                maxs = limits.max_string_size
                raise LimitExceeded(f"string of {e - a}+ bytes exceeds max_string_size={maxs}")
            if e >= n or buf[e] != _QUOTE:  # unterminated (maybe a lone trailing backslash)
                break
            pos = e + 1
        elif c in _OPENERS:
            stack.append(_OPENERS[c])
            if len(stack) > max_nesting:
                raise LimitExceeded(f"JSON nesting deeper than max_depth={limits.max_depth} allows")
            pos += 1
        elif stack and c == stack[-1]:
            stack.pop()
            pos += 1
            if not stack:
                total = pos - start
                if total > maxf:
                    raise LimitExceeded(f"message of {total} bytes exceeds max_frame_size={maxf}")
                return total
        else:
            raise RemoteProtocolError(
                f"malformed JSON message: unexpected {bytes((c,))!r} at byte {pos - start}"
            )
        if pos - start > maxf:
            raise LimitExceeded(
                f"message of at least {pos - start} bytes exceeds max_frame_size={maxf}"
            )
    seen = n - start
    if seen > maxf:
        raise LimitExceeded(f"message of at least {seen} bytes exceeds max_frame_size={maxf}")
    return NEED_DATA


#: Limits of the truncation check below (it only runs on input already decoded and refused).
_NO_LIMITS = Limits(2**31 - 1, 2**31 - 1, 2**31 - 1, 2**31 - 1)


def _truncated(buf: Any, opener: int) -> bool:
    """Whether ``buf`` is a prefix of a JSON value (structurally incomplete, not malformed).

    Decoding reports the first thing it could not read ("expected a string, found '\"ab'"),
    which is often a token cut short; this says whether the input simply stopped early.
    """
    if type(buf) is memoryview:
        buf = buf.tobytes()
    try:
        return _scan(buf, 0, _NO_LIMITS, opener) == NEED_DATA
    except RemoteProtocolError:
        return False


# --------------------------------------------------------------------------------------------
# The codec
# --------------------------------------------------------------------------------------------


class JSONCodecPy(PyCodecBase):
    """Apache's TJSONProtocol in pure Python (there is no C twin: JSON is not a hot path).

    Interoperates with Apache Thrift's TJSONProtocol in every language; see the module
    docstring for the exact layout and the two places it follows C++/Java over Python.
    """

    name = "json"
    protocol_id = 1  # THeader's id for TJSONProtocol
    _writers = _WRITERS
    _readers_type = _Readers
    _struct_code = _STRUCT

    def __repr__(self) -> str:
        return f"JSONCodecPy(limits={self.limits!r})"

    # -- messages -------------------------------------------------------------------------

    def _write_envelope(self, out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
        out += b"[%d," % VERSION
        write_json_string(out, name)
        out += b",%d,%d," % (mtype, seqid)

    def encode_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> bytes:
        # The shared encoder validates and writes envelope + body; JSON closes the array.
        return super().encode_message(name, mtype, seqid, body) + b"]"

    def _envelope(self, buf: Any, pos: int, decode_name: bool) -> tuple[str, int, int, int]:
        m = _ENVELOPE_HEAD.match(buf, pos)
        if m is None:
            raise _malformed(buf, pos, "'[' and the protocol version opening a message")
        version = int(m.group(1))
        if version != VERSION:
            raise RemoteProtocolError(f"bad JSON protocol version {version} (expected 1)")
        pos = m.end()
        if pos >= len(buf) or buf[pos] != _COMMA:
            raise _malformed(buf, pos, "',' after the protocol version")
        name, pos = _string_reader(self.limits.max_string_size)(buf, pos + 1, 0)
        m = _ENVELOPE_TAIL.match(buf, pos)
        if m is None:
            raise _malformed(buf, pos, "',type,seqid,' after the method name")
        mtype = int(m.group(1))
        seqid = int(m.group(2))
        if mtype not in VALID_MESSAGE_TYPES:
            raise RemoteProtocolError(f"invalid message type {mtype}")
        if not -MAX_I32 - 1 <= seqid <= MAX_I32:
            raise RemoteProtocolError(f"seqid {seqid} out of the i32 range")
        return name, mtype, seqid, m.end()

    def decode_struct(self, cls: type[S], data: bytes | bytearray | memoryview) -> S:
        buf = normalize_input(data)
        try:
            return super().decode_struct(cls, buf)
        except LimitExceeded:
            raise
        except RemoteProtocolError as exc:
            if "truncated" not in str(exc) and _truncated(buf, _LBRACE):
                raise RemoteProtocolError(f"truncated {cls.__name__}: {exc}") from None
            raise

    def decode_message(
        self, data: bytes | bytearray | memoryview, body_type: BodyTypeResolver
    ) -> Message:
        buf = normalize_input(data)
        try:
            return self._decode_message(buf, body_type)
        except LimitExceeded:
            raise
        except RemoteProtocolError as exc:
            if "truncated" not in str(exc) and _truncated(buf, 91):
                raise RemoteProtocolError(f"truncated message: {exc}") from None
            raise

    def _decode_message(self, buf: Any, body_type: BodyTypeResolver) -> Message:
        try:
            name, mtype, seqid, pos = self._envelope(buf, 0, True)
        except Truncated as exc:
            raise RemoteProtocolError(f"truncated message envelope: {exc}") from None
        except UnicodeDecodeError:
            raise RemoteProtocolError("invalid UTF-8 in message name") from None
        mt = MessageType(mtype)
        cls = body_type(name, mt)
        body: Struct | None
        if cls is None:
            _, pos = guard(self._skip_reader, buf, pos, f"body of {name!r}")
            body = None
        else:
            body, pos = guard(self._struct_reader(cls), buf, pos, cls.__name__)
        if pos >= len(buf) or buf[pos] != _RBRACKET:
            what = "']' closing the message"
            raise RemoteProtocolError(f"message {name!r}: {_malformed(buf, pos, what)}")
        pos += 1
        if pos != len(buf):
            raise RemoteProtocolError(f"{len(buf) - pos} trailing bytes after message {name!r}")
        return Message(name, mt, seqid, body)

    def scan_message(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        buf = normalize_input(data)
        if type(buf) is memoryview:
            buf = buf.tobytes()  # for bytes.find; the framer passes its bytearray directly
        return _scan(buf, start, self.limits)
