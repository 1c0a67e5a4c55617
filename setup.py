"""Build the C accelerator ``swordfish._speedups``; everything else lives in pyproject.toml.

The extension is optional at run time (the pure-Python codecs are the reference and the
fallback), but it is built by every install: ``pip install -e .`` and ``make test`` compile
it, and the test suite fails under ``CI=true`` when it is missing. Set
``SWORDFISH_NO_EXTENSIONS=1`` while installing to skip the build (e.g. no compiler).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup

SOURCES = [
    "swordfish/_speedups/module.c",
    "swordfish/_speedups/spec.c",
    "swordfish/_speedups/buffer.c",
    "swordfish/_speedups/binary.c",
    "swordfish/_speedups/compact.c",
]

# Our own code compiles warning-free at -Wall -Wextra; -Werror would also fire on warnings a
# newer compiler invents, so CI gets it via SWORDFISH_STRICT_BUILD=1 (set by the Makefile).
CFLAGS = ["-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-std=c11"]
if os.environ.get("SWORDFISH_STRICT_BUILD") == "1":
    CFLAGS.append("-Werror")

ext_modules = []
if (
    os.environ.get("SWORDFISH_NO_EXTENSIONS", "") in ("", "0")
    and sys.implementation.name == "cpython"
):
    ext_modules.append(
        Extension(
            "swordfish._speedups",
            sources=SOURCES,
            depends=["swordfish/_speedups/speedups.h"],
            extra_compile_args=CFLAGS,
        )
    )

setup(ext_modules=ext_modules)
