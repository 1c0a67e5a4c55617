"""Sans-IO framing: a byte stream <-> whole messages."""

from __future__ import annotations

from ..codec.base import Codec
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer
from .framed import FramedFramer
from .unframed import UnframedFramer

__all__ = ["Framer", "FramedFramer", "UnframedFramer", "make_framer", "TRANSPORTS"]

#: Names accepted by ``make_framer`` (and the CLI's --transport).
TRANSPORTS = ("buffered", "framed")


def make_framer(name: str, codec: Codec, limits: Limits | None = None) -> Framer:
    """A fresh framer for one connection (framers hold per-connection buffers)."""
    limits = limits or DEFAULT_LIMITS
    if name == "buffered":
        return UnframedFramer(codec, limits)
    if name == "framed":
        return FramedFramer(limits)
    raise ValueError(f"unknown transport {name!r}; choose one of: {', '.join(TRANSPORTS)}")
