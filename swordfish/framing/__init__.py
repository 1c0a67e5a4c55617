"""Sans-IO framing: a byte stream <-> whole messages."""

from __future__ import annotations

from ..codec.base import Codec
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer
from .framed import FramedFramer
from .unframed import UnframedFramer
from .zlib import ZlibFramer

__all__ = ["Framer", "FramedFramer", "UnframedFramer", "ZlibFramer", "make_framer", "TRANSPORTS"]

#: Names accepted by ``make_framer`` (and the CLI's --transport).
TRANSPORTS = ("buffered", "framed", "zlib")


def make_framer(name: str, codec: Codec, limits: Limits | None = None) -> Framer:
    """A fresh framer for one connection (framers hold per-connection buffers and, for zlib,
    the compression state of each direction)."""
    limits = limits or DEFAULT_LIMITS
    if name == "buffered":
        return UnframedFramer(codec, limits)
    if name == "framed":
        return FramedFramer(limits)
    if name == "zlib":
        return ZlibFramer(codec, limits)
    raise ValueError(f"unknown transport {name!r}; choose one of: {', '.join(TRANSPORTS)}")
