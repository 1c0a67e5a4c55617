"""ThriftTest as a Thrift-over-HTTP WSGI app, for ``gunicorn tests.interop.sf_http_apps:wsgi_app``
(``SF_HTTP_PROTOCOL`` picks the protocol; default binary)."""

from __future__ import annotations

import os

from swordfish.web import ThriftWSGIApp
from tests.interop.sf_handler import Handler, thrift_test

wsgi_app = ThriftWSGIApp(
    thrift_test.ThriftTest, Handler(), protocol=os.environ.get("SF_HTTP_PROTOCOL", "binary")
)
