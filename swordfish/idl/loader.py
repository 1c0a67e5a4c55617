"""``load`` / ``loads``: find files, follow includes, cache, register modules.

A loaded module is registered in ``sys.modules`` under its name so its struct classes pickle
(their ``__module__`` is that name). Loads are cached per (real path, module name, include
dirs): loading the same file again returns the very same module, so classes compare by
identity across a program. An included file ``shared.thrift`` is loaded (and cached) as module
``shared_thrift`` and exposed as attribute ``shared`` of the including module; a file included
from two places is therefore one module, not two copies.

Loading is meant to happen at import time; this module takes no lock (the layer below the
drivers does not import ``threading``), so two threads racing to load the same new file may
build it twice and the last one registered wins.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable

from ..errors import IDLError
from .build import Program, build
from .parser import parse
from .source import Source

__all__ = ["clear_cache", "load", "loads"]

StrPath = str | os.PathLike[str]

_cache: dict[tuple[str, str, tuple[str, ...]], Program] = {}


def load(
    path: StrPath,
    module_name: str | None = None,
    include_dirs: Iterable[StrPath] | None = None,
) -> types.ModuleType:
    """Load a .thrift file as a module (cached; see the module docstring).

    ``module_name`` defaults to ``<file stem>_thrift``. Includes are searched relative to the
    including file first, then in ``include_dirs`` in order. Raises ``IDLError`` for anything
    wrong in the IDL and ``OSError`` if ``path`` itself cannot be read.
    """
    display = os.fspath(path)
    if module_name is None:
        module_name = _default_module_name(display)
    dirs = _normalize_dirs(include_dirs)
    return _load_file(display, module_name, dirs, ()).module


def loads(
    text: str,
    module_name: str,
    path: str = "<string>",
    include_dirs: Iterable[StrPath] | None = None,
) -> types.ModuleType:
    """Load IDL from a string (not cached). ``path`` names it in errors and anchors includes."""
    dirs = _normalize_dirs(include_dirs)
    _check_module_name(module_name, path)
    if text.startswith("\ufeff"):
        text = text[1:]
    real = os.path.realpath(path) if not path.startswith("<") else path
    program = _compile(Source(path, text), module_name, dirs, (real,), path)
    sys.modules[module_name] = program.module
    return program.module


def clear_cache() -> None:
    """Forget cached loads (modules stay in ``sys.modules``); the next load re-reads files."""
    _cache.clear()


def _default_module_name(path: str) -> str:
    stem = os.path.basename(path)
    if stem.endswith(".thrift"):
        stem = stem[: -len(".thrift")]
    return f"{stem}_thrift"


def _normalize_dirs(include_dirs: Iterable[StrPath] | None) -> tuple[str, ...]:
    if include_dirs is None:
        return ()
    if isinstance(include_dirs, (str, os.PathLike)):
        include_dirs = [include_dirs]
    return tuple(os.path.abspath(os.fspath(d)) for d in include_dirs)


def _check_module_name(module_name: str, filename: str) -> None:
    if not module_name:
        raise IDLError(f"{filename}: error: module name must not be empty", filename=filename)
    existing = sys.modules.get(module_name)
    if existing is not None and not hasattr(existing, "__thrift_file__"):
        raise IDLError(
            f"{filename}: error: module name {module_name!r} is already used by a "
            "module that was not loaded from Thrift IDL",
            filename=filename,
        )


def _load_file(
    display: str, module_name: str, dirs: tuple[str, ...], stack: tuple[str, ...]
) -> Program:
    real = os.path.realpath(display)
    key = (real, module_name, dirs)
    program = _cache.get(key)
    _check_module_name(module_name, display)
    if program is not None:
        # Someone may have dropped it from sys.modules; pickling needs it back.
        sys.modules[module_name] = program.module
        return program
    with open(display, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IDLError(
            f"{display}: error: not valid UTF-8 ({exc.reason} at byte {exc.start})",
            filename=display,
        ) from None
    program = _compile(Source(display, text), module_name, dirs, (*stack, real), real)
    _cache[key] = program
    sys.modules[module_name] = program.module
    return program


def _compile(
    source: Source,
    module_name: str,
    dirs: tuple[str, ...],
    stack: tuple[str, ...],
    thrift_file: str,
) -> Program:
    document = parse(source)
    base_dir = None if source.filename.startswith("<") else os.path.dirname(source.filename)
    includes: dict[str, Program] = {}
    for inc in document.includes:
        found = _find_include(inc.path, base_dir, dirs)
        if found is None:
            searched = ", ".join([*([base_dir or "."] if base_dir is not None else []), *dirs])
            raise source.error(
                inc.pos, f"cannot find include {inc.path!r} (searched: {searched or 'nowhere'})"
            )
        real = os.path.realpath(found)
        if real in stack:
            chain = [os.path.basename(p) for p in stack[stack.index(real) :]]
            chain.append(os.path.basename(real))
            raise source.error(inc.pos, f"include cycle: {' -> '.join(chain)}")
        stem = _default_module_name(found)[: -len("_thrift")]
        previous = includes.get(stem)
        if previous is not None:
            if os.path.realpath(previous.module.__thrift_file__) == real:
                continue  # the same file included twice: harmless
            raise source.error(inc.pos, f"another included file is already named {stem!r}")
        includes[stem] = _load_file(found, f"{stem}_thrift", dirs, stack)
    return build(source, document, module_name, includes, thrift_file=thrift_file)


def _find_include(name: str, base_dir: str | None, dirs: tuple[str, ...]) -> str | None:
    if os.path.isabs(name):
        return name if os.path.isfile(name) else None
    candidates = [os.path.join(base_dir, name)] if base_dir is not None else []
    candidates.extend(os.path.join(d, name) for d in dirs)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return None
