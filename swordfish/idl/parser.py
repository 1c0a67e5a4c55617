"""Recursive-descent parser: tokens -> ``ast.Document``.

Hand-written rather than generated so that every syntax error names what was expected and
points at the exact token, and so a 2,000-line file parses in a few milliseconds. The grammar
is Apache Thrift's, with separators ``,``/``;`` optional everywhere and annotations accepted
after types, fields, enum values, definitions and methods. Deprecated forms: ``slist`` is read
as ``string``; ``senum`` is rejected with an error that says what to use instead.
"""

from __future__ import annotations

from . import ast
from .lexer import Token, clean_doc, tokenize, unquote
from .source import Source

__all__ = ["RESERVED", "parse"]

BASE_TYPE_NAMES = frozenset(
    ("bool", "byte", "i8", "i16", "i32", "i64", "double", "string", "binary", "uuid", "slist")
)

# Words that cannot name a definition, field, enum value or method.
RESERVED = BASE_TYPE_NAMES | frozenset(
    (
        "include",
        "cpp_include",
        "namespace",
        "const",
        "typedef",
        "enum",
        "senum",
        "struct",
        "union",
        "exception",
        "service",
        "extends",
        "throws",
        "oneway",
        "void",
        "required",
        "optional",
        "map",
        "list",
        "set",
        "true",
        "false",
    )
)

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


def parse(source: Source) -> ast.Document:
    """Parse a whole file. Raises ``IDLError`` at the first syntax error."""
    return _Parser(source).document()


def _describe(tok: Token) -> str:
    if tok[0] == "eof":
        return "end of file"
    return repr(tok[1])


