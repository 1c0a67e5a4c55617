"""Process plumbing for the interop tests: start peer programs, wait until they listen, stop them.

Every peer runs as its own Python process over real loopback sockets, so nothing in this
process (imports, monkeypatching, shared globals) can make two implementations agree by
accident. A server announces ``listening on HOST:PORT`` once it is bound; its whole output goes
to a log file that is polled for that line (a pipe that nobody reads could fill and stall a
chatty server) and shown in the assertion message when something goes wrong.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.paths import REPO, THRIFT_TEST

INTEROP_DIR = Path(__file__).resolve().parent
REPO_ROOT = REPO
PEERS_DIR = INTEROP_DIR / "peers"
THRIFT_TEST_IDL = THRIFT_TEST  # the full file, uuid included (shared/idl/, beside the repo)

PROTOCOLS = ("binary", "compact", "json")
TRANSPORTS = ("buffered", "framed")
#: The protocols each peer speaks interoperably. thriftpy2 0.7's TApacheJSONProtocol fails
#: the check table even against itself (every call; see test_thriftpy2_json_is_broken), so it
#: has no json rows; Apache's TJSONProtocol runs in both roles.
PEER_PROTOCOLS = {"apache": PROTOCOLS, "thriftpy2": ("binary", "compact")}

READY = re.compile(r"listening on (\S+):(\d+)")
READY_TIMEOUT_S = 30.0
CLIENT_TIMEOUT_S = 120.0

# Declarations that Debian's thrift 0.17 compiler and thriftpy2 0.7 cannot parse. The
# annotated xsd namespace only matters to the XSD generator; uuid came in Thrift 0.18.
_OLD_PEER_UNSUPPORTED = (
    re.compile(r"^\s*namespace\s+xsd\s"),
    re.compile(r"^\s*\d+\s*:\s*uuid\s+\w+"),  # struct field:   5: uuid uuid_field
    re.compile(r"^\s*uuid\s+testUuid\s*\("),  # service method: uuid testUuid(1: uuid thing),
)


def idl_for_old_peers(text: str) -> str:
    """ThriftTest.thrift without the three declarations older peers reject.

    Removing a method or an unused struct field does not move any other field id, so the
    remaining methods are byte-for-byte the same on the wire as with the full file.
    """
    kept, dropped = [], []
    for line in text.splitlines(keepends=True):
        (dropped if any(p.match(line) for p in _OLD_PEER_UNSUPPORTED) else kept).append(line)
    if len(dropped) != len(_OLD_PEER_UNSUPPORTED):
        raise AssertionError(f"expected to drop {len(_OLD_PEER_UNSUPPORTED)} lines, got {dropped}")
    return "".join(kept)


def _log_tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no output>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ServerProcess:
    """A server program under test; ``port`` is known once ``wait_ready`` returned."""

    def __init__(self, argv: list[str], log_path: Path, *, cwd: Path = REPO_ROOT) -> None:
        self.argv = argv
        self.log_path = log_path
        self.port = 0
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = READY.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(2))
                return self.port
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode} before listening: "
                    f"{' '.join(self.argv)}\n{self.output()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"server not listening after {timeout}s: {self.argv}\n{self.output()}")

    def output(self) -> str:
        return _log_tail(self.log_path)

    def terminate_and_wait(self, timeout: float) -> int:
        """Send SIGTERM and wait; raise ``subprocess.TimeoutExpired`` if it does not exit."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


@contextlib.contextmanager
def running_server(argv: list[str], log_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(argv, log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def run_client(argv: list[str], *, server: ServerProcess | None = None) -> None:
    """Run a peer client program to completion; fail with its report (and the server's log)."""
    try:
        done = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"client still running after {CLIENT_TIMEOUT_S}s: {argv}") from exc
    if done.returncode != 0:
        server_log = f"\n--- server output ---\n{server.output()}" if server else ""
        raise AssertionError(
            f"client exited with {done.returncode}: {' '.join(argv)}\n"
            f"--- client stdout ---\n{done.stdout.decode(errors='replace')}\n"
            f"--- client stderr ---\n{done.stderr.decode(errors='replace')}{server_log}"
        )


def peer_argv(
    peer: str,
    role: str,
    protocol: str,
    transport: str,
    *,
    idl: Path,
    gen_dir: Path | None,
    port: int = 0,
    finite_doubles_only: bool = False,
) -> list[str]:
    """Command line of ``peers/{peer}_{role}.py`` (``finite_doubles_only``: clients only, see
    ``thrifttest_checks.run_checks``)."""
    argv = [
        sys.executable,
        str(PEERS_DIR / f"{peer}_{role}.py"),
        "--protocol",
        protocol,
        "--transport",
        transport,
        "--port",
        str(port),
    ]
    if peer == "apache":
        assert gen_dir is not None
        argv += ["--gen-dir", str(gen_dir)]
    else:
        argv += ["--idl", str(idl)]
    if role == "client":
        argv.append("--verbose")
        if finite_doubles_only:
            argv.append("--finite-doubles-only")
    return argv


# -- Node.js peers (tests/interop/node/, used by test_node_interop.py) --------------------------

NODE_DIR = INTEROP_DIR / "node"
#: Where `make node-peer` (npm ci) installs the pinned npm `thrift` package.
NODE_MODULES = NODE_DIR / "node_modules"


def node_peer_argv(
    role: str,
    protocol: str,
    transport: str,
    *,
    node: str,
    gen_dir: Path,
    port: int = 0,
    extra: list[str] | None = None,
) -> list[str]:
    """Command line of ``node/{role}.js`` (role: ``server`` or ``client``); ``extra`` holds
    the TLS and check-table options (see node/common.js and node/client.js)."""
    argv = [node, str(NODE_DIR / f"{role}.js"), "--gen-dir", str(gen_dir)]
    argv += ["--protocol", protocol, "--transport", transport, "--port", str(port)]
    if role == "client":
        argv.append("--verbose")
    return argv + list(extra or ())
