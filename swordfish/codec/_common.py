"""Helpers shared by the pure-Python binary and compact codecs.

Both codecs compile a small "plan" per struct class the first time it is used (encoder and
decoder closures over the field table) and cache it on the class itself, so a hot encode or
decode never re-reads ``StructSpec``. Keeping the cache on the class (not in a global dict)
means plans die with the class when a test reloads an IDL.
"""

from __future__ import annotations

import copy
import keyword
import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import Limits
from ..model.spec import StructKind, TypeSpec
from ..model.struct import Struct
from ..model.ttype import MessageType, TType
from .base import NEED_DATA, BodyTypeResolver, Message

__all__ = [
    "VALUE_ERRORS",
    "attr_expr",
    "check_union",
    "generate_struct_writer",
    "writer_error",
    "assign_lines",
    "build_function",
    "dispatch_tree",
    "forwarding_reader",
    "HASHABLE_TTYPES",
    "MAX_I32",
    "VALID_MESSAGE_TYPES",
    "BadValue",
    "PyCodecBase",
    "Reader",
    "Skipper",
    "Truncated",
    "Writer",
    "as_binary",
    "as_items",
    "as_sequence",
    "as_uuid_bytes",
    "class_plans",
    "describe_value",
    "guard",
    "normalize_input",
    "read_name",
    "struct_class_of",
    "value_type_error",
]

S = TypeVar("S", bound=Struct)

MAX_I32 = 0x7FFFFFFF

#: ``writer(out, value)`` appends the encoding of ``value`` to ``out``.
Writer = Callable[[bytearray, Any], None]
#: ``reader(buf, pos, depth) -> (value, new_pos)``.
Reader = Callable[[Any, int, int], tuple[Any, int]]

#: Element types whose decoded values are hashable, so ``set<T>`` decodes to a Python ``set``.
HASHABLE_TTYPES = frozenset(
    {
        TType.BOOL,
        TType.BYTE,
        TType.I16,
        TType.I32,
        TType.I64,
        TType.DOUBLE,
        TType.STRING,
        TType.UUID,
    }
)

VALID_MESSAGE_TYPES = frozenset({1, 2, 3, 4})


class Truncated(RemoteProtocolError):
    """Input ended inside a value. ``needed`` is the absolute offset the value reaches, if known.

    Internal: ``scan_message`` turns it into ``NEED_DATA``; decoders re-raise it as a plain
    ``RemoteProtocolError`` so callers only ever see the public exception types.
    """

    def __init__(self, message: str, needed: int = -1) -> None:
        super().__init__(message)
        self.needed = needed


class BadValue(Exception):
    """Internal: a value cannot be encoded; the struct writer adds Struct.field and re-raises."""


def class_plans(cls: type) -> dict[Any, Any]:
    """The per-class plan cache (created on first use; never inherited from a base class)."""
    plans = cls.__dict__.get("_sf_pyplans")
    if plans is None:
        plans = {}
        type.__setattr__(cls, "_sf_pyplans", plans)
    return plans


