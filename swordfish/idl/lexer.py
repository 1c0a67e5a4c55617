"""Tokenizer for Thrift IDL: one compiled regular expression, one pass.

A token is a plain tuple ``(kind, text, pos, doc)``; tuples keep the loop cheap on 2,000-line
files. ``kind`` is ``ident``, ``int``, ``double``, ``string``, ``punct`` or ``eof`` (the
parser tests punctuation by its text, which no other kind of token can equal). Keywords are
ordinary identifiers: the parser decides by context, so a word that is a keyword in one place
(``list``) gives a precise error elsewhere. ``doc`` is the text
of a ``/** ... */`` comment directly before the token, or ``None``. ``pos`` is a character
offset into the ``Source``, which turns it into line and column only when an error is raised.
"""

from __future__ import annotations

import re

from .source import Source

__all__ = ["Token", "clean_doc", "tokenize", "unquote"]

Token = tuple[str, str, int, "str | None"]

# One match per token. The leading group skips whitespace and comments and remembers the last
# ``/** doc */`` comment in group 1; the token itself lands in a named group whose name is its
# kind. Frequent kinds come first (the regex engine tries alternatives in order). ``bad`` takes
# any other character so the parser can name it; ``eof`` matches once, at the end. Identifiers
# may contain dots (``shared.Name``, ``Numberz.ONE``, ``py.twisted``), as in Apache's lexer.
_TOKEN_RE = re.compile(
    r"""(?:[ \t\r\n\f\v]+|//[^\n]*|\#[^\n]*|/\*(?!\*(?!/)).*?\*/|(/\*\*.*?\*/))*
    (?:
      (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<punct>[{}()\[\]<>=,;:*])
    | (?P<int>[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)(?![0-9.eE]))
    | (?P<double>[+-]?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?
                       |\.[0-9]+(?:[eE][+-]?[0-9]+)?
                       |[0-9]+[eE][+-]?[0-9]+))
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<eof>\Z)
    | (?P<bad>.)
    )""",
    re.S | re.X,
)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def tokenize(source: Source) -> list[Token]:
    """All tokens of ``source``, ending with one ``eof`` token.

    A character that starts no token raises here, with the reason (unterminated comment or
    string, or the character itself).
    """
    # Every match ends in exactly one named token group, so lastgroup/lastindex are never None
    # (mypy cannot know that; a cast per token would cost more than the rest of the loop).
    tokens: list[Token] = [
        (m.lastgroup, m[m.lastindex], m.start(m.lastindex), m[1])  # type: ignore[misc,index,arg-type]
        for m in _TOKEN_RE.finditer(source.text)
    ]
    for tok in tokens:
        if tok[0] == "bad":
            raise _lex_error(source, tok[2])
    return tokens


def _lex_error(source: Source, pos: int) -> Exception:
    text = source.text
    if text.startswith("/*", pos):
        return source.error(pos, "unterminated comment")
    if text[pos] in "\"'":
        return source.error(pos, "unterminated string literal")
    return source.error(pos, f"unexpected character {text[pos]!r}")


def unquote(source: Source, token: Token) -> str:
    """The value of a string literal token, with ``\\n \\t \\r \\\\ \\" \\' \\0 \\uXXXX``."""
    body = token[1][1:-1]
    if "\\" not in body:
        return body

    def replace(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] == "u" and len(esc) == 5:
            return chr(int(esc[1:], 16))
        try:
            return _ESCAPES[esc]
        except KeyError:
            raise source.error(token[2] + 1 + m.start(), f"unknown escape '\\{esc}'") from None

    return _ESCAPE_RE.sub(replace, body)


def clean_doc(doc: str | None) -> str | None:
    """A ``/** ... */`` comment as a docstring: delimiters and leading ``*`` removed."""
    if doc is None:
        return None
    lines = doc[3:-2].splitlines()
    out = []
    for line in lines:
        s = line.strip()
        if s.startswith("*"):
            s = s[1:]
            if s.startswith(" "):
                s = s[1:]
        out.append(s.rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) or None
