"""Test certificates made at test time with the ``openssl`` binary (nothing is checked in).

``make_certs(directory)`` writes, under ``directory``:

- ``ca.pem`` / ``ca.key``: a CA that signs the next two;
- ``server.pem`` / ``server.key``: for 127.0.0.1 and localhost (subjectAltName), signed by the CA;
- ``client.pem`` / ``client.key``: a client certificate (extendedKeyUsage clientAuth);
- ``rogue.pem`` / ``rogue.key``: self-signed, trusted by nobody (an untrusted client or server).

Keys are EC P-256, so generation takes milliseconds.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certs", "make_certs"]


@dataclass(frozen=True)
class Certs:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    @property
    def ca(self) -> str:
        return self.path("ca.pem")

    @property
    def server_cert(self) -> str:
        return self.path("server.pem")

    @property
    def server_key(self) -> str:
        return self.path("server.key")

    @property
    def client_cert(self) -> str:
        return self.path("client.pem")

    @property
    def client_key(self) -> str:
        return self.path("client.key")

    @property
    def rogue_cert(self) -> str:
        return self.path("rogue.pem")

    @property
    def rogue_key(self) -> str:
        return self.path("rogue.key")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _key(name: str, cwd: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name, cwd=cwd)


def _signed(name: str, subject: str, extensions: str, cwd: Path) -> None:
    _key(f"{name}.key", cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.pem", cwd=cwd,
    )  # fmt: skip


def make_certs(directory: Path) -> Certs:
    """Generate the CA, server, client and rogue certificates into ``directory``."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl binary is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    _key("ca.key", directory)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Swordfish Test CA",
        "-days", "2", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem", cwd=directory,
    )  # fmt: skip
    _signed(
        "server",
        "/CN=localhost",
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n",
        directory,
    )
    _signed(
        "client",
        "/CN=swordfish-client",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        directory,
    )
    _key("rogue.key", directory)
    _openssl(
        "req", "-x509", "-new", "-key", "rogue.key", "-subj", "/CN=localhost",
        "-days", "2", "-sha256", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-out", "rogue.pem", cwd=directory,
    )  # fmt: skip
    return Certs(directory)
