"""Pre-fork serving: one supervisor process, many worker processes, one listening socket.

    from swordfish.prefork import Supervisor, WorkerApp

    def app() -> WorkerApp:  # runs in each worker, after the fork
        calc = swordfish.load("calc.thrift")
        from calc_handler import Handler
        return WorkerApp(calc.Calculator, Handler(), transport="framed")

    Supervisor(app, "0.0.0.0", 9090, workers=4, max_requests=10_000).run()

``swordfish serve ... --server prefork --workers N`` is the same from the command line. See
``supervisor`` for the lifecycle (restarts, recycling, SIGHUP reload, SIGTERM drain) and
``docs/prefork.md`` for every knob and the guarantees.
"""

from .app import AppFactory, AppLoadError, WorkerApp
from .supervisor import WORKER_SERVERS, Supervisor, WorkerStartError

__all__ = [
    "WORKER_SERVERS",
    "AppFactory",
    "AppLoadError",
    "Supervisor",
    "WorkerApp",
    "WorkerStartError",
]