class _Parser:
    __slots__ = ("i", "src", "toks")

    def __init__(self, source: Source) -> None:
        self.src = source
        self.toks = tokenize(source)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------

    def error(self, tok: Token, expected: str) -> Exception:
        return self.src.error(tok[2], f"expected {expected}, found {_describe(tok)}")

    def next(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, expected: str) -> Token:
        """The next token, which must be of ``kind`` (``ident``, ``int``, ``string``)."""
        tok = self.toks[self.i]
        if tok[0] != kind:
            raise self.error(tok, expected)
        self.i += 1
        return tok

    def punct(self, char: str, expected: str) -> None:
        """Consume punctuation ``char`` (compared by text: no other token can equal it)."""
        tok = self.toks[self.i]
        if tok[1] != char:
            raise self.error(tok, expected)
        self.i += 1

    def accept(self, char: str) -> bool:
        if self.toks[self.i][1] == char:
            self.i += 1
            return True
        return False

    def accept_word(self, word: str) -> Token | None:
        tok = self.toks[self.i]
        if tok[0] == "ident" and tok[1] == word:
            self.i += 1
            return tok
        return None

    def separator(self) -> None:
        text = self.toks[self.i][1]
        if text == "," or text == ";":
            self.i += 1

    def name(self, what: str) -> Token:
        """An identifier that names something new (not a keyword, not dotted)."""
        tok = self.toks[self.i]
        if tok[0] != "ident":
            raise self.error(tok, what)
        if tok[1] in RESERVED:
            raise self.src.error(tok[2], f"{tok[1]!r} is a reserved word and cannot be a name")
        if "." in tok[1]:
            raise self.src.error(tok[2], f"{what} cannot contain '.': {tok[1]!r}")
        self.i += 1
        return tok

    def string(self, expected: str) -> tuple[str, int]:
        tok = self.expect("string", expected)
        return unquote(self.src, tok), tok[2]

    def integer(self, expected: str) -> tuple[int, int]:
        tok = self.expect("int", expected)
        return self.int_value(tok), tok[2]

    def int_value(self, tok: Token) -> int:
        value = int(tok[1], 0) if "x" in tok[1] or "X" in tok[1] else int(tok[1])
        if not _INT_MIN <= value <= _INT_MAX:
            raise self.src.error(tok[2], f"integer {tok[1]} does not fit in 64 bits")
        return value

    # -- document ------------------------------------------------------------------

    def document(self) -> ast.Document:
        includes: list[ast.Include] = []
        cpp_includes: list[str] = []
        namespaces: list[ast.Namespace] = []
        definitions: list[ast.Definition] = []
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok[0] == "eof":
                break
            if tok[0] != "ident":
                raise self.error(tok, "a definition")
            word = tok[1]
            if word == "include":
                self.i += 1
                path, pos = self.string("a quoted file name after 'include'")
                includes.append(ast.Include(pos, path))
            elif word == "cpp_include":
                self.i += 1
                cpp_includes.append(self.string("a quoted file name after 'cpp_include'")[0])
            elif word == "namespace":
                self.i += 1
                if self.accept("*"):
                    scope = "*"
                else:
                    scope = self.expect("ident", "a namespace scope (a language or '*')")[1]
                name_tok = self.expect("ident", "a namespace name")
                self.annotations()
                namespaces.append(ast.Namespace(name_tok[2], scope, name_tok[1]))
            else:
                definitions.append(self.definition(tok))
            self.separator()
        return ast.Document(
            tuple(includes), tuple(cpp_includes), tuple(namespaces), tuple(definitions)
        )

    def definition(self, tok: Token) -> ast.Definition:
        word = tok[1]
        doc = clean_doc(tok[3])
        self.i += 1
        if word == "struct" or word == "union" or word == "exception":
            return self.struct(word, doc)
        if word == "enum":
            return self.enum(doc)
        if word == "const":
            return self.const(doc)
        if word == "typedef":
            return self.typedef(doc)
        if word == "service":
            return self.service(doc)
        if word == "senum":
            raise self.src.error(
                tok[2], "'senum' is deprecated and not supported; use 'enum' or 'set<string>'"
            )
        raise self.src.error(
            tok[2],
            "expected a definition (include, namespace, const, typedef, enum, struct, union, "
            f"exception, service), found {word!r}",
        )

    def const(self, doc: str | None) -> ast.Const:
        type_ = self.field_type()
        name = self.name("a constant name")
        self.punct("=", "'=' and a value")
        return ast.Const(name[2], name[1], type_, self.value(), doc)

    def typedef(self, doc: str | None) -> ast.Typedef:
        type_ = self.field_type()
        name = self.name("a typedef name")
        return ast.Typedef(name[2], name[1], type_, self.annotations(), doc)

    def enum(self, doc: str | None) -> ast.Enum:
        name = self.name("an enum name")
        self.punct("{", "'{'")
        members: list[ast.EnumMember] = []
        while not self.accept("}"):
            tok = self.toks[self.i]
            mname = self.name("an enum value name or '}'")
            value: int | None = None
            value_pos = mname[2]
            if self.accept("="):
                value, value_pos = self.integer("an integer enum value")
            ann = self.annotations()
            members.append(
                ast.EnumMember(mname[2], mname[1], value, value_pos, ann, clean_doc(tok[3]))
            )
            self.separator()
        return ast.Enum(name[2], name[1], tuple(members), self.annotations(), doc)

    def struct(self, kind: str, doc: str | None) -> ast.Struct:
        name = self.name(f"a{'n' if kind == 'exception' else ''} {kind} name")
        self.accept_word("xsd_all")
        self.punct("{", "'{'")
        fields = self.fields("}")
        return ast.Struct(name[2], kind, name[1], fields, self.annotations(), doc)

    def service(self, doc: str | None) -> ast.Service:
        name = self.name("a service name")
        extends: str | None = None
        extends_pos = name[2]
        if self.accept_word("extends"):
            tok = self.expect("ident", "the name of the service to extend")
            extends, extends_pos = tok[1], tok[2]
        self.punct("{", "'{'")
        functions: list[ast.Function] = []
        while not self.accept("}"):
            functions.append(self.function())
            self.separator()
        return ast.Service(
            name[2], name[1], extends, extends_pos, tuple(functions), self.annotations(), doc
        )

    def function(self) -> ast.Function:
        first = self.toks[self.i]
        doc = clean_doc(first[3])
        oneway = self.accept_word("oneway") is not None
        returns_pos = self.toks[self.i][2]
        returns: ast.TypeRef | None
        if self.accept_word("void"):
            returns = None
        else:
            tok = self.toks[self.i]
            if tok[1] == "}" or tok[0] == "eof":
                raise self.error(tok, "a method or '}'")
            returns = self.field_type()
        name = self.name("a method name")
        self.punct("(", "'(' to start the parameter list")
        params = self.fields(")")
        throws: tuple[ast.Field, ...] = ()
        throws_tok = self.accept_word("throws")
        throws_pos = name[2]
        if throws_tok is not None:
            throws_pos = throws_tok[2]
            self.punct("(", "'(' after 'throws'")
            throws = self.fields(")")
        return ast.Function(
            name[2],
            name[1],
            oneway,
            returns,
            returns_pos,
            params,
            throws,
            throws_pos,
            self.annotations(),
            doc,
        )

    def fields(self, close: str) -> tuple[ast.Field, ...]:
        """Fields up to and including the ``close`` token."""
        out: list[ast.Field] = []
        while not self.accept(close):
            out.append(self.field(close))
            self.separator()
        return tuple(out)

    def field(self, close: str) -> ast.Field:
        # The hot path of every file: kept flat, one token lookup per step.
        toks = self.toks
        i = self.i
        tok = toks[i]
        doc = None if tok[3] is None else clean_doc(tok[3])
        field_id: int | None = None
        id_pos = tok[2]
        if tok[0] == "int":
            field_id = self.int_value(tok)
            if toks[i + 1][1] != ":":
                raise self.error(toks[i + 1], "':' after the field id")
            i += 2
        elif tok[0] != "ident":
            raise self.error(tok, f"a field or {close!r}")
        text = toks[i][1]
        requiredness = ""
        if text == "required" or text == "optional":
            requiredness = text
            i += 1
        self.i = i
        type_ = self.field_type()
        name = self.name("a field name")
        default: ast.Value | None = None
        annotations: ast.Annotations = ()
        text = toks[self.i][1]
        if text == "=":
            self.i += 1
            default = self.value()
            text = toks[self.i][1]
        if text == "(":
            annotations = self.annotations()
        return ast.Field(
            name[2], name[1], field_id, id_pos, type_, requiredness, default, annotations, doc
        )

    # -- types and values --------------------------------------------------------------

    def field_type(self) -> ast.TypeRef:
        toks = self.toks
        tok = toks[self.i]
        if tok[0] != "ident":
            raise self.error(tok, "a type")
        self.i += 1
        word = tok[1]
        pos = tok[2]
        result: ast.TypeRef
        if word in BASE_TYPE_NAMES:
            result = ast.BaseType(pos, word)
        elif word == "list" or word == "set":
            self.punct("<", f"'<' after '{word}'")
            elem = self.field_type()
            self.punct(">", "'>'")
            result = ast.ListType(pos, elem) if word == "list" else ast.SetType(pos, elem)
        elif word == "map":
            self.punct("<", "'<' after 'map'")
            key = self.field_type()
            self.punct(",", "',' between the map key and value types")
            value = self.field_type()
            self.punct(">", "'>'")
            result = ast.MapType(pos, key, value)
        elif word == "void":
            raise self.src.error(pos, "'void' is only allowed as a method return type")
        elif word in RESERVED:
            raise self.src.error(pos, f"expected a type, found reserved word {word!r}")
        else:
            result = ast.NamedType(pos, word)
        text = toks[self.i][1]
        if text == "cpp_type":  # Apache's C++-only type override: read and ignored
            self.i += 1
            self.string("a quoted C++ type after 'cpp_type'")
            text = toks[self.i][1]
        if text == "(":
            ann = self.annotations()
            if isinstance(result, ast.MapType):
                result = ast.MapType(pos, result.key, result.value, ann)
            elif isinstance(result, ast.ListType | ast.SetType):
                result = type(result)(pos, result.elem, ann)
            else:
                result = type(result)(pos, result.name, ann)
        return result

    def annotations(self) -> ast.Annotations:
        """``(key = "value", flag, ...)``; a bare flag gets the value ``"1"`` as in Apache."""
        if not self.accept("("):
            return ()
        out: list[tuple[str, str]] = []
        while not self.accept(")"):
            key = self.expect("ident", "an annotation name or ')'")[1]
            value = "1"
            if self.accept("="):
                value = self.string("a quoted annotation value")[0]
            out.append((key, value))
            self.separator()
        return tuple(out)

    def value(self) -> ast.Value:
        tok = self.next()
        kind = tok[0]
        pos = tok[2]
        if kind == "int":
            return ast.IntValue(pos, self.int_value(tok))
        if kind == "double":
            return ast.DoubleValue(pos, float(tok[1]))
        if kind == "string":
            return ast.StringValue(pos, unquote(self.src, tok))
        if kind == "ident":
            if tok[1] == "true" or tok[1] == "false":
                return ast.BoolValue(pos, tok[1] == "true")
            return ast.IdentValue(pos, tok[1])
        if kind == "punct" and tok[1] == "[":
            items: list[ast.Value] = []
            while not self.accept("]"):
                items.append(self.value())
                self.separator()
            return ast.ListValue(pos, tuple(items))
        if kind == "punct" and tok[1] == "{":
            pairs: list[tuple[ast.Value, ast.Value]] = []
            while not self.accept("}"):
                key = self.value()
                self.punct(":", "':' between a map key and its value")
                pairs.append((key, self.value()))
                self.separator()
            return ast.MapValue(pos, tuple(pairs))
        raise self.error(tok, "a constant value")
