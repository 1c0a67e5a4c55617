"""The codec implementations under test, as pytest params (imported by the codec tests).

The pure-Python codecs always run. The C codecs (``BinaryCodecC`` / ``CompactCodecC`` in
``swordfish.codec``) are added when built. Under ``CI=true`` a missing C build must be a
failure, not a silent drop (aiohttp's parser tests quietly lose their C twin; ours must not):
such a param carries ``None`` and ``factory_or_fail`` fails the test.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import swordfish.codec as codec_mod

IN_CI = os.environ.get("CI") == "true"

# swordfish._speedups is built by every install (setup.py): a CI run without the C codecs
# fails instead of testing only the Python twins.
C_CODECS_REQUIRED = True

_PY = {"binary": codec_mod.BinaryCodecPy, "compact": codec_mod.CompactCodecPy}
_C_ATTR = {"binary": "BinaryCodecC", "compact": "CompactCodecC"}
PROTOCOLS = ("binary", "compact")


def impls_for(proto: str) -> list[Any]:
    """pytest params of (proto, factory) for one protocol: py, then c when available."""
    params = [pytest.param((proto, _PY[proto]), id=f"{proto}-py")]
    c_impl = getattr(codec_mod, _C_ATTR[proto], None)
    if c_impl is not None:
        params.append(pytest.param((proto, c_impl), id=f"{proto}-c"))
    elif C_CODECS_REQUIRED and IN_CI:
        params.append(pytest.param((proto, None), id=f"{proto}-c-missing"))
    return params


ALL_IMPLS = [p for proto in PROTOCOLS for p in impls_for(proto)]


def factory_or_fail(param: tuple[str, Any]) -> Any:
    proto, factory = param
    if factory is None:
        pytest.fail(f"CI=true: the C {proto} codec is not built (swordfish._speedups missing)")
    return factory
