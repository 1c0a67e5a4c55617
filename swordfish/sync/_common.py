"""Argument checks of the sync drivers (the shared ones live in ``rpc.options``)."""

from __future__ import annotations

from ..rpc.options import PROTOCOLS, TRANSPORTS, check_choice, resolve_service

__all__ = ["MODELS", "PROTOCOLS", "TRANSPORTS", "check_choice", "resolve_service"]

#: ``model=`` values of the sync server.
MODELS = ("simple", "threaded", "threadpool", "forking")
