"""The calculator over HTTP: ``wsgi_app`` (gunicorn) and ``asgi_app`` (uvicorn).

Serve it (from the repository root)::

    gunicorn --threads 8 -b 127.0.0.1:8080 examples.http.calc_http:wsgi_app
    uvicorn examples.http.calc_http:asgi_app --port 8080

and call it with ``python -m examples.http.client [--url http://127.0.0.1:8080/calc]``.
"""

from __future__ import annotations

from swordfish.web import ThriftASGIApp, ThriftWSGIApp

from ..calc.handler import CalculatorHandler, calc

wsgi_app = ThriftWSGIApp(calc.Calculator, CalculatorHandler())
asgi_app = ThriftASGIApp(calc.Calculator, CalculatorHandler())
