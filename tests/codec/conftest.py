"""Codec test fixtures: every test runs against every implementation of each protocol."""

from __future__ import annotations

from typing import Any

import pytest

from swordfish.limits import DEFAULT_LIMITS

from .impls import ALL_IMPLS, factory_or_fail


@pytest.fixture(params=ALL_IMPLS)
def impl(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """(protocol name, codec class) for every available implementation."""
    return request.param[0], factory_or_fail(request.param)


@pytest.fixture
def proto(impl: tuple[str, Any]) -> str:
    return impl[0]


@pytest.fixture
def codec(impl: tuple[str, Any]) -> Any:
    """A codec instance with default limits, for every protocol and implementation."""
    return impl[1]()


@pytest.fixture
def make_codec(impl: tuple[str, Any]) -> Any:
    """Factory ``make_codec(limits=None, **options)`` for the parametrized implementation."""

    def make(limits: Any = None, **options: Any) -> Any:
        return impl[1](DEFAULT_LIMITS if limits is None else limits, **options)

    return make
