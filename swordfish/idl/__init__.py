"""Thrift IDL loader: .thrift text -> a runtime module of model types (no I/O beyond files).

``load("calc.thrift")`` returns a module whose attributes are the file's structs, unions,
exceptions, enums (``IntEnum``), constants and services, plus every include by its file stem.
Errors are ``swordfish.errors.IDLError`` with ``file:line:column``, the line and a caret.
"""

from .importer import install_import_hook, uninstall_import_hook
from .loader import clear_cache, load, loads

__all__ = ["clear_cache", "install_import_hook", "load", "loads", "uninstall_import_hook"]
