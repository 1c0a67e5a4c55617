"""Keep the import-linter contracts in pyproject.toml honest as the package grows.

import-linter only checks what it is told about, so two kinds of drift would pass silently:

1. a package below the drivers (say ``swordfish/policy/__init__.py``) is added but never
   listed in the "sans-io" contract's ``source_modules`` (import-linter refuses to list a
   package that does not exist yet, so the list cannot be written ahead of time);
2. a directory of ``.py`` files without ``__init__.py`` inside ``swordfish/``: import-linter
   does not see namespace packages, so their imports would escape every contract.

Which layers count as "below the drivers" is read from the layers contract itself: every
layer listed after the one holding ``sync``, except the modules in ``SANS_IO_EXEMPT``. Run by
``make check``; exit status 1 on drift.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "swordfish"
DRIVER_LAYER_MEMBER = "sync"
#: Modules below the drivers that may import ``ssl`` (and so are not sans-IO sources):
#: ``swordfish.tls`` builds ``ssl.SSLContext`` objects for both the sync and asyncio drivers,
#: which must not import each other; it opens no socket and imports nothing else forbidden
#: (the "tls-no-io" contract in pyproject.toml checks that).
SANS_IO_EXEMPT = {"tls"}


def layer_names(layer: str) -> list[str]:
    return [name.strip().strip("()").strip() for name in re.split(r"[|:]", layer)]


def exists(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {contract["id"]: contract for contract in config["contracts"]}
    layers = [layer_names(layer) for layer in contracts["layers"]["layers"]]
    drivers = next(i for i, names in enumerate(layers) if DRIVER_LAYER_MEMBER in names)
    sans_io = set(contracts["sans-io"]["source_modules"])

    problems = [
        f"swordfish.{name} exists below the drivers but is not a source module of the "
        "'sans-io' contract in pyproject.toml: add it there"
        for names in layers[drivers + 1 :]
        for name in names
        if exists(name) and name not in SANS_IO_EXEMPT and f"swordfish.{name}" not in sans_io
    ]
    for path in sorted(PACKAGE.rglob("*.py")):
        for folder in path.relative_to(PACKAGE).parents:
            if folder != Path(".") and not (PACKAGE / folder / "__init__.py").is_file():
                problems.append(
                    f"{path.relative_to(ROOT)}: swordfish/{folder} has no __init__.py, so "
                    "import-linter cannot see its imports"
                )
                break

    for problem in problems:
        print(f"check_contracts: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
