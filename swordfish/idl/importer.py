"""Opt-in import hook: ``import calc_thrift`` loads ``calc.thrift`` found on ``sys.path``.

Off by default because a finder on ``sys.meta_path`` affects every import in the process.
It only answers top-level names ending in ``_thrift`` and sits after the standard finders, so
a real ``calc_thrift.py`` still wins.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Iterable, Sequence

from .loader import StrPath, load

__all__ = ["ThriftImporter", "install_import_hook", "uninstall_import_hook"]

_SUFFIX = "_thrift"


class ThriftImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``<stem>.thrift`` on ``sys.path`` for ``import <stem>_thrift``."""

    def __init__(self, include_dirs: Iterable[StrPath] | None = None) -> None:
        self.include_dirs = [os.fspath(d) for d in include_dirs or ()]

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if "." in fullname or not fullname.endswith(_SUFFIX) or fullname == _SUFFIX:
            return None
        filename = fullname[: -len(_SUFFIX)] + ".thrift"
        for entry in sys.path:
            candidate = os.path.join(entry or os.curdir, filename)
            if os.path.isfile(candidate):
                return importlib.util.spec_from_loader(fullname, self, origin=candidate)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        assert spec.origin is not None
        return load(spec.origin, module_name=spec.name, include_dirs=self.include_dirs)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: ``create_module`` returned a fully built module."""


def install_import_hook(include_dirs: Iterable[StrPath] | None = None) -> ThriftImporter:
    """Let ``import x_thrift`` load ``x.thrift`` from ``sys.path``; replaces an earlier hook."""
    uninstall_import_hook()
    finder = ThriftImporter(include_dirs)
    sys.meta_path.append(finder)
    return finder


def uninstall_import_hook() -> None:
    """Remove the hook installed by ``install_import_hook`` (no-op if there is none)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, ThriftImporter)]
