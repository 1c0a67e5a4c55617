"""Service/Filter core: requests and responses, stacks, dispatch and stubs. Knows no sockets."""

from .context import (
    HeaderScope,
    call_headers,
    current_deadline,
    current_headers,
    current_request,
    outgoing_headers,
    record_reply_headers,
    set_reply_header,
    use_request,
)
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
    "HeaderScope",
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
    "call_headers",
    "current_deadline",
    "current_headers",
    "current_request",
    "outgoing_headers",
    "record_reply_headers",
    "set_reply_header",
    "unwrap",
    "use_request",
]
