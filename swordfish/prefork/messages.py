"""What a pre-fork worker tells its supervisor: one short ASCII line per message, on a pipe.

Each worker owns the write end of one pipe; the supervisor reads the other end. Every line
also proves the worker is alive (the heartbeat deadline is measured from the last line of any
kind), so a worker whose serving thread or event loop hangs falls silent and is replaced.

    ready\\n                 serving: the listener is being accepted on
    hb 1234\\n               heartbeat; calls answered so far
    retire 1234\\n           max_requests reached: please start my replacement, then stop me
    bye 1234\\n              drained; the final count, just before exit
    error usage "text"\\n    could not start; the text is JSON (ASCII, one line). "usage": the
                            app factory raised ``AppLoadError`` (a complete message, no
                            traceback); "exception": anything else

Lines stay far below ``PIPE_BUF`` (4096 bytes on Linux), so a non-blocking write either puts
the whole line in the pipe or fails without writing any of it: the reader never sees half a
message, even if a worker writes while its supervisor is slow to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "BYE",
    "ERROR",
    "HEARTBEAT",
    "INVALID",
    "MAX_LINE",
    "READY",
    "RETIRE",
    "Message",
    "MessageReader",
    "encode",
]

READY = "ready"
HEARTBEAT = "hb"
RETIRE = "retire"
BYE = "bye"
ERROR = "error"
#: What the reader returns for a line it cannot parse (it still proves the worker is alive).
INVALID = "invalid"

#: The longest line the reader accepts; a longer one is dropped up to its newline.
MAX_LINE = 4000
#: Error texts are cut to this many characters so the JSON-escaped line fits in MAX_LINE.
MAX_ERROR_TEXT = 600

_COUNTED = (HEARTBEAT, RETIRE, BYE)


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded line. ``calls`` is set for hb/retire/bye, ``text``/``detail`` for error."""

    kind: str
    calls: int | None = None
    detail: str = ""  # error: "usage" or "exception"
    text: str = ""


def encode(message: Message) -> bytes:
    """The line for ``message`` (raises ``ValueError`` for a message that has no line form)."""
    kind = message.kind
    if kind == READY:
        return b"ready\n"
    if kind in _COUNTED:
        calls = message.calls
        if type(calls) is not int or calls < 0:
            raise ValueError(f"{kind} needs a call count >= 0, got {calls!r}")
        return f"{kind} {calls}\n".encode("ascii")
    if kind == ERROR:
        if message.detail not in ("usage", "exception"):
            raise ValueError(f"error detail must be 'usage' or 'exception': {message.detail!r}")
        text = message.text
        if len(text) > MAX_ERROR_TEXT:
            text = text[: MAX_ERROR_TEXT - 3] + "..."
        return f"error {message.detail} {json.dumps(text)}\n".encode("ascii")
    raise ValueError(f"no line form for message kind {kind!r}")


class MessageReader:
    """Bytes in, messages out: ``feed`` any chunking of the lines and get each one once."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its newline

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    # A worker that writes garbage must not make its supervisor buffer it.
                    self._buffer.clear()
                    self._skipping = True
                return out
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                out.append(Message(INVALID, text="(over-long line)"))
            elif len(line) > MAX_LINE:
                out.append(Message(INVALID, text="(over-long line)"))
            else:
                out.append(_decode(line))

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held back."""
        return len(self._buffer)


def _decode(line: bytes) -> Message:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return Message(INVALID, text=repr(line))
    kind, _, rest = text.partition(" ")
    if kind == READY and not rest:
        return Message(READY)
    if kind in _COUNTED and rest.isdigit():
        return Message(kind, calls=int(rest))
    if kind == ERROR:
        detail, _, body = rest.partition(" ")
        if detail in ("usage", "exception"):
            try:
                value = json.loads(body)
            except ValueError:
                value = None
            if isinstance(value, str):
                return Message(ERROR, detail=detail, text=value)
    return Message(INVALID, text=text)
