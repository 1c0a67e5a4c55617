"""The ``supervised`` fixture: start prefork servers; every one is killed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import Supervised


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def start(*extra: str, **kwargs: Any) -> Supervised:
        sub = tmp_path / f"s{len(started)}"
        sub.mkdir()
        sup = Supervised(sub, *extra, **kwargs)
        started.append(sup)
        return sup

    try:
        yield start
    finally:
        for sup in started:
            sup.cleanup()
