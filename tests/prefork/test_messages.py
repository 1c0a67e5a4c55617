"""The worker -> supervisor pipe format: exact bytes, any chunking, hostile input."""

from __future__ import annotations

import pytest

from swordfish.prefork import messages
from swordfish.prefork.messages import Message, MessageReader, encode

TABLE = [
    (Message("ready"), b"ready\n"),
    (Message("hb", calls=0), b"hb 0\n"),
    (Message("hb", calls=1234), b"hb 1234\n"),
    (Message("retire", calls=10), b"retire 10\n"),
    (Message("bye", calls=7), b"bye 7\n"),
    (
        Message("error", detail="usage", text="cannot import 'x'"),
        b"error usage \"cannot import 'x'\"\n",
    ),
    (
        Message("error", detail="exception", text='two\nlines "quoted" \u00e9'),
        b'error exception "two\\nlines \\"quoted\\" \\u00e9"\n',
    ),
]


@pytest.mark.parametrize(("message", "line"), TABLE)
def test_encode_exact_bytes(message: Message, line: bytes) -> None:
    assert encode(message) == line


def test_decode_whole_and_one_byte_at_a_time() -> None:
    stream = b"".join(line for _, line in TABLE)
    expected = [m for m, _ in TABLE]
    assert MessageReader().feed(stream) == expected
    reader = MessageReader()
    got: list[Message] = []
    for i in range(len(stream)):
        got += reader.feed(stream[i : i + 1])
    assert got == expected
    assert reader.pending == 0


def test_partial_line_waits_for_its_newline() -> None:
    reader = MessageReader()
    assert reader.feed(b"hb 12") == []
    assert reader.pending == 5
    assert reader.feed(b"3\nready") == [Message("hb", calls=123)]
    assert reader.feed(b"\n") == [Message("ready")]


def test_long_error_text_is_cut_to_fit_one_atomic_pipe_write() -> None:
    line = encode(Message("error", detail="exception", text="\u2603" * 5000))
    assert len(line) < 4096  # PIPE_BUF: a non-blocking write is all or nothing
    [decoded] = MessageReader().feed(line)
    assert decoded.text == "\u2603" * (messages.MAX_ERROR_TEXT - 3) + "..."


@pytest.mark.parametrize(
    "line",
    [
        b"hello\n",
        b"hb\n",
        b"hb -1\n",
        b"hb 1.5\n",
        b"ready now\n",
        b"error usage not-json\n",
        b"error usage 12\n",
        b'error panic "x"\n',
        b"\xff\xfe\n",
    ],
)
def test_garbage_lines_are_invalid_messages(line: bytes) -> None:
    [message] = MessageReader().feed(line)
    assert message.kind == messages.INVALID


def test_over_long_line_is_dropped_without_buffering_it() -> None:
    reader = MessageReader()
    out = reader.feed(b"x" * (messages.MAX_LINE + 10))
    assert out == []
    assert reader.pending == 0
    out = reader.feed(b"y" * 100 + b"\nhb 5\n")
    assert [m.kind for m in out] == [messages.INVALID, messages.HEARTBEAT]
    assert out[1].calls == 5


@pytest.mark.parametrize(
    "message",
    [
        Message("hb"),
        Message("hb", calls=-1),
        Message("error", detail="oops", text="x"),
        Message("nope"),
    ],
)
def test_encode_refuses_messages_without_a_line_form(message: Message) -> None:
    with pytest.raises(ValueError):
        encode(message)
