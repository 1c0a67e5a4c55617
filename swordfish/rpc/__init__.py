"""Service/Filter core: requests and responses, stacks, dispatch and stubs. Knows no sockets."""

from .context import current_deadline, current_headers, current_request, use_request
from .dispatch import Dispatcher
from .filter import (
    AsyncFilter,
    AsyncFilteredService,
    AsyncFunctionFilter,
    AsyncRpcFilter,
    Filter,
    FilteredService,
    FunctionFilter,
    RpcFilter,
    SimpleAsyncFilter,
    SimpleFilter,
    Stack,
)
from .request import Context, Request, Response
from .service import AsyncFunctionService, AsyncService, FunctionService, Service, ServiceStatus
from .stub import Stub, StubMethod, build_args, unwrap

__all__ = [
    "AsyncFilter",
    "AsyncFilteredService",
    "AsyncFunctionFilter",
    "AsyncFunctionService",
    "AsyncRpcFilter",
    "AsyncService",
    "Context",
    "Dispatcher",
    "Filter",
    "FilteredService",
    "FunctionFilter",
    "FunctionService",
    "Request",
    "Response",
    "RpcFilter",
    "Service",
    "ServiceStatus",
    "SimpleAsyncFilter",
    "SimpleFilter",
    "Stack",
    "Stub",
    "StubMethod",
    "build_args",
    "current_deadline",
    "current_headers",
    "current_request",
    "unwrap",
    "use_request",
]
