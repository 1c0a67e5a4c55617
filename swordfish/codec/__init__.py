"""Codecs: objects <-> bytes for each Thrift protocol, and THE accelerator switch.

This module is the only place that decides between the pure-Python codecs and the C ones, so
the rest of the code never rebinds names depending on what was built. ``get_codec`` picks the
C implementation when it exists and ``SWORDFISH_NO_EXTENSIONS=1`` is not set; the explicit
``...Py`` / ``...C`` names stay importable so tests can run every implementation.

Wire protocols (``CODEC_NAMES``, what servers, clients and the CLI accept): "binary" and
"compact" (C accelerated when built) and "json" (Apache's TJSONProtocol, pure Python only: it
has no C twin, so it works the same with or without the extension and does not count towards
``USING_EXTENSIONS``). "simplejson" is write-only (its output carries no types, so nothing can
decode it); it is in ``DUMPS_PROTOCOLS`` for ``dumps`` but not in ``CODEC_NAMES``, so no
server or client can be configured to speak it, and ``get_codec`` refuses it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, TypeVar

from ..limits import DEFAULT_LIMITS, Limits
from ..model.struct import Struct
from .base import NEED_DATA, BodyTypeResolver, Codec, Message
from .binary import BinaryCodecPy
from .compact import CompactCodecPy
from .json import JSONCodecPy
from .simplejson import WRITE_ONLY_MESSAGE, SimpleJSONCodecPy

__all__ = [
    "CODEC_NAMES",
    "DUMPS_PROTOCOLS",
    "NEED_DATA",
    "USING_EXTENSIONS",
    "BinaryCodec",
    "BinaryCodecC",
    "BinaryCodecPy",
    "BodyTypeResolver",
    "Codec",
    "CompactCodec",
    "CompactCodecC",
    "CompactCodecPy",
    "JSONCodec",
    "JSONCodecPy",
    "Message",
    "SimpleJSONCodecPy",
    "WRITE_ONLY_NAMES",
    "dumps",
    "get_codec",
    "loads",
]

S = TypeVar("S", bound=Struct)

#: True when ``SWORDFISH_NO_EXTENSIONS=1`` forces the pure-Python codecs.
NO_EXTENSIONS = os.environ.get("SWORDFISH_NO_EXTENSIONS", "") not in ("", "0")

# --- C accelerator ------------------------------------------------------------------------
# The only import of ``_speedups`` in the package: everything else goes through get_codec /
# BinaryCodec / CompactCodec below. A missing build leaves the C names None (the tests fail
# on that under CI=true); SWORDFISH_NO_EXTENSIONS=1 does not even try to import it.
BinaryCodecC: Any = None
CompactCodecC: Any = None
if not NO_EXTENSIONS:
    # importlib, not `from .._speedups import`: the extension sits outside the layering
    # (import-linter cannot see into a compiled module and would charge this import to the
    # package root). Its stub, swordfish/_speedups.pyi, declares the classes as Codec
    # implementations, so mypy checks their signatures against the Codec protocol.
    try:
        _speedups = importlib.import_module("swordfish._speedups")
    except ImportError:  # not built (no compiler, or installed with extensions disabled)
        pass
    else:
        BinaryCodecC = _speedups.BinaryCodecC
        CompactCodecC = _speedups.CompactCodecC
# -------------------------------------------------------------------------------------------

#: The implementation ``get_codec`` uses for each protocol.
BinaryCodec: Any = BinaryCodecPy if NO_EXTENSIONS or BinaryCodecC is None else BinaryCodecC
CompactCodec: Any = CompactCodecPy if NO_EXTENSIONS or CompactCodecC is None else CompactCodecC
USING_EXTENSIONS = BinaryCodec is not BinaryCodecPy or CompactCodec is not CompactCodecPy
#: JSON has only the pure-Python implementation (not a hot path), whatever was built.
JSONCodec: Any = JSONCodecPy

_FACTORIES: dict[str, Any] = {"binary": BinaryCodec, "compact": CompactCodec, "json": JSONCodec}
#: Wire protocols: what servers, clients and the CLI accept.
CODEC_NAMES: tuple[str, ...] = tuple(_FACTORIES)

# Write-only formats: ``dumps`` produces them, nothing reads them, no connection speaks them.
_WRITE_ONLY: dict[str, Any] = {"simplejson": SimpleJSONCodecPy}
WRITE_ONLY_NAMES: tuple[str, ...] = tuple(_WRITE_ONLY)
#: Every ``protocol=`` that ``dumps`` accepts.
DUMPS_PROTOCOLS: tuple[str, ...] = CODEC_NAMES + WRITE_ONLY_NAMES


def get_codec(name: str, limits: Limits | None = None, **options: Any) -> Codec:
    """The codec for wire protocol ``name`` ("binary", "compact" or "json").

    ``options`` go to the codec's constructor (binary: ``strict_write``, ``strict_read``).
    A write-only format ("simplejson") is refused: a codec must decode what it encodes.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        if name in _WRITE_ONLY:
            raise ValueError(f"{WRITE_ONLY_MESSAGE}; write it with dumps(obj, protocol={name!r})")
        valid = ", ".join(repr(n) for n in CODEC_NAMES)
        raise ValueError(f"unknown protocol {name!r}; valid protocols: {valid}")
    codec: Codec = factory(DEFAULT_LIMITS if limits is None else limits, **options)
    return codec


_DEFAULT_CODECS: dict[str, Codec] = {}


def _default_codec(protocol: str, limits: Limits | None) -> Codec:
    if limits is not None:
        return get_codec(protocol, limits)
    codec = _DEFAULT_CODECS.get(protocol)
    if codec is None:
        codec = _DEFAULT_CODECS[protocol] = get_codec(protocol)
    return codec


def dumps(obj: Struct, protocol: str = "binary", limits: Limits | None = None) -> bytes:
    """Serialize one struct (no message envelope) with the named protocol.

    ``protocol`` is any of ``DUMPS_PROTOCOLS``: a wire protocol, or "simplejson" for readable
    JSON keyed by field name (write-only: ``loads`` cannot read it back).
    """
    write_only = _WRITE_ONLY.get(protocol)
    if write_only is not None:
        encoded: bytes = write_only(DEFAULT_LIMITS if limits is None else limits).encode_struct(obj)
        return encoded
    return _default_codec(protocol, limits).encode_struct(obj)


def loads(
    cls: type[S],
    data: bytes | bytearray | memoryview,
    protocol: str = "binary",
    limits: Limits | None = None,
) -> S:
    """Deserialize one struct of class ``cls`` that occupies all of ``data``.

    ``protocol`` is one of ``CODEC_NAMES`` ("simplejson" is write-only: ``ValueError``).
    """
    return _default_codec(protocol, limits).decode_struct(cls, data)
