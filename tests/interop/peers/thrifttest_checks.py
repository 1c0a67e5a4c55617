"""Client-side ThriftTest checks, shared by every client under test.

One table of calls and expected answers, run unchanged by the Apache client program, the
thriftpy2 client program and the Swordfish client (in the pytest process), so the three are
held to the same standard. The caller supplies the connected client, the namespace that holds
its generated types, and its ``TApplicationException`` class.

Every check runs even when an earlier one failed, and each failure is reported with the
method, the argument and what came back; ``run_checks`` returns the list of failures.
"""

from __future__ import annotations

import math
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

I8 = (-(2**7), 2**7 - 1)
I16 = (-(2**15), 2**15 - 1)
I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)

STRINGS = [
    "",
    "Hello, world",
    "\x00nul inside\x00",
    "Latin-1 àéîõü, Cyrillic Жизнь, CJK 中文, RTL עברית",
    "non-BMP: \U0001f600 \U0001d11e \U00010348",
    "long " + "\u00e9\U0001f40d" * 50_000,  # ~300 KB of UTF-8: several reads and buffer refills
]
DOUBLES = [
    0.0,
    -0.0,
    1.0,
    -5.25,
    3.141592653589793,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    5e-324,  # smallest subnormal
    2.2250738585072014e-308,  # smallest normal
    math.inf,
    -math.inf,
    math.nan,
]
BINARIES = [b"", bytes(range(256)), bytes(range(255, -1, -1)) * 300, b"\xff\xfe\x00\x80"]


def _same_double(got: Any, want: float) -> bool:
    if not isinstance(got, float):
        return False
    if math.isnan(want):
        return math.isnan(got)
    # 0.0 == -0.0 in Python: compare the sign bit too.
    return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


