"""ThriftTest handler for Swordfish servers.

Used in-process by test_interop.py and by the CLI test, which runs
``python -m swordfish serve ... --handler tests.interop.sf_handler:Handler`` from the
repository root. The behaviour itself is shared with the peers (peers/thrifttest_handler.py).
"""

from __future__ import annotations

import swordfish
from tests.interop.harness import THRIFT_TEST_IDL
from tests.interop.peers.thrifttest_handler import ThriftTestHandler

thrift_test = swordfish.load(str(THRIFT_TEST_IDL))


class Handler(ThriftTestHandler):
    types = thrift_test

    def fail_generic(self, arg: str) -> None:
        # Not declared in `throws`: Swordfish must answer TApplicationException(INTERNAL_ERROR)
        # and keep the connection open.
        raise RuntimeError(arg)
