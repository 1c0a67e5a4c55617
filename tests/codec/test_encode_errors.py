"""Encoding refuses what cannot be sent, with LocalProtocolError naming Struct.field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from swordfish.errors import LocalProtocolError
from swordfish.model import MessageType

from .specs import AllTypes, Choice, Containers, Inner, Node, Strict, T, define


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("a_byte", 128),
        ("a_byte", -129),
        ("a_i16", 2**15),
        ("a_i16", -(2**15) - 1),
        ("a_i32", 2**31),
        ("a_i32", -(2**31) - 1),
        ("a_i64", 2**63),
        ("a_i64", -(2**63) - 1),
        ("a_i32", 1.5),
        ("a_i32", 1.0),
        ("a_i32", "1"),
        ("a_i64", b"1"),
        ("a_i16", [1]),
        ("a_bool", 2),
        ("a_bool", "yes"),
        ("a_bool", []),
        ("a_double", "1.0"),
        ("a_double", 10**400),
        ("a_string", 5),
        ("a_string", "\ud800"),
        ("a_binary", "text"),
        ("a_binary", 7),
        ("a_uuid", "not-a-uuid"),
        ("a_uuid", b"\x00" * 15),
        ("a_uuid", 5),
        ("a_struct", Node(1, [])),
        ("a_struct", {"num": 1}),
        ("a_enum", "RED"),
    ],
)
def test_bad_scalar_values(codec: Any, field: str, value: Any) -> None:
    with pytest.raises(LocalProtocolError, match=rf"AllTypes\.{field}\b"):
        codec.encode_struct(AllTypes(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ints", [1, None]),
        ("ints", [1, 2**31]),
        ("ints", "123"),
        ("ints", b"123"),
        ("ints", {"a": 1}),
        ("ints", 5),
        ("strings", [1]),
        ("counts", [("a", 1)]),
        ("counts", {"a": "b"}),
        ("counts", {1: 1}),
        ("bools", [True, 3]),
        ("nested", [[1], 2]),
        ("structs", [Inner(), None]),
        ("doubles", ["x"]),
        ("uuids", [1]),
        ("bytes_", [200]),
    ],
)
def test_bad_container_values(codec: Any, field: str, value: Any) -> None:
    with pytest.raises(LocalProtocolError, match=rf"Containers\.{field}\b"):
        codec.encode_struct(Containers(**{field: value}))


def test_required_field_unset(codec: Any) -> None:
    with pytest.raises(LocalProtocolError, match=r"Strict\.must"):
        codec.encode_struct(Strict(maybe="x"))
    holder = define("Holder", [(1, "s", T.struct(Strict))])
    with pytest.raises(LocalProtocolError, match=r"Strict\.must"):
        codec.encode_struct(holder(s=Strict()))
    with pytest.raises(LocalProtocolError, match=r"Strict\.must"):
        codec.encode_message("m", MessageType.CALL, 1, Strict())


def test_nested_error_names_the_inner_field(codec: Any) -> None:
    with pytest.raises(LocalProtocolError, match=r"Inner\.num"):
        codec.encode_struct(Containers(structs=[Inner(num="x")]))


def test_union_with_two_fields_set(codec: Any) -> None:
    with pytest.raises(LocalProtocolError, match=r"Choice.*number, word"):
        codec.encode_struct(Choice(number=1, word="w"))


def test_cycle_is_refused_not_a_crash(codec: Any) -> None:
    node = Node(1, [])
    node.children.append(node)
    with pytest.raises(LocalProtocolError):
        codec.encode_struct(node)


def test_not_a_struct(codec: Any) -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode_struct(object())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        codec.encode_message("m", MessageType.CALL, 1, {"a": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "mtype", "seqid"),
    [
        (b"m", MessageType.CALL, 1),
        ("m", 0, 1),
        ("m", 5, 1),
        ("m", True, 1),
        ("m", MessageType.CALL, 2**31),
        ("m", MessageType.CALL, -(2**31) - 1),
        ("m", MessageType.CALL, "1"),
        ("m", MessageType.CALL, 1.0),
        ("\udc80", MessageType.CALL, 1),
    ],
)
def test_bad_envelope(codec: Any, name: Any, mtype: Any, seqid: Any) -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode_message(name, mtype, seqid, Inner())


def test_error_message_shows_value_and_type(codec: Any) -> None:
    with pytest.raises(LocalProtocolError) as info:
        codec.encode_struct(AllTypes(a_i32=2**40))
    text = str(info.value)
    assert "AllTypes.a_i32" in text and str(2**40) in text and "i32" in text


def test_failed_encode_leaves_codec_usable(codec: Any) -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode_struct(AllTypes(a_i32="x"))
    good = AllTypes(a_i32=1, a_uuid=uuid.UUID(int=3))
    assert codec.decode_struct(AllTypes, codec.encode_struct(good)) == good
