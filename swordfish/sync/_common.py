"""Argument checks shared by the sync client, server and factories."""

from __future__ import annotations

from collections.abc import Sequence

from ..codec import CODEC_NAMES
from ..framing import TRANSPORTS as FRAMINGS
from ..model.service import ServiceSpec

__all__ = ["MODELS", "PROTOCOLS", "TRANSPORTS", "check_choice", "resolve_service"]

#: ``protocol=`` values (codecs).
PROTOCOLS = CODEC_NAMES
#: ``transport=`` values (framings): "buffered" is unframed, "framed" has a 4-byte length.
TRANSPORTS = FRAMINGS
#: ``model=`` values of the sync server.
MODELS = ("simple", "threaded", "threadpool")


def check_choice(what: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` that lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
    return value


def resolve_service(service: object) -> ServiceSpec:
    """A ``ServiceSpec`` from itself or from a loaded service class (``calc.Calculator``)."""
    if isinstance(service, ServiceSpec):
        return service
    spec = getattr(service, "__thrift_service__", None)
    if isinstance(spec, ServiceSpec):
        return spec
    raise TypeError(
        "service must be a service class from swordfish.load() (e.g. calc.Calculator) "
        f"or a ServiceSpec, not {service!r}"
    )