def describe_value(value: object) -> str:
    """Short repr for error messages (values can be huge; never dump a whole blob)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = "<unrepresentable>"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def as_sequence(value: Any) -> Any:
    """A sized iterable for list/set encoding; strings and mappings are refused (likely bugs)."""
    tp = type(value)
    if tp is list or tp is tuple or tp is set or tp is frozenset:
        return value
    if isinstance(value, (str, bytes, bytearray, memoryview, Mapping)):
        raise BadValue(f"expected an iterable of elements, got {describe_value(value)}")
    try:
        return list(value)
    except TypeError:
        raise BadValue(f"expected an iterable, got {describe_value(value)}") from None


def as_items(value: Any) -> Any:
    """(key, value) pairs of a mapping, for map encoding."""
    if type(value) is dict:
        return value.items()
    if isinstance(value, Mapping):
        return list(value.items())
    raise BadValue(f"expected a mapping, got {describe_value(value)}")


def as_binary(value: Any, *, text: bool) -> bytes | bytearray:
    """Bytes of a string (``text=True``: str is UTF-8 encoded) or binary field value.

    String fields also take bytes-like values (sent as-is), which is what code moving from
    thriftpy2 does; binary fields refuse ``str`` because guessing an encoding hides bugs.
    """
    tp = type(value)
    if tp is bytes or tp is bytearray:
        return value  # type: ignore[no-any-return]
    if tp is str:
        if text:
            return value.encode("utf-8")  # type: ignore[no-any-return]
        raise BadValue(f"binary field needs bytes, got {describe_value(value)}")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, str) and text:
        return str(value).encode("utf-8")
    raise BadValue(f"expected {'str' if text else 'bytes'}, got {describe_value(value)}")


def as_uuid_bytes(value: Any) -> bytes:
    """16 raw bytes of a ``uuid.UUID``, 16-byte bytes, or a UUID string."""
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) != 16:
            raise BadValue(f"uuid needs 16 bytes, got {len(raw)}")
        return raw
    if isinstance(value, str):
        try:
            return uuid.UUID(value).bytes
        except ValueError:
            raise BadValue(f"not a UUID string: {describe_value(value)}") from None
    raise BadValue(f"expected uuid.UUID, got {describe_value(value)}")


def normalize_input(data: Any) -> Any:
    """Accept bytes/bytearray/memoryview without copying; odd memoryviews become flat bytes."""
    tp = type(data)
    if tp is bytes or tp is bytearray:
        return data
    if tp is memoryview:
        if data.format == "B" and data.ndim == 1 and data.contiguous:
            return data
        if data.contiguous:
            return data.cast("B")
        return data.tobytes()
    if isinstance(data, (bytes, bytearray)):
        return data
    raise TypeError(f"expected bytes, bytearray or memoryview, got {type(data).__name__}")


def struct_class_of(ts: TypeSpec) -> type[Struct]:
    """The struct class a STRUCT TypeSpec points to (error if the spec was never bound)."""
    cls = ts.struct
    if cls is None or getattr(cls, "__thrift_spec__", None) is None:
        raise LocalProtocolError(f"struct type {ts.describe()} has no bound spec")
    return cls


def value_type_error(cls_name: str, field: str, ts_desc: str, value: object, why: str) -> str:
    """Uniform wording for encode-side value errors (the C codec copies this wording)."""
    detail = f": {why}" if why else ""
    return f"{cls_name}.{field}: cannot encode {describe_value(value)} as {ts_desc}{detail}"


#: ``skip(buf, pos, wire_type, depth) -> new_pos``: validates while skipping.
Skipper = Callable[[Any, int, int, int], int]


def guard(read: Reader, buf: Any, pos: int, what: str) -> tuple[Any, int]:
    """Run a reader at depth 1, turning internal short-input errors into RemoteProtocolError."""
    try:
        return read(buf, pos, 1)
    except Truncated as exc:
        raise RemoteProtocolError(f"truncated {what}: {exc}") from None
    except (struct.error, IndexError):
        raise RemoteProtocolError(f"truncated {what}: input ended at byte {len(buf)}") from None
    except RecursionError:
        raise RemoteProtocolError(f"{what}: nesting too deep to decode") from None


class PyCodecBase:
    """The public codec methods shared by the pure-Python binary and compact codecs.

    A subclass supplies the protocol specifics: ``_struct_writer(cls)``, ``_readers`` (with
    ``struct_reader(cls)``), ``_skip_struct(buf, pos, depth)``, ``_write_envelope(...)`` and
    ``_envelope(buf, pos, decode_name)``. Keeping the entry points in one place keeps the two
    protocols' error behaviour identical (what is truncated, what is trailing, what is a limit).
    """

    name: str
    protocol_id: int
    limits: Limits

    def _struct_writer(self, cls: type[Struct]) -> Writer:
        raise NotImplementedError

    def _struct_reader(self, cls: type[Struct]) -> Reader:
        raise NotImplementedError

    def _skip_struct(self, buf: Any, pos: int, depth: int) -> int:
        raise NotImplementedError

    def _write_envelope(self, out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
        raise NotImplementedError

    def _envelope(self, buf: Any, pos: int, decode_name: bool) -> tuple[str, int, int, int]:
        """(name, type, seqid, body offset); the name is "" when ``decode_name`` is false."""
        raise NotImplementedError

    # -- encoding -------------------------------------------------------------------------

    def _write_top(self, out: bytearray, obj: Struct) -> None:
        cls = type(obj)
        if getattr(cls, "__thrift_spec__", None) is None:
            raise LocalProtocolError(f"cannot encode {describe_value(obj)}: not a Thrift struct")
        try:
            self._struct_writer(cls)(out, obj)
        except RecursionError:
            raise LocalProtocolError(
                f"{cls.__name__}: nesting too deep to encode (a cycle?)"
            ) from None

    def encode_struct(self, obj: Struct) -> bytes:
        out = bytearray()
        self._write_top(out, obj)
        return bytes(out)

    def encode_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> bytes:
        if type(name) is not str:
            raise LocalProtocolError(f"message name must be str, got {describe_value(name)}")
        if (
            isinstance(mtype, bool)
            or not isinstance(mtype, int)
            or mtype not in VALID_MESSAGE_TYPES
        ):
            raise LocalProtocolError(f"invalid message type {mtype!r}")
        if (
            isinstance(seqid, bool)
            or not isinstance(seqid, int)
            or not -MAX_I32 - 1 <= seqid <= MAX_I32
        ):
            raise LocalProtocolError(f"seqid must be a signed 32-bit int, got {seqid!r}")
        try:
            nb = name.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"message name {name!r} is not encodable as UTF-8") from None
        if len(nb) > MAX_I32:
            raise LocalProtocolError("message name too long")
        out = bytearray()
        self._write_envelope(out, nb, int(mtype), int(seqid))
        self._write_top(out, body)
        return bytes(out)

    # -- decoding -------------------------------------------------------------------------

    def decode_struct(self, cls: type[S], data: bytes | bytearray | memoryview) -> S:
        buf = normalize_input(data)
        obj, pos = guard(self._struct_reader(cls), buf, 0, cls.__name__)
        if pos != len(buf):
            raise RemoteProtocolError(
                f"{len(buf) - pos} trailing bytes after {cls.__name__} ({len(buf)} bytes)"
            )
        return obj  # type: ignore[no-any-return]

    def decode_message(
        self, data: bytes | bytearray | memoryview, body_type: BodyTypeResolver
    ) -> Message:
        buf = normalize_input(data)
        try:
            name, mtype, seqid, pos = self._envelope(buf, 0, True)
        except Truncated as exc:
            raise RemoteProtocolError(f"truncated message envelope: {exc}") from None
        except (struct.error, IndexError):
            raise RemoteProtocolError(f"truncated message envelope ({len(buf)} bytes)") from None
        mt = MessageType(mtype)
        cls = body_type(name, mt)
        body: Struct | None
        if cls is None:
            _, pos = guard(self._skip_reader, buf, pos, f"body of {name!r}")
            body = None
        else:
            body, pos = guard(self._struct_reader(cls), buf, pos, cls.__name__)
        if pos != len(buf):
            raise RemoteProtocolError(f"{len(buf) - pos} trailing bytes after message {name!r}")
        return Message(name, mt, seqid, body)

    def _skip_reader(self, buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        return None, self._skip_struct(buf, pos, depth)

    def scan_message(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        buf = normalize_input(data)
        maxf = self.limits.max_frame_size
        needed = -1
        try:
            _, _, _, pos = self._envelope(buf, start, False)
            pos = self._skip_struct(buf, pos, 1)
        except Truncated as exc:
            needed = exc.needed
        except (struct.error, IndexError):
            pass
        except RecursionError:
            raise RemoteProtocolError("message nesting too deep to scan") from None
        else:
            total = pos - start
            if total > maxf:
                raise LimitExceeded(f"message of {total} bytes exceeds max_frame_size={maxf}")
            return total
        seen = max(len(buf), needed) - start
        if seen > maxf:
            raise LimitExceeded(f"message of at least {seen} bytes exceeds max_frame_size={maxf}")
        return NEED_DATA


def read_name(buf: Any, pos: int, n: int, decode: bool, maxs: int) -> tuple[str, int]:
    """The message name of ``n`` bytes at ``pos`` (checked before slicing)."""
    if n < 0 or n > MAX_I32:
        raise RemoteProtocolError(f"negative message name length {n}")
    if n > maxs:
        raise LimitExceeded(f"message name of {n} bytes exceeds max_string_size={maxs}")
    end = pos + n
    if end > len(buf):
        raise Truncated(f"message name of {n} bytes", end)
    if not decode:
        return "", end
    try:
        return str(buf[pos:end], "utf-8"), end
    except UnicodeDecodeError:
        raise RemoteProtocolError("invalid UTF-8 in message name") from None


# --------------------------------------------------------------------------------------------
# Generated struct readers
# --------------------------------------------------------------------------------------------
#
# A struct reader is the innermost loop of decoding, so each struct class gets its own small
# function, generated once: field values live in local variables, the (wire type, id) key is
# matched by a balanced tree of integer comparisons, and slots are assigned once at the end.
# This is the technique dataclasses and namedtuple use; it roughly halves decode time compared
# with a table-driven loop. Only trusted text goes into the source: integers we computed and
# field names that are valid identifiers (others are assigned through setattr).


def dispatch_tree(
    keys: list[int], bodies: dict[int, list[str]], default: list[str], indent: str
) -> list[str]:
    """``if key == K`` chains under a binary search on ``key`` (keys sorted ascending)."""
    if len(keys) <= 3:
        lines: list[str] = []
        for i, k in enumerate(keys):
            lines.append(f"{indent}{'if' if i == 0 else 'elif'} key == {k}:")
            lines.extend(f"{indent}    {b}" for b in bodies[k])
        if lines:
            lines.append(f"{indent}else:")
            lines.extend(f"{indent}    {b}" for b in default)
        else:
            lines.extend(f"{indent}{b}" for b in default)
        return lines
    mid = len(keys) // 2
    return (
        [f"{indent}if key < {keys[mid]}:"]
        + dispatch_tree(keys[:mid], bodies, default, indent + "    ")
        + [f"{indent}else:"]
        + dispatch_tree(keys[mid:], bodies, default, indent + "    ")
    )


def assign_lines(cls: type[Struct], namespace: dict[str, Any], indent: str) -> list[str]:
    """Statements creating ``obj`` and storing local ``v<i>`` into each field slot.

    A field absent from the input gets its IDL default (a fresh copy when mutable), as Apache
    and thriftpy2 readers do, so a default declared in the IDL survives a peer that omits it.
    """
    names = cls._sf_names
    lines = []
    for i, (_name, default, mutable) in enumerate(cls._sf_init):
        if default is None:
            continue
        namespace[f"dflt{i}"] = default
        if mutable:
            namespace["deepcopy"] = copy.deepcopy
            lines.append(f"{indent}if v{i} is None: v{i} = deepcopy(dflt{i})")
        else:
            lines.append(f"{indent}if v{i} is None: v{i} = dflt{i}")
    lines.append(f"{indent}obj = new(cls)")
    for i, name in enumerate(names):
        if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__"):
            lines.append(f"{indent}obj.{name} = v{i}")
        else:
            lines.append(f"{indent}setter(obj, names[{i}], v{i})")
    return lines


def build_function(source: str, namespace: dict[str, Any], name: str) -> Any:
    """Execute generated ``source`` in ``namespace`` and return the function ``name``."""
    code = compile(source, f"<swordfish generated {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built from integers and identifiers only
    return namespace[name]


def forwarding_reader() -> tuple[Reader, list[Reader]]:
    """A stand-in reader for a struct still being compiled (recursive types).

    Returns the stub and the one-element list its target goes into once it exists.
    """
    target: list[Reader] = []

    def forward(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        return target[0](buf, pos, depth)

    return forward, target


# --------------------------------------------------------------------------------------------
# Generated struct writers
# --------------------------------------------------------------------------------------------


def attr_expr(names: tuple[str, ...], i: int) -> str:
    """Source reading field ``i`` of ``obj`` (plain attribute access when the name allows)."""
    name = names[i]
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__"):
        return f"obj.{name}"
    return f"getattr(obj, names[{i}])"


def writer_error(cls: type[Struct], index: int, obj: Any, exc: BaseException) -> LocalProtocolError:
    """The LocalProtocolError for a value of field ``index`` that could not be encoded."""
    fields = cls.__thrift_spec__.fields
    if not 0 <= index < len(fields):
        return LocalProtocolError(f"cannot encode {describe_value(obj)}: {exc}")
    f = fields[index]
    if isinstance(exc, BadValue):
        why = str(exc)
    elif isinstance(exc, KeyError):
        why = "not a bool"
    else:
        why = str(exc)
    value = getattr(obj, f.name, None)
    return LocalProtocolError(value_type_error(cls.__name__, f.name, f.type.describe(), value, why))


def check_union(cls: type[Struct], obj: Any) -> None:
    """Unions encode whichever single field is set; two or more set is a LocalProtocolError."""
    present = [n for n in cls._sf_names if getattr(obj, n) is not None]
    if len(present) > 1:
        raise LocalProtocolError(
            f"union {cls.__name__} has {len(present)} fields set ({', '.join(present)}); "
            "exactly one may be set"
        )


#: Exceptions a value writer may raise for a bad value (reported as LocalProtocolError).
VALUE_ERRORS = (
    struct.error,
    TypeError,
    ValueError,
    OverflowError,
    KeyError,
    AttributeError,
    BadValue,
)


def generate_struct_writer(
    cls: type[Struct],
    bodies: list[list[str]],
    ns: dict[str, Any],
    prologue: list[str],
    epilogue: list[str],
) -> Writer:
    """Generate ``write(out, obj)`` for ``cls``: one block per field, in declaration order.

    ``bodies[i]`` is the protocol's source writing field ``i`` from local ``v`` (never None
    there); this function adds reading the attribute, the required-field check, the union
    check and turning value errors into LocalProtocolError naming ``Struct.field``.
    """
    spec = cls.__thrift_spec__
    names = cls._sf_names
    ns.update(
        {
            "cls": cls,
            "names": names,
            "LocalProtocolError": LocalProtocolError,
            "VALUE_ERRORS": VALUE_ERRORS,
            "writer_error": writer_error,
            "check_union": check_union,
        }
    )
    lines = ["def write(out, obj):", "    fi = -1"]
    lines += [f"    {p}" for p in prologue]
    lines.append("    try:")
    if spec.kind == StructKind.UNION:
        lines.append("        check_union(cls, obj)")
    for i, f in enumerate(spec.fields):
        lines += [
            f"        fi = {i}",
            f"        v = {attr_expr(names, i)}",
            "        if v is not None:",
        ]
        lines += [f"            {b}" for b in bodies[i]]
        if f.required:
            ns[f"req{i}"] = f"required field {cls.__name__}.{f.name} is unset"
            lines += ["        else:", f"            raise LocalProtocolError(req{i})"]
    lines += [
        "        pass",
        "    except LocalProtocolError:",
        "        raise",
        "    except VALUE_ERRORS as exc:",
        "        raise writer_error(cls, fi, obj, exc) from None",
    ]
    lines += [f"    {e}" for e in epilogue]
    return build_function("\n".join(lines) + "\n", ns, "write")  # type: ignore[no-any-return]
