"""Argument checks shared by every driver (sync and asyncio), so both reject bad options alike.

The drivers must not import each other, and these checks know nothing about sockets or event
loops, so they live here, below both: a driver validates its options with these helpers and
reports errors that name the option and list the valid choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..codec import CODEC_NAMES
from ..framing import TRANSPORTS as FRAMINGS
from ..model.service import ServiceSpec

__all__ = [
    "PROTOCOLS",
    "TRANSPORTS",
    "CLIENT_TRANSPORTS",
    "HTTP_TRANSPORT",
    "check_choice",
    "check_positive_int",
    "check_timeout",
    "resolve_service",
]

#: ``protocol=`` values: the codecs, then THeader around binary ("header") or compact
#: ("header-compact"); ``swordfish.framing.wire_format`` maps each to a codec and framer.
PROTOCOLS = CODEC_NAMES + ("header", "header-compact")
#: ``transport=`` values (framings): "buffered" is unframed, "framed" has a 4-byte length.
TRANSPORTS = FRAMINGS
#: Thrift over HTTP: a ``transport=`` of the clients (``make_client``, ``make_aio_client``) and
#: the CLI only. Not in ``TRANSPORTS``, so the stream servers refuse it; ``swordfish.web``'s
#: WSGI/ASGI apps serve it.
HTTP_TRANSPORT = "http"
#: ``transport=`` values of the HTTP-aware entry points (client factories, CLI).
CLIENT_TRANSPORTS = (*TRANSPORTS, HTTP_TRANSPORT)


def check_choice(what: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` that lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
    return value


def check_positive_int(what: str, value: object) -> int:
    """``value`` if it is an int > 0 (not a bool), else a ``ValueError`` naming ``what``."""
    if type(value) is not int or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def check_timeout(what: str, value: object) -> float | None:
    """``None`` or a positive number of seconds, else a ``ValueError`` naming ``what``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds or None, got {value!r}")
    return float(value)


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
