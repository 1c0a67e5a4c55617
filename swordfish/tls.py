"""Building ``ssl.SSLContext`` objects for Swordfish servers and clients (TLS, mutual TLS).

Every driver takes a plain ``ssl.SSLContext`` (``ssl_context=``), so anything the stdlib can
express works; these two helpers only give the common cases safe defaults: TLS 1.2 or newer,
no renegotiation, certificate and hostname checks on by default for clients. A server that
requires client certificates (mutual TLS) is a context with ``verify_mode=CERT_REQUIRED``:
``server_context(..., cafile=CA, require_client_cert=True)``.

This module sits in its own layer just below the drivers (see DESIGN.md): both the sync and
the asyncio drivers may use it, and it is the one module below them allowed to import ``ssl``
(it builds contexts; it never opens a socket).
"""

from __future__ import annotations

import ssl
from os import PathLike

__all__ = ["check_context", "client_context", "server_context"]

StrPath = str | PathLike[str]


def check_context(ssl_context: object, server_hostname: str | None = None) -> ssl.SSLContext | None:
    """``ssl_context=`` as every driver takes it (``None`` = no TLS), else a ``ValueError``;
    ``server_hostname`` (clients) only makes sense with a context."""
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise ValueError(f"ssl_context must be an ssl.SSLContext, got {ssl_context!r}")
    if server_hostname is not None and ssl_context is None:
        raise ValueError("server_hostname applies only with ssl_context")
    return ssl_context


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Renegotiation (TLS 1.2) could make a read need a write; the sync drivers wait on
    # readability only, so it is switched off (TLS 1.3 has none).
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return context


def server_context(
    certfile: StrPath,
    keyfile: StrPath | None = None,
    cafile: StrPath | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server-side context presenting ``certfile`` (+ ``keyfile``, if not inside it).

    cafile: the CA(s) client certificates must chain to. With ``require_client_cert`` a
    client without a valid certificate fails the handshake (mutual TLS); without it, a
    client certificate is asked for and checked if sent, but optional. ``require_client_cert``
    without ``cafile`` is a ``ValueError`` (nothing could be trusted).
    """
    if require_client_cert and cafile is None:
        raise ValueError("require_client_cert needs cafile (the CA client certificates chain to)")
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(
    cafile: StrPath | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
) -> ssl.SSLContext:
    """A client-side context that verifies the server's certificate and hostname.

    cafile: the CA(s) the server certificate must chain to (``None``: the system's default
    trust store). certfile/keyfile: this client's own certificate, for servers that require
    one (mutual TLS). ``keyfile`` without ``certfile`` is a ``ValueError``.
    """
    if keyfile is not None and certfile is None:
        raise ValueError("keyfile needs certfile")
    context = _harden(ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile))
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    return context
