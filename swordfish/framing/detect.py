"""Server side: recognise the framing and protocol of a connection from its first bytes.

``DetectingFramer`` is a ``Framer`` that starts out knowing nothing. It buffers the first bytes
of the connection, decides which transport (``"buffered"``, ``"framed"``, ``"zlib"``) and which
protocol (``"binary"``, ``"compact"``, ``"json"``, or THeader: ``"header"``) the peer speaks,
then hands everything it holds to the ordinary framer for that transport and delegates to it
from then on. The codec of each message is ``message_codec``: the protocol engine decodes the
message with it and answers in the same protocol.

THeader connections are handed to a ``HeaderFramer`` (built by
``wire_format("header", transport).new_framer(server=True)``: header frames straight on the
stream, framed twice, or inside one zlib stream), whose per-message codec (binary or compact,
named in each frame) and info headers show through ``message_codec`` and ``message_headers``.
So the protocol engines treat a ``DetectingFramer`` as a header-carrying ``MessageFramer``:
``message_headers`` exists from the start (``None`` for formats without headers), and ``wrap``
takes ``codec=``, ``headers=`` and ``seqid=``, which reach the ``HeaderFramer`` and are dropped
for the plain formats (the payload is already encoded in the detected codec).

What each candidate must look like (``W`` is the first four bytes as a big-endian i32):

============================  ====================================================  =======
candidate                     first bytes                                           needs
============================  ====================================================  =======
buffered binary (strict)      ``80 01 00 TT`` (TT: message type 1..4)                4 bytes
buffered binary (old-style)   ``W`` = name length, 1..max_string_size; then the      5 bytes
                              name's first byte, a letter or ``_``
buffered compact              ``82``, then ``TTT00001`` (type 1..4, version 1)       2 bytes
buffered json                 ``[1,"``                                              4 bytes
buffered header               ``W`` = frame length, 10..max_frame_size; then         6 bytes
                              ``0F FF`` (the THeader magic)
framed X                      ``W`` = frame length, X's minimum..max_frame_size;     4 + X's
                              then a buffered X at offset 4, inside the frame
zlib X                        RFC 1950 header ``78 xx`` (deflate, 32 KiB window,    varies
                              no preset dictionary), and the inflated bytes start
                              like a buffered X
============================  ====================================================  =======

The rule: every accepted candidate is checked against the bytes seen so far, byte by byte, and
each is either refused, confirmed, or waiting for more. The framer decides as soon as exactly
one candidate is left and it is confirmed, and refuses (``RemoteProtocolError``) as soon as none
is left, so it never guesses from too few bytes and never waits for bytes that cannot change the
answer. Two confirmed candidates at once is refused as ambiguous rather than picked.

The one real ambiguity is ``W`` when its top bit is clear: a framed message's length prefix or
an old-style binary name length. Apache's ``THeaderTransport`` reads the first word as a frame
length unless it carries the strict binary or compact signature, so it cannot serve unframed
old-style binary at all. Here the byte after the word decides: a frame's payload starts with a
message, whose first byte is ``80``, ``82``, ``[`` or ``00`` (an old-style name length below
16 MiB), while an old-style name starts with a letter or ``_`` (method names are IDL
identifiers; a multiplexed name starts with the service's). Those sets do not meet, so five
bytes always settle it. A THeader frame is a third reading of ``W`` (its length): its fifth
byte, ``0F``, is neither a message start nor a name start, so it never competes with the
other two. Framed twice (header over framed), the inner frame's length comes at offset 4
(``00``, as for a framed old-style message) and the ``0F FF`` at offset 8, where that
message's name would start (a name cannot start with ``0F``). ``W`` above
``max_frame_size`` (resp. ``max_string_size``) rules the candidate out as soon as the bytes
seen so far make that certain -- usually after the first byte -- so a hostile length is
refused before anything is buffered for it; when nothing else matches either, the refusal is
a ``LimitExceeded`` naming the length.

Inside zlib only buffered (unframed) messages and header frames are recognised, which is how
Apache's ``TZlibTransport`` is used and what ``make_framer("zlib", ...)`` speaks. To look
inside, a throwaway inflater produces at most 16 bytes; the real ``ZlibFramer`` then starts
from the first compressed byte. At most ``MAX_SNIFF`` bytes are buffered undecided (only a
zlib stream can need more than 10).

Replies: an old-style binary caller is answered with the versioned (strict) envelope, as
Apache's binary protocol writes by default: every binary reader accepts it unless it was built
to refuse versioned messages, which no Apache library does.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from ..codec import get_codec
from ..codec.base import Codec
from ..errors import LimitExceeded, LocalProtocolError, ProtocolError, RemoteProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from .base import Framer
from .framed import FramedFramer
from .header import TRANSFORMS as HEADER_TRANSFORMS
from .header import HeaderFramer
from .unframed import UnframedFramer
from .zlib import ZlibFramer

__all__ = ["DETECT_PROTOCOLS", "DETECT_TRANSPORTS", "MAX_SNIFF", "Detected", "DetectingFramer"]

#: Protocols ``DetectingFramer`` can recognise (its default ``protocols``). "header" is THeader,
#: whatever protocol (binary or compact) each frame names inside.
DETECT_PROTOCOLS: tuple[str, ...] = ("binary", "compact", "json", "header")
#: Transports ``DetectingFramer`` can recognise (its default ``transports``).
DETECT_TRANSPORTS: tuple[str, ...] = ("buffered", "framed", "zlib")
#: Most bytes held before a decision: beyond it the connection is refused as undetectable.
MAX_SNIFF = 4096

# A check's answer for the bytes seen so far.
_NEED, _NO, _YES = 0, 1, 2
# How many inflated bytes the zlib peek produces: more than any check needs.
_PEEK = 16
# Message type byte of a call, reply, exception or oneway.
_MTYPES = range(1, 5)
_HTTP_STARTS = frozenset((b"GET ", b"POST", b"PUT ", b"HEAD", b"OPTI", b"DELE", b"PATC", b"PRI "))
# A THeader frame: after its length, the magic; the fixed part (magic, flags, seqid, header
# size) is 10 bytes.
_HEADER_MAGIC = b"\x0f\xff"
_HEADER_FIXED = 10
_IDENT_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


@dataclass(frozen=True, slots=True)
class Detected:
    """What a ``DetectingFramer`` decided.

    transport: "buffered", "framed" or "zlib". protocol: "binary", "compact", "json" or
    "header" (THeader frames; each names its own codec).
    old_style: the caller's binary envelope has no version word (pre-2008 Apache writers, or
    ``strict_write=False``).
    """

    transport: str
    protocol: str
    old_style: bool = False

    def __str__(self) -> str:
        style = " (old-style)" if self.old_style else ""
        return f"{self.protocol}{style} over {self.transport}"


# --- signature checks ------------------------------------------------------------------------
# Each check looks at buf[start:], where at most ``room`` bytes belong to the message (a frame's
# length; None: unbounded), and answers _NEED, _NO or _YES.

_Check = Callable[[bytes | bytearray, int, "int | None", Limits], int]


def _match(buf: bytes | bytearray, start: int, room: int | None, tests: Iterable[int]) -> int:
    """Byte-by-byte comparison with expected values; a value of -1 means "a message type"."""
    for i, want in enumerate(tests):
        if room is not None and i >= room:
            return _NO
        pos = start + i
        if pos >= len(buf):
            return _NEED
        got = buf[pos]
        if got != want and not (want == -1 and got in _MTYPES):
            return _NO
    return _YES


def _strict_binary(buf: bytes | bytearray, start: int, room: int | None, limits: Limits) -> int:
    return _match(buf, start, room, (0x80, 0x01, 0x00, -1))


def _json(buf: bytes | bytearray, start: int, room: int | None, limits: Limits) -> int:
    return _match(buf, start, room, b'[1,"')


def _compact(buf: bytes | bytearray, start: int, room: int | None, limits: Limits) -> int:
    answer = _match(buf, start, room, (0x82,))
    if answer != _YES:
        return answer
    if room is not None and room < 2:
        return _NO
    if len(buf) < start + 2:
        return _NEED
    second = buf[start + 1]
    return _YES if second & 0x1F == 1 and second >> 5 in _MTYPES else _NO


def _word_at_least(buf: bytes | bytearray, start: int) -> int:
    """The smallest big-endian u32 at ``start`` that agrees with the bytes seen so far."""
    head = bytes(buf[start : start + 4])
    return int.from_bytes(head + bytes(4 - len(head)), "big")


def _header(buf: bytes | bytearray, start: int, room: int | None, limits: Limits) -> int:
    # i32 frame length (at least the fixed part: magic, flags, seqid, header size), then the
    # magic. Inside a frame (framed twice) the header frame must fit in it.
    longest = limits.max_frame_size
    if room is not None:
        longest = min(longest, room - 4)
    if start >= len(buf):
        return _NEED
    if _word_at_least(buf, start) > longest:
        return _NO
    if len(buf) < start + 4:
        return _NEED
    if int.from_bytes(buf[start : start + 4], "big") < _HEADER_FIXED:
        return _NO
    return _match(buf, start + 4, None, _HEADER_MAGIC)


def _old_binary(buf: bytes | bytearray, start: int, room: int | None, limits: Limits) -> int:
    # i32 name length, the name, a type byte and an i32 seqid; the name is an identifier.
    if start >= len(buf):
        return _NEED
    longest = limits.max_string_size
    if room is not None:
        longest = min(longest, room - 9)  # the name, its length, the type byte and the seqid
    if _word_at_least(buf, start) > longest:
        return _NO  # also covers a set top bit: a negative length
    if len(buf) < start + 4:
        return _NEED
    if int.from_bytes(buf[start : start + 4], "big") == 0:
        return _NO  # an empty method name: no IDL produces one
    if len(buf) < start + 5:
        return _NEED
    return _YES if buf[start + 4] in _IDENT_START else _NO


#: (protocol, old_style) -> the check for an unframed message of that protocol.
_CHECKS: dict[tuple[str, bool], _Check] = {
    ("binary", False): _strict_binary,
    ("binary", True): _old_binary,
    ("compact", False): _compact,
    ("json", False): _json,
    ("header", False): _header,
}
# The fewest bytes a whole message of each kind takes (the smallest frame that can hold one).
_SMALLEST = {
    ("binary", False): 13,  # version word, name length, seqid, stop byte
    ("binary", True): 11,  # name length, 1-byte name, type, seqid, stop byte
    ("compact", False): 5,  # protocol id, version+type, seqid, name length, stop byte
    ("json", False): 12,  # [1,"",1,0,{}]
    ("header", False): 4 + _HEADER_FIXED,  # a header frame's length word and fixed part
}


def _zlib_header(buf: bytes | bytearray) -> int:
    """RFC 1950 header: deflate with a 32 KiB window (``78``), check bits, no dictionary."""
    if not buf:
        return _NEED
    if buf[0] != 0x78:
        return _NO
    if len(buf) < 2:
        return _NEED
    return _YES if (0x7800 | buf[1]) % 31 == 0 and not buf[1] & 0x20 else _NO


def _describe(buf: bytes | bytearray) -> str:
    shown = bytes(buf[:16])
    hexed = " ".join(f"{b:02x}" for b in shown)
    more = f" ... ({len(buf)} bytes)" if len(buf) > len(shown) else ""
    return f"{hexed}{more} ({shown!r})"


def _recognise(buf: bytes | bytearray) -> str | None:
    """Things other than plain Thrift that a Thrift port sees by mistake."""
    if buf[:1] == b"\x16" and buf[1:2] in (b"", b"\x03"):
        return "a TLS handshake (is the client using TLS and the server not?)"
    if bytes(buf[:4]) in _HTTP_STARTS:
        return "an HTTP request"
    return None


class DetectingFramer:
    """A framer that finds out which transport and protocol its peer speaks (see the module).

    limits: passed to the inner framer and to the detected codec; ``max_frame_size`` and
        ``max_string_size`` also bound the lengths the detection itself accepts.
    protocols / transports: what this server accepts (default: everything it can detect);
        anything else is refused with a ``RemoteProtocolError`` naming what it looked like.
        "header" accepts THeader frames over each accepted transport.
    old_style: accept binary messages without the version word (when "binary" is accepted).
    codec_options: per protocol (not "header"), keyword arguments for ``get_codec``
        (``{"binary": {"strict_read": True}}``).
    header_transforms: THeader payload transforms for every reply on a THeader connection
        (``("zlib",)``); only with "header" accepted.

    ``detected`` (a ``Detected``) and ``message_codec`` are ``None`` until the first bytes
    decide; ``name`` reads "detect" until then and the inner framer's name after.
    ``message_headers`` is the last message's info headers on a THeader connection and
    ``None`` otherwise (the engines read both only after ``next_message`` returned a message).
    """

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        protocols: Iterable[str] = DETECT_PROTOCOLS,
        transports: Iterable[str] = DETECT_TRANSPORTS,
        old_style: bool = True,
        codec_options: dict[str, dict[str, object]] | None = None,
        header_transforms: Iterable[str] = (),
    ) -> None:
        self._protocols = _validated("protocol", protocols, DETECT_PROTOCOLS)
        self._transports = _validated("transport", transports, DETECT_TRANSPORTS)
        self._limits = limits
        self._codec_options = dict(codec_options or {})
        for key in self._codec_options:
            if key not in self._protocols or key == "header":
                raise ValueError(f"codec_options for {key!r}, which is not an accepted codec")
        self._header_transforms = tuple(header_transforms)
        if self._header_transforms and "header" not in self._protocols:
            raise ValueError("header_transforms need 'header' among the accepted protocols")
        for name in self._header_transforms:
            if name not in HEADER_TRANSFORMS:
                raise ValueError(
                    f"unknown THeader transform {name!r}; "
                    f"choose from: {', '.join(HEADER_TRANSFORMS)}"
                )
        self._old_style = old_style
        self._accepting = _candidates(self._transports, self._protocols, old_style)
        self.name = "detect"
        self.detected: Detected | None = None
        self.message_codec: Codec | None = None
        self.message_headers: dict[str, str] | None = None
        self._inner: Framer | None = None
        self._header: HeaderFramer | None = None  # the inner framer on a THeader connection
        self._buf = bytearray()
        self._error: ProtocolError | None = None
        # The zlib peek: a throwaway inflater fed the raw bytes once, and what it produced.
        self._peek: zlib._Decompress | None = None
        self._peeked = 0
        self._inflated = bytearray()
        self._corrupt = False

    @property
    def accepts(self) -> str:
        """The accepted combinations, for messages: "binary, compact over buffered, framed"."""
        strict = "" if self._old_style else " (strict)"
        names = [f"{p}{strict}" if p == "binary" else p for p in self._protocols]
        return f"{', '.join(names)} over {', '.join(self._transports)}"

    # --- Framer --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.feed(data)
        elif self._error is None:
            self._buf += data

    def next_message(self) -> bytes | None:
        inner = self._inner
        if inner is None:
            if self._error is not None:
                raise self._error
            try:
                inner = self._inner = self._decide()
            except ProtocolError as exc:
                self._error = exc
                self._buf.clear()
                raise
            if inner is None:
                return None
        message = inner.next_message()
        header = self._header
        if header is not None and message is not None:
            # THeader names the codec (and carries headers) per message.
            self.message_codec = header.message_codec
            self.message_headers = header.message_headers
        return message

    def wrap(
        self,
        payload: bytes,
        *,
        codec: Codec | None = None,
        headers: Mapping[str, str] | None = None,
        seqid: int = 0,
    ) -> bytes:
        """The bytes for one outgoing message in the detected format. ``codec``, ``headers``
        and ``seqid`` go into a THeader frame; the plain formats have no room for them (the
        payload is already in the detected codec) and drop them."""
        if self._header is not None:
            return self._header.wrap(payload, codec=codec, headers=headers, seqid=seqid)
        if self._inner is None:
            raise LocalProtocolError(
                "nothing to answer in yet: the peer's protocol is not detected"
            )
        return self._inner.wrap(payload)

    @property
    def buffered(self) -> int:
        return len(self._buf) if self._inner is None else self._inner.buffered

    # --- detection -----------------------------------------------------------------------------

    def _decide(self) -> Framer | None:
        buf = self._buf
        if not buf:
            return None
        answers = {c: self._check(c) for c in self._accepting}
        alive = [c for c, answer in answers.items() if answer != _NO]
        if not alive:
            raise self._refusal()
        confirmed = [c for c in alive if answers[c] == _YES]
        if len(confirmed) == len(alive) > 1:
            names = " or ".join(str(c) for c in confirmed)
            raise RemoteProtocolError(f"ambiguous first bytes {_describe(buf)}: {names}")
        if len(alive) > 1 or not confirmed:
            if len(buf) >= MAX_SNIFF:
                raise RemoteProtocolError(
                    f"could not detect the protocol within {MAX_SNIFF} bytes: "
                    f"first bytes {_describe(buf)}"
                )
            return None
        return self._switch(confirmed[0])

    def _check(self, c: Detected) -> int:
        buf = self._buf
        check = _CHECKS[c.protocol, c.old_style]
        if c.transport == "buffered":
            return check(buf, 0, None, self._limits)
        if c.transport == "framed":
            smallest = _SMALLEST[c.protocol, c.old_style]
            least = _word_at_least(buf, 0)
            if least > self._limits.max_frame_size:
                return _NO
            if len(buf) < 4:
                return _NEED
            if least < smallest:
                return _NO
            return check(buf, 4, least, self._limits)
        header = _zlib_header(buf)
        if header != _YES:
            return header
        self._inflate_peek()
        answer = check(self._inflated, 0, None, self._limits)
        return _NO if answer == _NEED and self._corrupt else answer

    def _inflate_peek(self) -> None:
        """Inflate the raw bytes not yet seen, up to ``_PEEK`` bytes of output in all."""
        if self._corrupt or len(self._inflated) >= _PEEK or self._peeked == len(self._buf):
            return
        if self._peek is None:
            self._peek = zlib.decompressobj()
        new = bytes(self._buf[self._peeked :])
        self._peeked = len(self._buf)
        try:
            self._inflated += self._peek.decompress(new, _PEEK - len(self._inflated))
        except zlib.error:
            self._corrupt = True
            return
        if self._peek.eof:
            self._corrupt = True  # a finished stream before a whole message: not a connection

    def _switch(self, c: Detected) -> Framer:
        inner: Framer
        if c.protocol == "header":
            # The THeader mapping (and its outer framing per transport) lives in one place.
            from . import wire_format

            wire = wire_format(
                "header", c.transport, self._limits, header_transforms=self._header_transforms
            )
            header = wire.new_framer(server=True)
            assert isinstance(header, HeaderFramer)
            self._header = inner = header
            codec = wire.codec  # until the first message names its own
        else:
            codec = get_codec(c.protocol, self._limits, **self._codec_options.get(c.protocol, {}))
            if c.transport == "framed":
                inner = FramedFramer(self._limits)
            elif c.transport == "zlib":
                inner = ZlibFramer(codec, self._limits)
            else:
                inner = UnframedFramer(codec, self._limits)
        inner.feed(bytes(self._buf))
        self._buf = bytearray()
        self._peek = None
        self._inflated = bytearray()
        self.detected = c
        self.message_codec = codec
        self.name = inner.name
        return inner

    def _refusal(self) -> RemoteProtocolError:
        buf = self._buf
        refused = f"which this server does not accept (accepts {self.accepts})"
        seen = f"first bytes {_describe(buf)}"
        known = _recognise(buf)
        if known is not None:
            return RemoteProtocolError(f"{seen} look like {known}, {refused}")
        # What the bytes would be if everything were accepted.
        probe = DetectingFramer(self._limits)
        probe._buf = buf
        answers = {c: probe._check(c) for c in probe._accepting}
        confirmed = [str(c) for c, answer in answers.items() if answer == _YES]
        if confirmed:
            return RemoteProtocolError(f"{seen} look like {' or '.join(confirmed)}, {refused}")
        least = _word_at_least(buf, 0)
        if "framed" in self._transports and self._limits.max_frame_size < least < 0x80000000:
            size = f"{least} bytes" if len(buf) >= 4 else f"at least {least} bytes"
            return LimitExceeded(
                f"{seen}: as a frame length, {size} exceeds "
                f"max_frame_size ({self._limits.max_frame_size} bytes)"
            )
        possible = [str(c) for c, answer in answers.items() if answer == _NEED]
        if possible:
            return RemoteProtocolError(
                f"{seen} could only be the start of {' or '.join(possible)}, {refused}"
            )
        return RemoteProtocolError(f"{seen} are not a Thrift message, {refused}")


@lru_cache(maxsize=64)
def _candidates(
    transports: tuple[str, ...], protocols: tuple[str, ...], old_style: bool
) -> tuple[Detected, ...]:
    """Every accepted (transport, protocol) pairing, in a fixed order; computed once per
    configuration, not per connection."""
    kinds = [(p, False) for p in DETECT_PROTOCOLS if p in protocols]
    if old_style and "binary" in protocols:
        kinds.insert(1, ("binary", True))
    return tuple(
        Detected(t, p, old) for t in DETECT_TRANSPORTS if t in transports for p, old in kinds
    )


def _validated(what: str, names: Iterable[str], known: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    chosen = tuple(dict.fromkeys(names))
    for name in chosen:
        if name not in known:
            raise ValueError(f"cannot detect {what} {name!r}; choose from: {', '.join(known)}")
    if not chosen:
        raise ValueError(f"at least one {what} must be accepted")
    return chosen
