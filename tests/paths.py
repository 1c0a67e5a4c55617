"""Where the tests find shared files: ``../shared`` beside the repository (as in CI)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
THRIFT_TEST = SHARED / "idl" / "ThriftTest.thrift"
