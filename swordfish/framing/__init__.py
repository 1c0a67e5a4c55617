"""Sans-IO framing: a byte stream <-> whole messages.

``wire_format(protocol, transport)`` is the one place that turns the ``protocol=`` and
``transport=`` options every driver accepts into a codec and a framer factory; the drivers
call it instead of pairing ``get_codec`` with ``make_framer`` themselves, so THeader (whose
"protocol" is really framing around binary or compact) is mapped once.

Servers may also detect what each connection speaks: ``wire_format(..., detect=...)`` (the
servers' ``detect=`` option, read by ``detection``) makes ``new_framer(server=True)`` return a
``DetectingFramer`` accepting those formats (see ``framing.detect``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..codec import CODEC_NAMES, get_codec
from ..codec.base import Codec
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer, MessageFramer
from .detect import DETECT_PROTOCOLS, DETECT_TRANSPORTS, DetectingFramer
from .framed import FramedFramer
from .header import TRANSFORMS as HEADER_TRANSFORMS
from .header import HeaderFramer, StreamFramer
from .unframed import UnframedFramer
from .zlib import ZlibFramer

__all__ = [
    "DETECT_NAMES",
    "HEADER_PROTOCOLS",
    "HEADER_TRANSFORMS",
    "PROTOCOLS",
    "TRANSPORTS",
    "DetectingFramer",
    "Detection",
    "FramedFramer",
    "Framer",
    "HeaderFramer",
    "MessageFramer",
    "UnframedFramer",
    "WireFormat",
    "ZlibFramer",
    "detection",
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


#: Names a server's ``detect=`` accepts: protocols, then transports. "header-compact" is the
#: same as "header" there (each THeader frame names its own protocol, binary or compact).
DETECT_NAMES: tuple[str, ...] = (*DETECT_PROTOCOLS, "header-compact", *DETECT_TRANSPORTS)


@dataclass(frozen=True, slots=True)
class Detection:
    """What a detecting server accepts: every pairing of ``protocols`` with ``transports``
    (``str()`` reads "binary, compact, json, header over buffered, framed, zlib")."""

    protocols: tuple[str, ...] = DETECT_PROTOCOLS
    transports: tuple[str, ...] = DETECT_TRANSPORTS

    def __str__(self) -> str:
        return f"{', '.join(self.protocols)} over {', '.join(self.transports)}"


def detection(detect: object) -> Detection | None:
    """Read a server's ``detect=`` option.

    ``False`` / ``None``: no detection (``None``). ``True``: everything detectable. A name or
    a sequence of names restricts it: protocol names ("binary", "compact", "json", "header")
    limit the protocols, transport names ("buffered", "framed", "zlib") the transports, and a
    kind given no name keeps all of its own: ``("compact", "framed")`` is compact over framed
    only, ``("framed",)`` every protocol over framed. ``ValueError`` names the option.
    """
    if detect is None or detect is False:
        return None
    if detect is True:
        return Detection()
    names: tuple[object, ...]
    if isinstance(detect, str):
        names = (detect,)
    elif isinstance(detect, Iterable) and not isinstance(detect, (bytes, bytearray)):
        names = tuple(detect)
    else:
        raise ValueError(f"detect must be True, False, or protocol/transport names, got {detect!r}")
    if not names:
        raise ValueError("detect: give True, or at least one protocol or transport name")
    protocols: list[str] = []
    transports: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in DETECT_NAMES:
            raise ValueError(
                f"detect: unknown name {name!r}; choose protocols from "
                f"{', '.join(DETECT_PROTOCOLS)} and transports from {', '.join(DETECT_TRANSPORTS)}"
            )
        if name in DETECT_TRANSPORTS:
            transports.append(name)
        else:
            protocols.append("header" if name == "header-compact" else name)
    # Canonical order, whatever order the names came in.
    return Detection(
        tuple(p for p in DETECT_PROTOCOLS if p in protocols) or DETECT_PROTOCOLS,
        tuple(t for t in DETECT_TRANSPORTS if t in transports) or DETECT_TRANSPORTS,
    )


@dataclass(frozen=True, slots=True)
class WireFormat:
    """A connection's protocol and transport, resolved: the codec and a framer factory.

    For THeader protocols ``codec`` is the codec inside the header frames (what we write;
    peers may name another per message), and the transport says what carries the frames:
    "buffered" puts them straight on the stream (they are self-delimiting), "framed" frames
    them again (an outer length, as Apache's ``THeaderTransport`` over ``TFramedTransport``),
    "zlib" sends them inside one zlib stream (over ``TZlibTransport``).
    header_transforms: THeader payload transforms for what we send (``("zlib",)``).
    detect: a server's accepted formats when it detects them per connection (``None``: it
        speaks ``protocol`` over ``transport`` only).
    """

    protocol: str
    transport: str
    codec: Codec
    limits: Limits
    header_transforms: tuple[str, ...] = ()
    detect: Detection | None = None

    @property
    def is_header(self) -> bool:
        return self.protocol in HEADER_PROTOCOLS

    def new_framer(self, *, server: bool = False) -> Framer:
        """A fresh framer for one connection. ``server``: a THeader server also accepts
        (and answers in kind) peers that speak plain framed or unframed binary/compact; a
        detecting server gets a ``DetectingFramer`` for its ``detect`` formats."""
        detect = self.detect
        if detect is not None and server:
            return DetectingFramer(
                self.limits,
                protocols=detect.protocols,
                transports=detect.transports,
                header_transforms=self.header_transforms,
            )
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
    detect: object = None,
) -> WireFormat:
    """Resolve ``protocol=`` / ``transport=`` (already checked against the choices) once per
    client or server. ``header_transforms`` applies to THeader protocols only (and to a
    detecting server's THeader connections). ``detect``: a server's ``detect=`` option (see
    ``detection``); servers' framers then detect the format of each connection, and
    ``protocol``/``transport`` are what clients built from the same format speak."""
    limits = limits or DEFAULT_LIMITS
    detected = detection(detect)
    transforms = tuple(header_transforms)
    for name in transforms:
        if name not in HEADER_TRANSFORMS:
            raise ValueError(
                f"unknown THeader transform {name!r}; choose from: {', '.join(HEADER_TRANSFORMS)}"
            )
    if transforms and detected is not None:
        if "header" not in detected.protocols:
            raise ValueError(
                f"header_transforms apply to THeader connections, and detect accepts none "
                f"(it accepts {detected})"
            )
    elif transforms and protocol not in HEADER_PROTOCOLS:
        raise ValueError(
            f"header_transforms apply to the THeader protocols "
            f"({', '.join(HEADER_PROTOCOLS)}), not {protocol!r}"
        )
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; choose one of: {', '.join(TRANSPORTS)}")
    codec = get_codec(HEADER_PROTOCOLS.get(protocol, protocol), limits)
    return WireFormat(protocol, transport, codec, limits, transforms, detected)
