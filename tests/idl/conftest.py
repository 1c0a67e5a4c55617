"""Helpers for IDL tests: load text under a fresh module name and clean up afterwards."""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swordfish.errors import IDLError
from swordfish.idl import clear_cache, loads

_counter = itertools.count()

LoadText = Callable[[str], types.ModuleType]
ErrorOf = Callable[[str], IDLError]


@pytest.fixture(autouse=True)
def _isolate() -> Iterator[None]:
    """Each test starts with an empty load cache and leaves no new ``*_thrift`` modules."""
    before = set(sys.modules)
    clear_cache()
    yield
    clear_cache()
    for name in set(sys.modules) - before:
        if name.endswith("_thrift"):
            del sys.modules[name]


@pytest.fixture
def load_text() -> LoadText:
    """Load IDL text as module ``t<N>_thrift``; errors name the file ``t.thrift``."""

    def load(text: str) -> types.ModuleType:
        return loads(text, f"t{next(_counter)}_thrift", path="t.thrift")

    return load


@pytest.fixture
def error_of() -> ErrorOf:
    """The ``IDLError`` that loading ``text`` (as ``t.thrift``) raises."""

    def error(text: str) -> IDLError:
        with pytest.raises(IDLError) as info:
            loads(text, f"t{next(_counter)}_thrift", path="t.thrift")
        return info.value

    return error


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path / name`` (creating folders) and return the path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write_file
