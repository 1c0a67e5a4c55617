"""Serving Swordfish services from application servers.

``ThriftApp`` packages a service and its handler for an application server; the gunicorn
worker classes that serve it live in ``swordfish.web.gunicorn`` (gunicorn is an optional
dependency: ``pip install 'swordfish[gunicorn]'``)::

    gunicorn -k swordfish.web.gunicorn.ThriftWorker -b 0.0.0.0:9090 myservice:app
"""

from __future__ import annotations

import importlib
from typing import Any

from .app import ThriftApp

__all__ = ["ThriftApp"]


def __getattr__(name: str) -> Any:
    # gunicorn's worker-class loader splits "-k a.b.c:Name" on dots and asks module ``a.b``
    # for the attribute "c:Name". Answer that too, so the colon spelling of
    # ``-k swordfish.web.gunicorn:ThriftWorker`` works like the dotted one.
    module, colon, attr = name.partition(":")
    if colon and module == "gunicorn" and attr:
        return getattr(importlib.import_module(f"{__name__}.gunicorn"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
