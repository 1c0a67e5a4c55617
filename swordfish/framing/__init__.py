"""Sans-IO framing: a byte stream <-> whole messages.

``wire_format(protocol, transport)`` is the one place that turns the ``protocol=`` and
``transport=`` options every driver accepts into a codec and a framer factory; the drivers
call it instead of pairing ``get_codec`` with ``make_framer`` themselves, so THeader (whose
"protocol" is really framing around binary or compact) is mapped once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..codec import CODEC_NAMES, get_codec
from ..codec.base import Codec
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer, MessageFramer
from .framed import FramedFramer
from .header import TRANSFORMS as HEADER_TRANSFORMS
from .header import HeaderFramer, StreamFramer
from .unframed import UnframedFramer
from .zlib import ZlibFramer

__all__ = [
    "HEADER_PROTOCOLS",
    "HEADER_TRANSFORMS",
    "PROTOCOLS",
    "TRANSPORTS",
    "FramedFramer",
    "Framer",
    "HeaderFramer",
    "MessageFramer",
    "UnframedFramer",
    "WireFormat",
    "ZlibFramer",
    "make_framer",
    "wire_format",
]

#: Names accepted by ``make_framer`` (and the CLI's --transport).
TRANSPORTS = ("buffered", "framed", "zlib")
#: THeader "protocols": header frames around the named codec (Apache ``THeaderProtocol``
#: with ``default_protocol`` binary or compact).
HEADER_PROTOCOLS: dict[str, str] = {"header": "binary", "header-compact": "compact"}
#: Every ``protocol=`` a connection can speak: the codecs, then the THeader variants.
PROTOCOLS: tuple[str, ...] = CODEC_NAMES + tuple(HEADER_PROTOCOLS)


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


@dataclass(frozen=True, slots=True)
class WireFormat:
    """A connection's protocol and transport, resolved: the codec and a framer factory.

    For THeader protocols ``codec`` is the codec inside the header frames (what we write;
    peers may name another per message), and the transport says what carries the frames:
    "buffered" puts them straight on the stream (they are self-delimiting), "framed" frames
    them again (an outer length, as Apache's ``THeaderTransport`` over ``TFramedTransport``),
    "zlib" sends them inside one zlib stream (over ``TZlibTransport``).
    header_transforms: THeader payload transforms for what we send (``("zlib",)``).
    """

    protocol: str
    transport: str
    codec: Codec
    limits: Limits
    header_transforms: tuple[str, ...] = ()

    @property
    def is_header(self) -> bool:
        return self.protocol in HEADER_PROTOCOLS

    def new_framer(self, *, server: bool = False) -> Framer:
        """A fresh framer for one connection. ``server``: a THeader server also accepts
        (and answers in kind) peers that speak plain framed or unframed binary/compact."""
        if self.protocol not in HEADER_PROTOCOLS:
            return make_framer(self.transport, self.codec, self.limits)
        limits = self.limits
        outer: Framer | None
        if self.transport == "buffered":
            outer = None
        elif self.transport == "framed":
            outer = FramedFramer(limits)
        else:
            outer = ZlibFramer(self.codec, limits, inner=StreamFramer(limits))
        return HeaderFramer(
            self.codec,
            limits,
            transforms=self.header_transforms,
            accept_plain=server,
            outer=outer,
        )


def wire_format(
    protocol: str,
    transport: str,
    limits: Limits | None = None,
    *,
    header_transforms: Iterable[str] = (),
) -> WireFormat:
    """Resolve ``protocol=`` / ``transport=`` (already checked against the choices) once per
    client or server. ``header_transforms`` applies to THeader protocols only."""
    limits = limits or DEFAULT_LIMITS
    transforms = tuple(header_transforms)
    for name in transforms:
        if name not in HEADER_TRANSFORMS:
            raise ValueError(
                f"unknown THeader transform {name!r}; choose from: {', '.join(HEADER_TRANSFORMS)}"
            )
    if transforms and protocol not in HEADER_PROTOCOLS:
        raise ValueError(
            f"header_transforms apply to the THeader protocols "
            f"({', '.join(HEADER_PROTOCOLS)}), not {protocol!r}"
        )
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; choose one of: {', '.join(TRANSPORTS)}")
    codec = get_codec(HEADER_PROTOCOLS.get(protocol, protocol), limits)
    return WireFormat(protocol, transport, codec, limits, transforms)