class Checker:
    """Runs calls, compares answers, and collects failures instead of stopping at the first."""

    def __init__(
        self,
        client: Any,
        types: Any,
        app_exc: type[BaseException],
        set_type: type,
        log: bool,
    ) -> None:
        self.client = client
        self.t = types
        self.app_exc = app_exc
        self.set_type = set_type
        self.log = log
        self.failures: list[str] = []
        self.passed = 0

    def _fail(self, what: str, detail: str) -> None:
        self.failures.append(f"{what}: {detail}")
        if self.log:
            print(f"FAIL {what}: {detail}", flush=True)

    def call(
        self, method: str, *args: Any, **kwargs: Any
    ) -> tuple[bool, Any]:  # (ok, result or exception)
        try:
            return True, getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # every error is a reportable result here
            return False, exc

    def expect(
        self,
        method: str,
        args: Iterable[Any],
        want: Any,
        *,
        same: Callable[[Any, Any], bool] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        args = tuple(args)
        kwargs = kwargs or {}
        what = f"{method}{_short_args(args, kwargs)}"
        ok, got = self.call(method, *args, **kwargs)
        if not ok:
            self._fail(what, f"raised {_describe_exc(got)}")
            return
        matched = same(got, want) if same is not None else (got == want and _types_match(got, want))
        if not matched:
            self._fail(what, f"returned {_short(got)} ({type(got).__name__}), want {_short(want)}")
            return
        self.passed += 1

    def expect_raises(
        self,
        method: str,
        args: Iterable[Any],
        exc_type: type[BaseException],
        check: Callable[[Any], str | None] = lambda exc: None,
    ) -> None:
        args = tuple(args)
        what = f"{method}{_short_args(args, {})}"
        ok, got = self.call(method, *args)
        if ok:
            self._fail(what, f"returned {_short(got)}, want {exc_type.__name__} raised")
            return
        if not isinstance(got, exc_type):
            self._fail(what, f"raised {_describe_exc(got)}, want {exc_type.__name__}")
            return
        problem = check(got)
        if problem:
            self._fail(what, problem)
            return
        self.passed += 1


def _types_match(got: Any, want: Any) -> bool:
    """Guard against 1 == True == 1.0 hiding a wrongly typed answer."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want)
    if isinstance(want, (bytes, str, float, set, list, dict)):
        return isinstance(got, type(want))
    return True


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...<{len(text)} chars>"


def _short_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_short(a, 60) for a in args] + [f"{k}={_short(v, 60)}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


def _describe_exc(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc!r}"


def _field_problems(exc: Any, **want: Any) -> str | None:
    wrong = [
        f"{name}={getattr(exc, name, '<missing>')!r} (want {value!r})"
        for name, value in want.items()
        if getattr(exc, name, object()) != value
    ]
    return ", ".join(wrong) or None


def run_checks(
    client: Any,
    types: Any,
    app_exc: type[BaseException],
    *,
    set_type: type = set,
    log: bool = False,
    finite_doubles_only: bool = False,
) -> list[str]:
    """Run every ThriftTest method with edge values; return the failures (empty = all good).

    ``set_type`` is the Python type the client decodes ``set<i32>`` into: ``set`` for
    Swordfish and Apache, ``list`` for thriftpy2 (its decoders treat sets as lists); the elements
    must match exactly either way. ``finite_doubles_only`` leaves NaN and the infinities out of
    ``testDouble``: only for Apache's Python client *and* server over JSON, where the library
    writes them as a bare ``inf`` that its own reader refuses (Swordfish reads it).
    """
    c = Checker(client, types, app_exc, set_type, log)
    t = types
    try:
        _run(c, t, finite_doubles_only)
    except Exception:  # a bug in a check itself must still be reported
        c.failures.append("check table crashed:\n" + traceback.format_exc())
    if log:
        print(f"{c.passed} passed, {len(c.failures)} failed", flush=True)
    return c.failures


def _run(c: Checker, t: Any, finite_doubles_only: bool = False) -> None:
    c.expect("testVoid", (), None)

    for s in STRINGS:
        c.expect("testString", (s,), s)
    c.expect("testString", (), "by keyword", kwargs={"thing": "by keyword"})

    c.expect("testBool", (True,), True)
    c.expect("testBool", (False,), False)

    for v in (*I8, 0, -1, 1):
        c.expect("testByte", (v,), v)
    for v in (*I32, 0, -1, 1, 2**16):
        c.expect("testI32", (v,), v)
    for v in (*I64, 0, -1, 2**32, -(2**53) - 1):
        c.expect("testI64", (v,), v)
    for d in DOUBLES:
        if finite_doubles_only and not math.isfinite(d):
            continue
        c.expect("testDouble", (d,), d, same=_same_double)
    for b in BINARIES:
        c.expect("testBinary", (b,), b)

    full = t.Xtruct(string_thing="Zero", byte_thing=1, i32_thing=-3, i64_thing=-5)
    c.expect("testStruct", (full,), full)
    edges = t.Xtruct(
        string_thing="\U0001f600", byte_thing=I8[0], i32_thing=I32[1], i64_thing=I64[0]
    )
    c.expect("testStruct", (edges,), edges)
    partial = t.Xtruct(i64_thing=I64[1])  # unset fields must come back unset (None)
    c.expect(
        "testStruct",
        (partial,),
        partial,
        same=lambda got, want: got == want and got.string_thing is None and got.i32_thing is None,
    )
    c.expect("testStruct", (t.Xtruct(),), t.Xtruct())

    nest = t.Xtruct2(byte_thing=1, struct_thing=full, i32_thing=5)
    c.expect("testNest", (nest,), nest)
    c.expect("testNest", (t.Xtruct2(struct_thing=t.Xtruct()),), t.Xtruct2(struct_thing=t.Xtruct()))

    c.expect("testMap", ({},), {})
    c.expect("testMap", ({i: i - 10 for i in range(5)},), {i: i - 10 for i in range(5)})
    c.expect(
        "testMap", ({I32[0]: I32[1], I32[1]: I32[0], 0: 0},), {I32[0]: I32[1], I32[1]: I32[0], 0: 0}
    )
    big_map = {i: -i for i in range(-2000, 2000)}
    c.expect("testMap", (big_map,), big_map)

    string_map = {"": "", "a": "b", "ключ": "значение", "\U0001f600": "\x00", "x" * 1000: "y"}
    c.expect("testStringMap", ({},), {})
    c.expect("testStringMap", (string_map,), string_map)

    def same_set(got: Any, want: set[int]) -> bool:
        return isinstance(got, c.set_type) and len(got) == len(want) and set(got) == want

    for values in (set(), {I32[0], -1, 0, 1, I32[1]}, set(range(1000))):
        c.expect("testSet", (values,), values, same=same_set)

    c.expect("testList", ([],), [])
    c.expect("testList", ([I32[0], -1, 0, 1, I32[1], 1, 1],), [I32[0], -1, 0, 1, I32[1], 1, 1])
    c.expect("testList", (list(range(-5000, 5000)),), list(range(-5000, 5000)))

    c.expect("testEnum", (t.Numberz.FIVE,), 5)
    for v in (1, 2, 3, 5, 6, 8):
        c.expect("testEnum", (v,), v)

    for v in (*I64, 0, 309858235082523):
        c.expect("testTypedef", (v,), v)

    mapmap = {-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {1: 1, 2: 2, 3: 3, 4: 4}}
    c.expect("testMapMap", (1,), mapmap)
    c.expect("testMapMap", (I32[0],), mapmap)

    insane = t.Insanity(
        userMap={5: 5, 8: I64[1]},
        xtructs=[
            t.Xtruct(string_thing="Goodbye4", byte_thing=4, i32_thing=4, i64_thing=4),
            t.Xtruct(string_thing="Hello2", byte_thing=2, i32_thing=2, i64_thing=2),
        ],
    )
    c.expect("testInsanity", (insane,), {1: {2: insane, 3: insane}, 2: {6: t.Insanity()}})
    empty_insane = t.Insanity(userMap={}, xtructs=[])
    c.expect(
        "testInsanity",
        (empty_insane,),
        {1: {2: empty_insane, 3: empty_insane}, 2: {6: t.Insanity()}},
    )

    multi_map = {I16[0]: "min", I16[1]: "max", 0: "", 1: "\U0001f600"}
    c.expect(
        "testMulti",
        (I8[0], I32[1], I64[0], multi_map, 5, I64[1]),
        t.Xtruct(string_thing="Hello2", byte_thing=I8[0], i32_thing=I32[1], i64_thing=I64[0]),
    )
    c.expect(
        "testMulti",
        (),
        t.Xtruct(string_thing="Hello2", byte_thing=1, i32_thing=2, i64_thing=3),
        kwargs={"arg0": 1, "arg1": 2, "arg2": 3, "arg3": {}, "arg4": 8, "arg5": 0},
    )

    # Declared exceptions arrive as the IDL's own classes, and the connection stays usable.
    c.expect_raises(
        "testException",
        ("Xception",),
        t.Xception,
        lambda e: _field_problems(e, errorCode=1001, message="Xception"),
    )
    c.expect("testI32", (11,), 11)
    # An undeclared server error arrives as TApplicationException(INTERNAL_ERROR = 6); the
    # connection survives it.
    c.expect_raises(
        "testException", ("TException",), c.app_exc, lambda e: _field_problems(e, type=6)
    )
    c.expect("testI32", (12,), 12)
    c.expect("testException", ("success",), None)

    c.expect_raises(
        "testMultiException",
        ("Xception", "ignored"),
        t.Xception,
        lambda e: _field_problems(e, errorCode=1001, message="This is an Xception"),
    )
    c.expect_raises(
        "testMultiException",
        ("Xception2", "ignored"),
        t.Xception2,
        lambda e: _field_problems(
            e, errorCode=2002, struct_thing=t.Xtruct(string_thing="This is an Xception2")
        ),
    )
    c.expect("testMultiException", ("Normal", "Hello3"), t.Xtruct(string_thing="Hello3"))

    # Oneway: the call returns without waiting for the server's 1 s sleep (no reply is read),
    # and the next normal call on the same connection still gets its own answer.
    started = time.monotonic()
    ok, got = c.call("testOneway", 1)
    elapsed = time.monotonic() - started
    if not ok:
        c._fail("testOneway(1)", f"raised {_describe_exc(got)}")
    elif got is not None:
        c._fail("testOneway(1)", f"returned {got!r}, want None")
    elif elapsed >= 0.9:
        c._fail("testOneway(1)", f"took {elapsed:.2f}s: the client waited for the server")
    else:
        c.passed += 1
    c.expect("testI32", (-13,), -13)
    c.expect("testString", ("after oneway",), "after oneway")


UUIDS = [
    uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"),  # byte order shows on the wire
    uuid.UUID(int=0),
    uuid.UUID(int=2**128 - 1),
]


def run_uuid_checks(
    client: Any, types: Any, app_exc: type[BaseException], *, server_has_uuid: bool
) -> list[str]:
    """``testUuid`` (Thrift 0.18+). Against a server built without it (Debian's 0.17 compiler),
    the call must come back as ``TApplicationException(UNKNOWN_METHOD)`` on a connection that
    keeps working: the peer skips the uuid field it does not know."""
    c = Checker(client, types, app_exc, set, log=False)
    if server_has_uuid:
        for value in UUIDS:
            c.expect(
                "testUuid",
                (value,),
                value,
                same=lambda got, want: got == want and isinstance(got, uuid.UUID),
            )
    else:
        c.expect_raises(
            "testUuid",
            (UUIDS[0],),
            app_exc,
            lambda e: _field_problems(e, type=1),  # UNKNOWN_METHOD
        )
    c.expect("testString", ("after testUuid",), "after testUuid")
    return c.failures
