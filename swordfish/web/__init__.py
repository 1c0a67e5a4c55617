"""Serving Swordfish services from application servers.

Thrift over HTTP: ``ThriftWSGIApp`` (gunicorn, any WSGI server) and ``ThriftASGIApp`` (uvicorn,
any ASGI server) answer one Thrift call per POST; see docs/http.md::

    gunicorn myservice:wsgi_app        uvicorn myservice:asgi_app

Raw Thrift over TCP:
``ThriftApp`` packages a service and its handler for an application server; the gunicorn
worker classes that serve it live in ``swordfish.web.gunicorn`` (gunicorn is an optional
dependency: ``pip install 'swordfish[gunicorn]'``)::

    gunicorn -k swordfish.web.gunicorn.ThriftWorker -b 0.0.0.0:9090 myservice:app
"""

from __future__ import annotations

import importlib
from typing import Any

from ._http import HTTP_HEADERS_KEY
from .app import ThriftApp
from .asgi import ThriftASGIApp
from .wsgi import ThriftWSGIApp

__all__ = ["HTTP_HEADERS_KEY", "ThriftASGIApp", "ThriftApp", "ThriftWSGIApp"]


def __getattr__(name: str) -> Any:
    # gunicorn's worker-class loader splits "-k a.b.c:Name" on dots and asks module ``a.b``
    # for the attribute "c:Name". Answer that too, so the colon spelling of
    # ``-k swordfish.web.gunicorn:ThriftWorker`` works like the dotted one.
    module, colon, attr = name.partition(":")
    if colon and module == "gunicorn" and attr:
        return getattr(importlib.import_module(f"{__name__}.gunicorn"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
