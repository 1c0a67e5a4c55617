"""Property and fuzz tests for the codecs (every protocol x implementation).

1. Round trip: decode(encode(v)) == v for generated values of every type, including nested
   containers, sets/maps with container keys, unions, exceptions and recursive structs.
2. Hostile input: random bytes and mutations of valid encodings fed to decode_struct,
   decode_message and scan_message may only succeed or raise RemoteProtocolError (including
   LimitExceeded), and must finish quickly. Anything else (IndexError, struct.error,
   UnicodeDecodeError, RecursionError, MemoryError, a hang) is a bug.
3. scan_message and decode_message agree on where a message ends.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swordfish.codec import NEED_DATA
from swordfish.errors import LocalProtocolError, RemoteProtocolError
from swordfish.limits import Limits
from swordfish.model import MessageType, TApplicationException
from tests.codec.impls import ALL_IMPLS, factory_or_fail
from tests.codec.specs import (
    AllTypes,
    Bools,
    Choice,
    Containers,
    Empty,
    Ids,
    Inner,
    Node,
    Oops,
    Strict,
)
from tests.codec.strategies import as_decoded, struct_values

TYPES = [
    AllTypes,
    Containers,
    Choice,
    Node,
    Ids,
    Bools,
    Oops,
    Strict,
    Inner,
    Empty,
    TApplicationException,
]
SMALL = Limits(max_frame_size=4096, max_string_size=64, max_container_size=32, max_depth=6)
TIME_LIMIT = 1.0  # seconds per decode of at most a few KB; generous for slow CI machines

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("impl_param", ALL_IMPLS)
def test_roundtrip_property(impl_param: Any, data: Any) -> None:
    codec = factory_or_fail(impl_param)()
    cls = data.draw(st.sampled_from(TYPES))
    value = data.draw(struct_values(cls))
    encoded = codec.encode_struct(value)
    assert codec.decode_struct(cls, encoded) == as_decoded(value)
    seqid = data.draw(st.integers(-(2**31), 2**31 - 1))
    mtype = data.draw(st.sampled_from(list(MessageType)))
    name = data.draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=10))
    msg = codec.encode_message(name, mtype, seqid, value)
    got = codec.decode_message(msg, lambda n, t: cls)
    assert (got.name, got.mtype, got.seqid, got.body) == (name, mtype, seqid, as_decoded(value))
    assert codec.scan_message(msg) == len(msg)


def _hostile(codec: Any, data: bytes) -> None:
    """Feed ``data`` to every decoding entry point; only success or RemoteProtocolError."""
    for cls in TYPES:
        t0 = time.perf_counter()
        try:
            value = codec.decode_struct(cls, data)
        except RemoteProtocolError:
            pass
        else:
            _reencode(codec, cls, value)
        assert time.perf_counter() - t0 < TIME_LIMIT
    t0 = time.perf_counter()
    try:
        msg = codec.decode_message(data, lambda n, t: AllTypes if t == 1 else None)
    except RemoteProtocolError:
        pass
    else:
        assert msg.mtype in set(MessageType)
    try:
        codec.decode_message(data, lambda n, t: None)
    except RemoteProtocolError:
        pass
    else:
        assert codec.scan_message(data) == len(data)  # a decodable message scans whole
    try:
        n = codec.scan_message(data)
    except RemoteProtocolError:
        pass
    else:
        assert n == NEED_DATA or 0 < n <= len(data)
        if n != NEED_DATA:
            _decodes_or_bad_name(codec, data[:n])
    assert time.perf_counter() - t0 < TIME_LIMIT


def _reencode(codec: Any, cls: type, value: Any) -> None:
    # A decoded value may break encode-side rules (a union with two fields, a missing
    # required field), which is a LocalProtocolError; otherwise it must decode again.
    try:
        again = codec.encode_struct(value)
    except LocalProtocolError:
        return
    codec.decode_struct(cls, again)


def _decodes_or_bad_name(codec: Any, message: bytes) -> None:
    """What scan_message accepted, decode_message (skipping the body) accepts too."""
    try:
        codec.decode_message(message, lambda n, t: None)
    except RemoteProtocolError as exc:
        # scan does not decode the method name, so only its UTF-8 check may differ.
        assert "UTF-8 in message name" in str(exc), exc


@FUZZ
@given(blob=st.binary(max_size=200), small=st.booleans())
@pytest.mark.parametrize("impl_param", ALL_IMPLS)
def test_random_bytes(impl_param: Any, blob: bytes, small: bool) -> None:
    factory = factory_or_fail(impl_param)
    _hostile(factory(SMALL) if small else factory(), blob)


@st.composite
def mutated(draw: Any, codec: Any) -> bytes:
    cls = draw(st.sampled_from(TYPES))
    value = draw(struct_values(cls))
    if draw(st.booleans()):
        base = bytearray(codec.encode_struct(value))
    else:
        mtype = draw(st.sampled_from(list(MessageType)))
        base = bytearray(codec.encode_message("method", mtype, 7, value))
    for _ in range(draw(st.integers(1, 4))):
        if not base:
            break
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        i = draw(st.integers(0, len(base) - 1))
        if op == "flip":
            base[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            base[i] = draw(st.sampled_from([0x00, 0x01, 0x0F, 0x7F, 0x80, 0xF0, 0xFF]))
        elif op == "insert":
            base[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del base[i : i + draw(st.integers(1, 8))]
        elif op == "truncate":
            del base[i:]
        else:
            j = draw(st.integers(i, min(len(base), i + 16)))
            base[j:j] = base[i:j]
    return bytes(base)


@FUZZ
@given(data=st.data(), small=st.booleans())
@pytest.mark.parametrize("impl_param", ALL_IMPLS)
def test_mutated_encodings(impl_param: Any, data: Any, small: bool) -> None:
    factory = factory_or_fail(impl_param)
    codec = factory(SMALL) if small else factory()
    _hostile(codec, data.draw(mutated(factory())))


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("impl_param", ALL_IMPLS)
def test_scan_agrees_with_decode(impl_param: Any, data: Any) -> None:
    codec = factory_or_fail(impl_param)()
    cls = data.draw(st.sampled_from(TYPES))
    msg = codec.encode_message("m", MessageType.REPLY, 1, data.draw(struct_values(cls)))
    cut = data.draw(st.integers(0, len(msg)))
    prefix = msg[:cut]
    if cut < len(msg):
        assert codec.scan_message(prefix) == NEED_DATA
        with pytest.raises(RemoteProtocolError, match="truncated"):
            codec.decode_message(prefix, lambda n, t: None)
    else:
        assert codec.scan_message(prefix) == len(msg)
    tail = data.draw(st.binary(max_size=10))
    assert codec.scan_message(msg + tail) == len(msg)
    # Byte-at-a-time into a growing buffer gives NEED_DATA until exactly the last byte.
    grown = bytearray()
    for b in msg[:-1]:
        grown.append(b)
        assert codec.scan_message(grown) == NEED_DATA
    grown.append(msg[-1])
    assert codec.scan_message(grown) == len(msg)
