"""The codec package surface: get_codec, dumps/loads and the accelerator switch."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import swordfish
import swordfish.codec as codec_mod
from swordfish.codec import NEED_DATA, BinaryCodecPy, CompactCodecPy, dumps, get_codec, loads
from swordfish.limits import Limits
from swordfish.model import MessageType

from .specs import AllTypes, Inner, sample_all_types


def test_get_codec_names() -> None:
    assert get_codec("binary").name == "binary"
    assert get_codec("binary").protocol_id == 0
    assert get_codec("compact").name == "compact"
    assert get_codec("compact").protocol_id == 2
    with pytest.raises(ValueError, match="'binary', 'compact'") as info:
        get_codec("json-ish")
    assert "json-ish" in str(info.value)


def test_get_codec_options_and_limits() -> None:
    limits = Limits(max_depth=5)
    c = get_codec("binary", limits, strict_write=False, strict_read=True)
    assert c.limits is limits
    assert c.encode_message("a", MessageType.CALL, 1, Inner())[:4] == b"\x00\x00\x00\x01"
    assert get_codec("compact", None).limits == Limits()
    with pytest.raises(TypeError):
        get_codec("compact", None, strict_write=False)


@pytest.mark.parametrize("protocol", ["binary", "compact"])
def test_dumps_loads(protocol: str) -> None:
    value = sample_all_types()
    data = dumps(value, protocol=protocol)
    assert data == get_codec(protocol).encode_struct(value)
    assert loads(AllTypes, data, protocol=protocol) == value
    assert loads(AllTypes, bytearray(data), protocol, Limits()) == value
    assert swordfish.dumps(value, protocol) == data  # re-exported at the top level


def test_dumps_rejects_unknown_protocol() -> None:
    with pytest.raises(ValueError):
        dumps(Inner(), protocol="nope")


def test_exports() -> None:
    for name in (
        "BinaryCodecPy",
        "CompactCodecPy",
        "Codec",
        "Message",
        "NEED_DATA",
        "get_codec",
        "dumps",
        "loads",
        "BinaryCodecC",
        "CompactCodecC",
    ):
        assert hasattr(codec_mod, name), name
    assert NEED_DATA == -1
    impl = codec_mod.BinaryCodec
    assert impl is BinaryCodecPy or impl is codec_mod.BinaryCodecC
    with pytest.raises(TypeError):
        CompactCodecPy(limits="x")  # type: ignore[arg-type]


def test_no_extensions_env_forces_python() -> None:
    code = (
        "import swordfish.codec as c; "
        "print(c.BinaryCodec.__name__, c.CompactCodec.__name__, c.USING_EXTENSIONS)"
    )
    env = dict(os.environ, SWORDFISH_NO_EXTENSIONS="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["BinaryCodecPy", "CompactCodecPy", "False"]


def test_codec_satisfies_protocol(codec: Any) -> None:
    for attr in (
        "name",
        "protocol_id",
        "limits",
        "encode_struct",
        "decode_struct",
        "encode_message",
        "decode_message",
        "scan_message",
    ):
        assert hasattr(codec, attr)
