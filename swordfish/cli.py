"""``python -m swordfish``: serve a handler, or make one call, from the command line.

Argument parsing and wiring only; the work is done by ``load``, ``make_server`` and
``make_client``. Exit status: 0 success (including a clean stop on SIGTERM/SIGINT), 1 the call
or the server failed at run time, 2 bad usage (arguments, IDL, service or handler).

    swordfish serve calc.thrift --service Calculator --handler calc_handler:Handler --port 9090
    swordfish call calc.thrift --service Calculator --port 9090 add '{"num1": 1, "num2": 2}'
    swordfish serve ... --ssl --certfile server.pem --keyfile server.key \
        [--cafile ca.pem --require-client-cert]
    swordfish call ... --ssl [--cafile ca.pem] [--certfile client.pem --keyfile client.key]

``call`` reads arguments as a JSON object keyed by parameter name: structs are JSON objects,
lists and sets are arrays, maps are objects (or arrays of ``[key, value]`` pairs), enums may
be given by name, and ``binary`` values are base64 strings. The result is printed as JSON.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.util
import json
import os
import signal
import ssl
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from types import FrameType, ModuleType
from typing import Any, NoReturn

from .aio.loops import LOOPS
from .errors import IDLError, SwordfishError
from .framing import HEADER_TRANSFORMS, detection
from .model.service import ServiceSpec
from .model.spec import TypeSpec
from .model.struct import Struct, ThriftException
from .model.ttype import TType
from .prefork import WORKER_SERVERS as PREFORK_WORKER_SERVERS
from .rpc.context import call_headers
from .rpc.options import CLIENT_TRANSPORTS, HTTP_TRANSPORT, PROTOCOLS
from .sync._common import MODELS
from .sync.factory import make_client, make_server
from .sync.stream import format_address

__all__ = ["main"]

PROG = "swordfish"
#: How long ``serve`` lets running calls finish after SIGTERM (the whole exit stays < 3 s).
STOP_GRACE = 2.0


#: Prefix of the CLI's multiplexed protocol names ("multiplexed-compact"): the protocol after
#: it, with calls named "SERVICE:method" (Apache's TMultiplexedProtocol).
MULTIPLEXED_PREFIX = "multiplexed-"
CLI_PROTOCOLS = (*PROTOCOLS, *(MULTIPLEXED_PREFIX + p for p in PROTOCOLS))


class UsageError(Exception):
    """Bad input from the command line: reported on stderr, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Thrift RPC for Python.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> Any:
        p.add_argument("idl", metavar="IDL", help="path to the .thrift file")
        p.add_argument("--service", required=True, help="service name in the IDL")
        p.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
        p.add_argument("--port", type=int, default=9090, help="default: %(default)s")
        p.add_argument(
            "--protocol",
            choices=CLI_PROTOCOLS,
            default="binary",
            help="multiplexed-P: protocol P with Apache's multiplexed service names "
            '("SERVICE:method"; the service registered or called under its --service name)',
        )
        p.add_argument(
            "--header-transform",
            dest="header_transforms",
            choices=HEADER_TRANSFORMS,
            action="append",
            default=[],
            help="--protocol header/header-compact: apply this transform to what is sent "
            "(repeatable; a server answers a deflating caller deflated anyway)",
        )
        p.add_argument(
            "--transport",
            choices=CLIENT_TRANSPORTS,
            default="buffered",
            help="http: Thrift over HTTP (see docs/http.md)",
        )
        tls = p.add_argument_group("TLS (see docs/tls.md)")
        tls.add_argument("--ssl", action="store_true", help="use TLS")
        tls.add_argument(
            "--certfile",
            default=None,
            help="PEM certificate (chain): the server's; for call, the client's (mutual TLS)",
        )
        tls.add_argument(
            "--keyfile", default=None, help="PEM private key of --certfile (if not inside it)"
        )
        tls.add_argument(
            "--cafile",
            default=None,
            help="PEM CA certificates: serve trusts client certificates from them; call "
            "trusts the server's (default: the system's trust store)",
        )
        return tls

    serve = sub.add_parser("serve", help="serve a handler")
    common(serve).add_argument(
        "--require-client-cert",
        action="store_true",
        help="mutual TLS: reject clients without a certificate signed by --cafile",
    )
    serve.add_argument(
        "--handler",
        required=True,
        help="module:Class (instantiated with no arguments) or module:object; "
        "the module may also be a path to a .py file",
    )
    serve.add_argument(
        "--server",
        choices=(*MODELS, "asyncio", "prefork"),
        default="threadpool",
        help="server model",
    )
    serve.add_argument(
        "--loop",
        choices=LOOPS,
        default=None,
        help="event loop of --server asyncio, or of --server prefork --worker-server asyncio "
        "(default: asyncio)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threadpool size; with --server asyncio: threads for plain (non-async) handlers; "
        "with --server prefork: worker processes (default: one per CPU)",
    )
    serve.add_argument(
        "--idle-timeout", type=float, default=60.0, help="seconds (default: %(default)s)"
    )
    serve.add_argument(
        "--detect",
        nargs="?",
        const="all",
        default=None,
        metavar="NAMES",
        help="detect each connection's protocol and transport from its first bytes instead "
        "of --protocol/--transport; --detect=NAMES restricts it, e.g. --detect=binary,framed "
        "(see docs/transports.md)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=None,
        help=f"seconds running calls may take to finish on SIGTERM (default: {STOP_GRACE})",
    )
    prefork = serve.add_argument_group("--server prefork options (see docs/prefork.md)")
    prefork.add_argument(
        "--worker-server",
        choices=PREFORK_WORKER_SERVERS,
        default=None,
        help="what each worker process runs (default: threadpool)",
    )
    prefork.add_argument(
        "--threads",
        type=int,
        default=None,
        help="per worker: threadpool size, or asyncio handler threads",
    )
    prefork.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="replace a worker after about this many calls (default: never)",
    )
    prefork.add_argument(
        "--max-requests-jitter",
        type=int,
        default=None,
        help="add a random 0..N to each worker's --max-requests (default: 0)",
    )
    prefork.add_argument(
        "--worker-timeout",
        type=float,
        default=None,
        help="kill and replace a worker silent this many seconds (default: 30)",
    )
    prefork.add_argument(
        "--status-file",
        default=None,
        help="keep a JSON status (pids, restarts, requests) at this path",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")

    call = sub.add_parser("call", help="call one method and print the result as JSON")
    common(call).add_argument(
        "--server-hostname",
        default=None,
        help="name the server certificate must carry (default: --host)",
    )
    call.add_argument("method", metavar="METHOD")
    call.add_argument("args", metavar="JSON_ARGS", nargs="?", default="{}")
    call.add_argument("--timeout", type=float, default=30.0, help="seconds (default: %(default)s)")
    call.add_argument(
        "--multiplexed",
        metavar="NAME",
        default=None,
        help='call service NAME of a multiplexed server (sends "NAME:METHOD")',
    )
    call.add_argument(
        "--path", default=None, help="--transport http: the URL path to POST to (default: /)"
    )
    call.add_argument(
        "--header",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="--protocol header/header-compact: send this info header (repeatable); the "
        "reply's headers are printed on stderr",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    args.multiplexed_protocol = args.protocol.startswith(MULTIPLEXED_PREFIX)
    args.protocol = args.protocol.removeprefix(MULTIPLEXED_PREFIX)
    try:
        if args.command == "serve":
            return _serve(args)
        return _call(args)
    except UsageError as exc:
        _say(f"error: {exc}")
        return 2


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# -- loading ---------------------------------------------------------------------------------


def _load_service(path: str, name: str) -> tuple[ModuleType, object]:
    from .idl import load

    try:
        module = load(path)
    except IDLError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot read IDL {path!r}: {exc.strerror or exc}") from exc
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(getattr(obj, "__thrift_service__", None), ServiceSpec):
        found = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(getattr(v, "__thrift_service__", None), ServiceSpec)
        )
        raise UsageError(f"no service {name!r} in {path}; services: {', '.join(found) or '(none)'}")
    return module, obj


def _split_handler_ref(ref: str) -> tuple[str, str]:
    module_name, sep, attr = ref.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--handler must look like module:Class, got {ref!r}")
    return module_name, attr


def _import_handler(ref: str) -> object:
    module_name, attr = _split_handler_ref(ref)
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(
                os.path.basename(module_name)[:-3], module_name
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {module_name}")
            module = importlib.util.module_from_spec(spec)
            # Registered before it runs, as an import would: dataclasses, pickling and
            # typing look their defining module up in sys.modules.
            sys.modules[spec.name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(spec.name, None)
                raise
        else:
            # Like `python -m`, find handler modules in the current directory.
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(
            f"cannot import handler module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"handler module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise UsageError(f"cannot create handler {ref}(): {type(exc).__name__}: {exc}") from exc
    return obj


# -- serve -----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    _check_prefork_flags(args)
    ssl_context = _tls_context(args, server=True)  # prefork: only checks the files load
    grace = STOP_GRACE if args.graceful_timeout is None else args.graceful_timeout
    if grace <= 0:
        raise UsageError(f"--graceful-timeout must be positive, got {grace}")
    if args.transport == HTTP_TRANSPORT and args.server in ("forking", "prefork"):
        raise UsageError(
            f"--transport http is served with --server simple, threaded, threadpool or asyncio, "
            f"not {args.server} (for many processes run swordfish.web.ThriftWSGIApp under "
            "gunicorn; see docs/http.md)"
        )
    if args.detect is not None and args.transport == HTTP_TRANSPORT:
        raise UsageError("--detect serves raw Thrift over TCP: not with --transport http")
    if args.multiplexed_protocol and (args.transport == HTTP_TRANSPORT or args.server == "prefork"):
        raise UsageError(
            "--protocol multiplexed-* is served with --server simple, threaded, threadpool, "
            "forking or asyncio over a TCP transport (in Python, ThriftWSGIApp/ThriftASGIApp "
            "and prefork WorkerApp take services= directly)"
        )
    _describe_wire(args)  # a bad --detect name is a usage error before anything starts
    _, service = _load_service(args.idl, args.service)
    if args.server == "prefork":
        return _serve_prefork(args, grace, ssl_context is not None)
    handler = _import_handler(args.handler)
    if args.transport == HTTP_TRANSPORT:
        from .web.serving import serve_http

        try:
            return serve_http(
                service,
                handler,
                args.host,
                args.port,
                protocol=args.protocol,
                header_transforms=args.header_transforms,
                server=args.server,
                workers=args.workers,
                idle_timeout=args.idle_timeout,
                graceful_timeout=grace,
                ssl_context=ssl_context,
                loop=args.loop,
                verbose=args.verbose,
                say=_say,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from exc
    if args.server == "asyncio":
        return _serve_asyncio(args, service, handler, grace, ssl_context)
    if args.loop is not None:
        raise UsageError("--loop applies to --server asyncio only")
    if args.workers is not None and args.server != "threadpool":
        raise UsageError("--workers applies to --server threadpool only")
    try:
        server = make_server(
            _served(args, service),
            _served(args, handler),
            args.host,
            args.port,
            protocol=args.protocol,
            transport=args.transport,
            model=args.server,
            workers=args.workers,
            idle_timeout=args.idle_timeout,
            ssl_context=ssl_context,
            detect=_detect_option(args),
            header_transforms=args.header_transforms,
            **_multiplexed_services(args, service, handler),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except SwordfishError as exc:
        _say(f"error: {exc}")
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        _say(
            f"listening on {format_address((args.host, server.port))} (server={args.server}, "
            f"{server.wire_description}{', tls' if ssl_context is not None else ''})"
        )
        # A short wait in a loop, so the signal handler's Event is seen promptly everywhere.
        while not stop.wait(0.5):
            pass
        _say("stopping")
        server.stop(timeout=grace)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def _serve_asyncio(
    args: argparse.Namespace,
    service: object,
    handler: object,
    grace: float,
    ssl_context: ssl.SSLContext | None,
) -> int:
    import asyncio

    from .aio import AsyncServer, run

    try:
        server = AsyncServer(
            _served(args, service),
            _served(args, handler),
            args.host,
            args.port,
            protocol=args.protocol,
            transport=args.transport,
            idle_timeout=args.idle_timeout,
            ssl_context=ssl_context,
            detect=_detect_option(args),
            header_transforms=args.header_transforms,
            **_multiplexed_services(args, service, handler),
            **({} if args.workers is None else {"handler_threads": args.workers}),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    loop_name = args.loop or "asyncio"

    async def main() -> int:
        try:
            await server.start()
        except SwordfishError as exc:
            _say(f"error: {exc}")
            return 1
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        try:
            _say(
                f"listening on {format_address((args.host, server.port))} (server=asyncio, "
                f"loop={loop_name}, {server.wire_description}"
                f"{', tls' if ssl_context is not None else ''})"
            )
            await stop.wait()
            _say("stopping")
            await server.stop(timeout=grace)
        finally:
            for s in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(s)
        return 0

    try:
        return run(main(), loop=loop_name)
    except RuntimeError as exc:  # uvloop asked for but not installed
        raise UsageError(str(exc)) from exc


def _served(args: argparse.Namespace, value: object) -> object:
    """The service (or handler) a server is built with: none when multiplexed (the
    ``services=`` of ``_multiplexed_services`` instead)."""
    return None if args.multiplexed_protocol else value


def _multiplexed_services(
    args: argparse.Namespace, service: object, handler: object
) -> dict[str, Any]:
    """``services=`` for ``--protocol multiplexed-*``: the one service under its IDL name,
    as Apache's TMultiplexedProcessor registers it (empty otherwise)."""
    if not args.multiplexed_protocol:
        return {}
    return {"services": {args.service.rpartition(".")[2]: (service, handler)}}


def _detect_option(args: argparse.Namespace) -> bool | tuple[str, ...]:
    """``detect=`` from ``--detect`` (absent: off; bare: everything; NAMES: comma-separated)."""
    if args.detect is None:
        return False
    if args.detect == "all":
        return True
    return tuple(name.strip() for name in args.detect.split(","))


def _describe_wire(args: argparse.Namespace) -> str:
    """What ``serve`` speaks, for its listening line (as ``Server.wire_description``)."""
    detect = _detect_option(args)
    if detect is False:
        return f"protocol={args.protocol}, transport={args.transport}"
    try:
        accepted = detection(detect)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return f"detect={accepted}"


def _tls_context(args: argparse.Namespace, *, server: bool) -> ssl.SSLContext | None:
    """The SSLContext the TLS flags ask for (``None`` without ``--ssl``); UsageError if they
    are inconsistent or the files cannot be loaded."""
    from . import tls

    given = [
        flag
        for flag, value in (
            ("--certfile", args.certfile),
            ("--keyfile", args.keyfile),
            ("--cafile", args.cafile),
            ("--require-client-cert", getattr(args, "require_client_cert", False)),
            ("--server-hostname", getattr(args, "server_hostname", None)),
        )
        if value
    ]
    if not args.ssl:
        if given:
            raise UsageError(f"{given[0]} needs --ssl")
        return None
    if args.keyfile is not None and args.certfile is None:
        raise UsageError("--keyfile needs --certfile")
    try:
        if server:
            if args.certfile is None:
                raise UsageError("serve --ssl needs --certfile (the server's certificate)")
            if args.require_client_cert and args.cafile is None:
                raise UsageError("--require-client-cert needs --cafile")
            return tls.server_context(
                args.certfile, args.keyfile, args.cafile, args.require_client_cert
            )
        return tls.client_context(args.cafile, args.certfile, args.keyfile)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise UsageError(f"cannot load TLS files: {exc}") from exc


# -- serve --server prefork --------------------------------------------------------------------

#: Flags that only mean something to ``--server prefork``.
_PREFORK_ONLY = (
    ("worker_server", "--worker-server"),
    ("threads", "--threads"),
    ("max_requests", "--max-requests"),
    ("max_requests_jitter", "--max-requests-jitter"),
    ("worker_timeout", "--worker-timeout"),
    ("status_file", "--status-file"),
)


def _check_prefork_flags(args: argparse.Namespace) -> None:
    if args.server != "prefork":
        for attr, flag in _PREFORK_ONLY:
            if getattr(args, attr) is not None:
                raise UsageError(f"{flag} applies to --server prefork only")
        return
    if args.max_requests_jitter is not None and args.max_requests is None:
        raise UsageError("--max-requests-jitter needs --max-requests")
    if args.loop is not None and args.worker_server != "asyncio":
        raise UsageError("--loop applies to --server asyncio or --worker-server asyncio only")


class _PreforkApp:
    """The worker's app factory: loads the IDL and imports the handler *in the worker*.

    The supervisor never imports the handler module, so every worker (and so every SIGHUP
    reload) runs the handler code as it is on disk at that moment; the IDL is re-read too.
    A class rather than a closure so that its repr (in logs) names what it loads.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.idl: str = args.idl
        self.service: str = args.service
        self.handler: str = args.handler
        self.protocol: str = args.protocol
        self.transport: str = args.transport
        self.idle_timeout: float = args.idle_timeout
        self.detect = _detect_option(args)
        self.header_transforms: tuple[str, ...] = tuple(args.header_transforms)

    def __call__(self) -> Any:
        from .idl import clear_cache
        from .prefork import AppLoadError, WorkerApp

        clear_cache()
        importlib.invalidate_caches()
        try:
            _, service = _load_service(self.idl, self.service)
            handler = _import_handler(self.handler)
        except UsageError as exc:
            raise AppLoadError(str(exc)) from None
        return WorkerApp(
            service,
            handler,
            protocol=self.protocol,
            transport=self.transport,
            options={
                "idle_timeout": self.idle_timeout,
                "detect": self.detect,
                "header_transforms": self.header_transforms,
            },
        )

    def __repr__(self) -> str:
        return f"<swordfish serve app {self.handler} for {self.service} in {self.idl}>"


def _serve_prefork(args: argparse.Namespace, grace: float, use_tls: bool) -> int:
    import functools
    import logging

    from . import tls
    from .prefork import Supervisor, WorkerStartError

    _split_handler_ref(args.handler)  # the format only: the module is imported by workers
    if args.workers is not None and args.workers <= 0:
        raise UsageError(f"--workers must be positive, got {args.workers}")
    worker_server = args.worker_server or "threadpool"
    options: dict[str, Any] = {}
    if args.worker_timeout is not None:
        options["worker_timeout"] = args.worker_timeout
    if use_tls:
        # Each worker builds its own context after the fork, from the same files.
        options["ssl_context_factory"] = functools.partial(
            tls.server_context, args.certfile, args.keyfile, args.cafile, args.require_client_cert
        )
    try:
        supervisor = Supervisor(
            _PreforkApp(args),
            args.host,
            args.port,
            workers=args.workers,
            worker_server=worker_server,
            threads=args.threads,
            loop=args.loop or "asyncio",
            max_requests=args.max_requests,
            max_requests_jitter=args.max_requests_jitter or 0,
            graceful_timeout=grace,
            status_file=args.status_file,
            **options,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    prefork_log = logging.getLogger("swordfish.prefork")
    if not args.verbose and not prefork_log.handlers:
        # Spawns, exits, restarts and reloads are what an operator watches: always shown.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        prefork_log.addHandler(handler)
        prefork_log.setLevel(logging.INFO)
    try:
        supervisor.start()
    except WorkerStartError as exc:
        if exc.usage:
            _say(f"error: {exc.text}")
            return 2
        _say(f"error: {exc}")
        return 1
    except SwordfishError as exc:
        _say(f"error: {exc}")
        return 1
    if supervisor.serving:
        _say(
            f"listening on {format_address((args.host, supervisor.port))} (server=prefork, "
            f"workers={supervisor.workers}, worker_server={worker_server}, "
            f"{_describe_wire(args)}{', tls' if use_tls else ''})"
        )
    supervisor.run()
    return 0


# -- call ------------------------------------------------------------------------------------


def _call(args: argparse.Namespace) -> int:
    _, service = _load_service(args.idl, args.service)
    spec: ServiceSpec = service.__thrift_service__  # type: ignore[attr-defined]
    method = spec.methods.get(args.method)
    if method is None:
        raise UsageError(
            f"service {spec.name} has no method {args.method!r}; methods: {', '.join(spec.methods)}"
        )
    try:
        raw = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(f"JSON_ARGS is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError("JSON_ARGS must be a JSON object of parameter names")
    try:
        kwargs = {
            name: from_json(_field_type(method.args, name), value, name)
            for name, value in raw.items()
        }
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    ssl_context = _tls_context(args, server=False)
    options: dict[str, Any] = {}
    if args.transport == HTTP_TRANSPORT:
        options["path"] = args.path
    elif args.path is not None:
        raise UsageError("--path applies to --transport http only")
    if args.header:
        if not args.protocol.startswith("header"):
            raise UsageError("--header applies to --protocol header or header-compact only")
        pairs = [h.partition("=") for h in args.header]
        bad = [h for h, (_, eq, _) in zip(args.header, pairs, strict=True) if not eq]
        if bad:
            raise UsageError(f"--header takes KEY=VALUE, got {bad[0]!r}")
        options["headers"] = {key: value for key, _, value in pairs}
    try:
        client = make_client(
            service,
            args.host,
            args.port,
            protocol=args.protocol,
            transport=args.transport,
            timeout=args.timeout,
            service_name=args.multiplexed
            or (args.service.rpartition(".")[2] if args.multiplexed_protocol else None),
            ssl_context=ssl_context,
            server_hostname=args.server_hostname,
            header_transforms=args.header_transforms,
            **options,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    with client, call_headers() as reply:
        try:
            result = getattr(client.stub, method.name)(**kwargs)
        except SwordfishError as exc:  # includes TApplicationException
            _say(f"error: {type(exc).__name__}: {exc}")
            return 1
        except ThriftException as exc:  # a declared exception: print it like a result
            print(json.dumps({type(exc).__name__: to_json(exc)}, indent=2, ensure_ascii=False))
            return 1
    for key, value in reply.reply.items():
        _say(f"reply header {key}: {value}")
    print(json.dumps(to_json(result), indent=2, ensure_ascii=False))
    return 0


def _field_type(cls: type[Struct], name: str) -> TypeSpec:
    field = cls.__thrift_spec__.by_name.get(name)
    if field is None:
        raise ValueError(f"unknown field {name!r}; fields: {', '.join(cls._sf_names)}")
    return field.type


def from_json(ts: TypeSpec, value: Any, where: str = "value") -> Any:
    """A Python value of Thrift type ``ts`` from decoded JSON (see the module docstring)."""
    if value is None:
        return None
    t = ts.ttype
    if t == TType.BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected true/false, got {value!r}")
        return value
    if t in (TType.BYTE, TType.I16, TType.I32, TType.I64):
        enum: Any = ts.enum
        if isinstance(value, str) and enum is not None:
            try:
                return int(enum[value])
            except KeyError:
                names = ", ".join(m.name for m in enum)
                raise ValueError(f"{where}: {value!r} is not one of {names}") from None
        if isinstance(value, str):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an integer, got {value!r}")
        return value
    if t == TType.DOUBLE:
        return float(value)
    if t == TType.STRING:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string, got {value!r}")
        return base64.b64decode(value, validate=True) if ts.binary else value
    if t == TType.UUID:
        return uuid.UUID(str(value))
    if t == TType.STRUCT:
        assert ts.struct is not None
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a JSON object for {ts.describe()}")
        cls = ts.struct
        kwargs = {k: from_json(_field_type(cls, k), v, f"{where}.{k}") for k, v in value.items()}
        return cls(**kwargs)
    if t in (TType.LIST, TType.SET):
        assert ts.value is not None
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a JSON array for {ts.describe()}")
        items = [from_json(ts.value, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return set(items) if t == TType.SET and _hashable(ts.value) else items
    if t == TType.MAP:
        assert ts.key is not None
        assert ts.value is not None
        pairs = value.items() if isinstance(value, dict) else value
        return {
            from_json(ts.key, k, f"{where} key"): from_json(ts.value, v, f"{where}[{k!r}]")
            for k, v in pairs
        }
    raise TypeError(f"{where}: cannot read type {ts.describe()} from JSON")


def _hashable(ts: TypeSpec) -> bool:
    return ts.ttype not in (TType.STRUCT, TType.LIST, TType.SET, TType.MAP)


def to_json(value: Any) -> Any:
    """A JSON-ready view of a decoded value (structs become objects of their set fields)."""
    if isinstance(value, Struct):
        return {
            n: to_json(getattr(value, n)) for n in value._sf_names if getattr(value, n) is not None
        }
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        if all(isinstance(k, (str, int, float, bool)) for k in value):
            return {str(k): to_json(v) for k, v in value.items()}
        return [[to_json(k), to_json(v)] for k, v in value.items()]
    if isinstance(value, (set, frozenset)):
        items = [to_json(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
