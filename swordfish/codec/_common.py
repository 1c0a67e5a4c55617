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
from collections.abc import Callable, Hashable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from ..model.spec import StructKind, StructSpec, TypeSpec
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
    "compiled_plan",
    "count_checker",
    "forwarding_reader",
    "forwarding_writer",
    "PlanReaders",
    "PlanWriters",
    "read_uuid",
    "struct_value_writer",
    "unhashable_reader",
    "write_uuid",
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
#: A compiled plan: a ``Writer`` or a ``Reader``.
P = TypeVar("P", bound=Callable[..., Any])

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


def compiled_plan(
    cls: type[Struct],
    key: Hashable,
    pending: dict[type, P] | None,
    build: Callable[[type[Struct], dict[type, P]], P],
    forwarder: Callable[[], tuple[P, list[P]]],
) -> P:
    """The plan ``key`` of ``cls``: cached on the class, else compiled by ``build``.

    ``pending`` is None at the top level: a private table is made, ``build`` fills it (nested
    struct types recurse through here with it), and its plans are published on their classes
    only when all are complete, so another thread never picks up a half-built plan. Inside a
    compilation, a class met again (a recursive type) gets the stand-in from ``forwarder``,
    which forwards to the real plan once it exists. ``build(cls, pending)`` supplies only the
    protocol-specific compilation.
    """
    plan: P | None = class_plans(cls).get(key)
    if plan is not None:
        return plan
    if pending is None:
        pending = {}
        compiled_plan(cls, key, pending, build, forwarder)
        for c, fn in pending.items():
            class_plans(c).setdefault(key, fn)
        return class_plans(cls)[key]  # type: ignore[no-any-return]
    plan = pending.get(cls)
    if plan is not None:
        return plan
    # Register a stand-in first: a recursive field reaches this class again.
    forward, target = forwarder()
    pending[cls] = forward
    plan = build(cls, pending)
    target.append(plan)
    pending[cls] = plan
    return plan


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


def write_uuid(out: bytearray, v: Any) -> None:
    """uuid is 16 raw bytes in both protocols."""
    out += v.bytes if type(v) is uuid.UUID else as_uuid_bytes(v)


