"""Supervisor and ``swordfish serve --server prefork`` options: checks that need no fork."""

from __future__ import annotations

from typing import Any

import pytest

from swordfish.cli import main
from swordfish.prefork import Supervisor, WorkerApp
from swordfish.prefork.app import as_worker_app
from swordfish.prefork.supervisor import describe_exit, restart_delay

from .helpers import IDL


def app() -> WorkerApp:
    raise AssertionError("never called outside a worker")


def test_restart_delay_doubles_up_to_the_cap() -> None:
    assert [restart_delay(n, 0.1, 1.0) for n in range(7)] == [
        0.0,
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert restart_delay(10_000, 0.1, 10.0) == 10.0  # no overflow


def test_describe_exit() -> None:
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"
    assert describe_exit(None) == "exited (status unknown)"


def test_factory_results() -> None:
    pair = as_worker_app(("svc", "handler"))
    assert pair == WorkerApp("svc", "handler")
    assert (pair.protocol, pair.transport, dict(pair.options)) == ("binary", "buffered", {})
    full = WorkerApp("svc", "h", protocol="compact", options={"idle_timeout": 5})
    assert as_worker_app(full) is full
    with pytest.raises(TypeError, match="WorkerApp or a \\(service, handler\\) pair"):
        as_worker_app(["svc", "handler"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "workers must be a positive int, got 0"),
        ({"worker_server": "forking"}, "unknown worker_server 'forking'; choose one of: "),
        ({"threads": -1}, "threads must be a positive int"),
        ({"max_requests": 0}, "max_requests must be a positive int"),
        ({"max_requests_jitter": 5}, "max_requests_jitter needs max_requests"),
        ({"max_requests": 5, "max_requests_jitter": -1}, "max_requests_jitter must be an int"),
        ({"graceful_timeout": 0}, "graceful_timeout must be a positive number"),
        ({"worker_timeout": None}, "worker_timeout must be a positive number"),
        ({"loop": "uvloop"}, "loop='uvloop' applies to worker_server='asyncio' only"),
        ({"loop": "trio", "worker_server": "asyncio"}, "unknown loop 'trio'"),
    ],
)
def test_supervisor_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        Supervisor(app, port=0, **kwargs)


def test_supervisor_defaults() -> None:
    sup = Supervisor(app, port=0, workers=3, worker_timeout=2.0)
    assert (sup.workers, sup.worker_server, sup.max_requests) == (3, "threadpool", None)
    assert sup.heartbeat_interval == 0.5  # a quarter of worker_timeout, at most 1 s
    assert Supervisor(app, port=0).heartbeat_interval == 1.0
    assert sup.state == "created"
    assert not sup.serving
    with pytest.raises(TypeError):
        Supervisor("not callable")  # type: ignore[arg-type]


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        rc = main(["serve", IDL, "--service", "Probe", "--port", "0", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


H = ("--handler", "tests.prefork.handler:Handler")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((*H, "--max-requests", "5"), "--max-requests applies to --server prefork only"),
        ((*H, "--server", "asyncio", "--threads", "2"), "--threads applies to --server prefork"),
        ((*H, "--worker-server", "asyncio"), "--worker-server applies to --server prefork only"),
        ((*H, "--worker-timeout", "3"), "--worker-timeout applies to --server prefork only"),
        ((*H, "--status-file", "x.json"), "--status-file applies to --server prefork only"),
        (
            (*H, "--server", "prefork", "--max-requests-jitter", "5"),
            "--max-requests-jitter needs --max-requests",
        ),
        (
            (*H, "--server", "prefork", "--loop", "uvloop"),
            "--loop applies to --server asyncio or --worker-server asyncio only",
        ),
        ((*H, "--server", "prefork", "--workers", "0"), "--workers must be positive, got 0"),
        ((*H, "--server", "prefork", "--threads", "0"), "threads must be a positive int, got 0"),
        (
            (*H, "--server", "prefork", "--max-requests", "-1"),
            "max_requests must be a positive int, got -1",
        ),
        ((*H, "--server", "prefork", "--graceful-timeout", "0"), "--graceful-timeout must be"),
        (
            ("--handler", "nocolon", "--server", "prefork"),
            "--handler must look like module:Class, got 'nocolon'",
        ),
    ],
)
def test_cli_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    rc, err = run_main(capsys, *argv)
    assert rc == 2
    assert err.startswith(f"swordfish: error: {message}")


def test_cli_worker_server_choices(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run_main(capsys, *H, "--server", "prefork", "--worker-server", "forking")
    assert rc == 2
    assert "argument --worker-server: invalid choice: 'forking'" in err
