"""IDL source text and the one way every IDL error is reported.

Tokens and AST nodes carry only a character offset; line and column are computed from it when
an error is actually raised. That keeps the lexer's hot loop free of line bookkeeping while every
message still points at an exact ``file:line:column``.
"""

from __future__ import annotations

from bisect import bisect_right

from ..errors import IDLError

__all__ = ["Source"]


class Source:
    """The text of one .thrift file plus the name used for it in error messages."""

    __slots__ = ("_line_starts", "filename", "text")

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.text = text
        self._line_starts: list[int] | None = None

    def location(self, pos: int) -> tuple[int, int]:
        """1-based (line, column) of character offset ``pos``."""
        starts = self._line_starts
        if starts is None:
            starts = [0]
            text = self.text
            find = text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        line = bisect_right(starts, pos)
        return line, pos - starts[line - 1] + 1

    def error(self, pos: int, message: str) -> IDLError:
        """An ``IDLError`` for ``pos``: ``file:line:col: error: msg``, the line, and a caret."""
        line, column = self.location(pos)
        start = pos - column + 1
        end = self.text.find("\n", start)
        text_line = self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")
        # Keep tabs from the source line so the caret lines up in any terminal.
        pad = "".join(c if c == "\t" else " " for c in text_line[: column - 1])
        full = f"{self.filename}:{line}:{column}: error: {message}\n{text_line}\n{pad}^"
        return IDLError(full, filename=self.filename, line=line, column=column)