def read_uuid(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
    """A ``uuid.UUID`` from 16 raw bytes (both protocols)."""
    end = pos + 16
    if end > len(buf):
        raise Truncated("truncated uuid", end)
    return uuid.UUID(bytes=bytes(buf[pos:end])), end


def unhashable_reader(ts: TypeSpec) -> Reader:
    """A reader refusing a struct/map where a hashable value (map key, set member) is needed."""

    def read(buf: Any, pos: int, depth: int) -> tuple[Any, int]:
        raise RemoteProtocolError(f"{ts.describe()} cannot be decoded as a map key or set member")

    return read


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
    #: The protocol module's plan tables: its writers (shared by every instance), its readers'
    #: class (one set per Limits) and its wire code for "struct" (what skipping a struct reads).
    _writers: ClassVar[Any]
    _readers_type: ClassVar[Any]
    _struct_code: ClassVar[int]

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
        self.limits = limits
        self._readers = self._readers_type.for_limits(limits)
        self._skip = self._readers.skip

    def _struct_writer(self, cls: type[Struct]) -> Writer:
        writer: Writer = self._writers.struct_writer(cls)
        return writer

    def _struct_reader(self, cls: type[Struct]) -> Reader:
        reader: Reader = self._readers.struct_reader(cls)
        return reader

    def _skip_struct(self, buf: Any, pos: int, depth: int) -> int:
        end: int = self._skip(buf, pos, self._struct_code, depth)
        return end

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


def forwarding_writer() -> tuple[Writer, list[Writer]]:
    """A stand-in writer for a struct still being compiled (see ``forwarding_reader``)."""
    target: list[Writer] = []

    def forward(out: bytearray, obj: Any) -> None:
        target[0](out, obj)

    return forward, target


def struct_value_writer(cls: type[Struct], sw: Writer) -> Writer:
    """A struct-typed value: check it is a ``cls`` instance, then write it with ``sw``."""

    def write(out: bytearray, v: Any) -> None:
        if not isinstance(v, cls):
            raise BadValue(f"expected {cls.__name__}, got {describe_value(v)}")
        sw(out, v)

    return write


# --------------------------------------------------------------------------------------------
# Plan compilers (compile time only: the closures and generated functions they return are the
# hot path, and nothing here sits between them at encode/decode time)
# --------------------------------------------------------------------------------------------


class PlanWriters:
    """Builds a protocol's writers: value writers by type, struct writers cached per class.

    A subclass supplies the wire specifics: ``key`` (the plan cache key), ``scalar_writers``
    (by TType), ``string_writers`` ((text, binary)), ``list_writer``, ``map_writer`` and
    ``build_struct_writer``. ``pending`` is the private table of a compilation in progress
    (see ``compiled_plan``).
    """

    key: str
    scalar_writers: dict[int, Writer]
    string_writers: tuple[Writer, Writer]

    def struct_writer(self, cls: type[Struct], pending: dict[type, Writer] | None = None) -> Writer:
        """Writer for the fields + STOP of ``cls``, cached on the class."""
        return compiled_plan(cls, self.key, pending, self.build_struct_writer, forwarding_writer)

    def writer(self, ts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        """The writer for a value of type ``ts`` (no field header)."""
        t = int(ts.ttype)
        w = self.scalar_writers.get(t)
        if w is not None:
            return w
        if t == TType.STRING:
            return self.string_writers[1] if ts.binary else self.string_writers[0]
        if t == TType.STRUCT:
            cls = struct_class_of(ts)
            return struct_value_writer(cls, self.struct_writer(cls, pending))
        if t == TType.LIST or t == TType.SET:
            assert ts.value is not None, "list/set TypeSpec without element type"
            return self.list_writer(t, ts.value, pending)
        if t == TType.MAP:
            assert ts.key is not None and ts.value is not None, "map TypeSpec without key/value"
            return self.map_writer(ts.key, ts.value, pending)
        raise LocalProtocolError(f"cannot encode values of type {ts.describe()}")

    def list_writer(self, t: int, ets: TypeSpec, pending: dict[type, Writer]) -> Writer:
        raise NotImplementedError

    def map_writer(self, kts: TypeSpec, vts: TypeSpec, pending: dict[type, Writer]) -> Writer:
        raise NotImplementedError

    def build_struct_writer(self, cls: type[Struct], pending: dict[type, Writer]) -> Writer:
        """Compile the struct writer of ``cls`` (usually via ``generate_struct_writer``)."""
        raise NotImplementedError


#: ``check(what, n, pos, minsize, buf)``: validates a container count before allocating.
CountChecker = Callable[[str, int, int, int, Any], None]


def count_checker(maxc: int) -> CountChecker:
    """The count check of readers and skippers: ``n`` elements against ``max_container_size``
    and against the bytes left (each element takes at least ``minsize``), before allocating.
    Binary counts are signed i32 on the wire; compact sizes are never negative by then (the
    varint reader refuses them), so for compact the first test never fires.
    """

    def check(what: str, n: int, pos: int, minsize: int, buf: Any) -> None:
        if n < 0:
            raise RemoteProtocolError(f"negative {what} size {n}")
        if n > maxc:
            raise LimitExceeded(f"{what} of {n} elements exceeds max_container_size={maxc}")
        need = pos + n * minsize
        if need > len(buf):
            raise Truncated(f"truncated {what}: {n} elements cannot fit in the input", need)

    return check


#: Reader sets by (subclass, Limits): one set of compiled readers per protocol and limits.
_READER_SETS: dict[tuple[type, Limits], Any] = {}


class PlanReaders:
    """Compiled readers and the validating skipper of one protocol for one ``Limits`` value.

    Readers are closures over the limits they enforce, so plans are cached per limits. A
    subclass supplies the wire specifics: ``key_prefix``, ``make_skipper``, ``scalar_reader``,
    ``string_reader``, ``list_reader``, ``map_reader`` and ``build_struct_reader``.
    """

    key_prefix: str

    def __init__(self, limits: Limits, skip: Skipper | None = None) -> None:
        self.limits = limits
        #: Plans being compiled by this (private, per-compilation) instance, by class.
        self.pending: dict[type, Reader] | None = None
        self.key = (self.key_prefix, limits)
        self.skip = self.make_skipper(limits) if skip is None else skip
        #: The container count check the list/map readers call.
        self.count = count_checker(limits.max_container_size)

    @classmethod
    def for_limits(cls, limits: Limits) -> Self:
        """The shared instance for ``limits`` (made on first use)."""
        r = _READER_SETS.get((cls, limits))
        if r is None:
            r = _READER_SETS[(cls, limits)] = cls(limits)
        return r

    def make_skipper(self, limits: Limits) -> Skipper:
        raise NotImplementedError

    # -- struct ---------------------------------------------------------------------------

    def struct_reader(self, cls: type[Struct]) -> Reader:
        """Reader for ``cls``, cached on the class; published only once complete."""
        return compiled_plan(cls, self.key, self.pending, self._compile_struct, forwarding_reader)

    def _compile_struct(self, cls: type[Struct], pending: dict[type, Reader]) -> Reader:
        if pending is not self.pending:
            # A new compilation: run it on a private instance, so the shared one never holds
            # the state of a compilation in progress (nested readers reach it via self).
            compiler = type(self)(self.limits, self.skip)
            compiler.pending = pending
            return compiler._compile_struct(cls, pending)
        spec = getattr(cls, "__thrift_spec__", None)
        if spec is None:
            raise LocalProtocolError(f"{cls.__name__} has no bound spec")
        return self.build_struct_reader(cls, spec)

    def build_struct_reader(self, cls: type[Struct], spec: StructSpec) -> Reader:
        """Compile the reader of ``cls`` (usually via ``generate_struct_reader``)."""
        raise NotImplementedError

    def generate_struct_reader(
        self,
        cls: type[Struct],
        ns: dict[str, Any],
        bodies: dict[int, list[str]],
        default: list[str],
        prologue: list[str],
        field_key: list[str],
        end: str,
    ) -> Reader:
        """Generate ``read(buf, pos, depth)`` for ``cls`` around the protocol's parts.

        ``field_key`` is the loop body that reads one field header into ``key`` (breaking on
        STOP), ``bodies[key]`` read the value into local ``v<i>``, ``default`` skips anything
        else, and ``end`` is the returned offset. This adds the depth check, the UTF-8 error
        naming ``Struct.field``, defaults and the slot assignments.
        """
        names = cls._sf_names
        ns.update(
            {
                "new": cls.__new__,
                "cls": cls,
                "names": names,
                "setter": object.__setattr__,
                "maxd": self.limits.max_depth,
                "skip": self.skip,
                "LimitExceeded": LimitExceeded,
                "RemoteProtocolError": RemoteProtocolError,
                "cname": cls.__name__,
            }
        )
        lines = [
            "def read(buf, pos, depth):",
            "    if depth > maxd:",
            "        raise LimitExceeded(cname + ': nesting deeper than max_depth=' + str(maxd))",
            "    d1 = depth + 1",
            "    fi = 0",
        ]
        lines += [f"    {p}" for p in prologue]
        if names:
            lines.append("    " + " = ".join(f"v{i}" for i in range(len(names))) + " = None")
        lines += ["    try:", "        while True:"]
        lines += [f"            {k}" for k in field_key]
        lines += dispatch_tree(sorted(bodies), bodies, default, " " * 12)
        lines += [
            "    except UnicodeDecodeError:",
            "        raise RemoteProtocolError(",
            "            'invalid UTF-8 in ' + cname + '.' + names[fi]) from None",
        ]
        lines += assign_lines(cls, ns, "    ")
        lines.append(f"    return obj, {end}")
        return build_function("\n".join(lines) + "\n", ns, "read")  # type: ignore[no-any-return]

    # -- values ---------------------------------------------------------------------------

    def reader(self, ts: TypeSpec, hashable: bool = False) -> Reader:
        """Reader for a value of type ``ts``; ``hashable``: the value is (inside) a map key."""
        t = int(ts.ttype)
        r = self.scalar_reader(t)
        if r is not None:
            return r
        if t == TType.STRING:
            return self.string_reader(ts.binary)
        if t == TType.STRUCT:
            if hashable:
                return unhashable_reader(ts)
            return self.struct_reader(struct_class_of(ts))
        if t == TType.LIST or t == TType.SET:
            assert ts.value is not None, "list/set TypeSpec without element type"
            return self.list_reader(t, ts.value, hashable)
        if t == TType.MAP:
            if hashable:
                return unhashable_reader(ts)
            assert ts.key is not None and ts.value is not None, "map TypeSpec without key/value"
            return self.map_reader(ts.key, ts.value)
        raise LocalProtocolError(f"cannot decode values of type {ts.describe()}")

    def scalar_reader(self, t: int) -> Reader | None:
        """The reader of a fixed-shape type ``t`` (bool, numbers, uuid), else None."""
        raise NotImplementedError

    def string_reader(self, binary: bool) -> Reader:
        raise NotImplementedError

    def list_reader(self, t: int, ets: TypeSpec, hashable: bool) -> Reader:
        raise NotImplementedError

    def map_reader(self, kts: TypeSpec, vts: TypeSpec) -> Reader:
        raise NotImplementedError
