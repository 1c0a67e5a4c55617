"""The runtime type system: plain data, no I/O."""

from .application import ApplicationExceptionType, TApplicationException
from .service import MethodSpec, ServiceSpec, make_service_class
from .spec import FieldSpec, Requiredness, StructKind, StructSpec, TypeSpec
from .struct import Struct, ThriftException, Union, bind_spec, make_struct_class, new_blank
from .ttype import MessageType, TType

__all__ = [
    "ApplicationExceptionType",
    "TApplicationException",
    "MethodSpec",
    "ServiceSpec",
    "make_service_class",
    "FieldSpec",
    "Requiredness",
    "StructKind",
    "StructSpec",
    "TypeSpec",
    "Struct",
    "ThriftException",
    "Union",
    "bind_spec",
    "make_struct_class",
    "new_blank",
    "MessageType",
    "TType",
]
