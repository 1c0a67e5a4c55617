"""``TApplicationException``: the error a Thrift server sends when the call itself failed.

Built by hand (not from IDL) because every protocol needs it before any IDL is loaded. Its
type codes are Apache Thrift's, so peers in other languages read them correctly.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ..errors import ApplicationError
from .spec import FieldSpec, StructKind, StructSpec, TypeSpec
from .struct import ThriftException, bind_spec
from .ttype import TType

__all__ = ["TApplicationException", "ApplicationExceptionType"]


class ApplicationExceptionType(IntEnum):
    UNKNOWN = 0
    UNKNOWN_METHOD = 1
    INVALID_MESSAGE_TYPE = 2
    WRONG_METHOD_NAME = 3
    BAD_SEQUENCE_ID = 4
    MISSING_RESULT = 5
    INTERNAL_ERROR = 6
    PROTOCOL_ERROR = 7
    INVALID_TRANSFORM = 8
    INVALID_PROTOCOL = 9
    UNSUPPORTED_CLIENT_TYPE = 10


class TApplicationException(ThriftException, ApplicationError):
    """Fields: ``message`` (1: string) and ``type`` (2: i32, an ``ApplicationExceptionType``)."""

    __slots__ = ("message", "type")
    message: Any
    type: Any

    UNKNOWN = ApplicationExceptionType.UNKNOWN
    UNKNOWN_METHOD = ApplicationExceptionType.UNKNOWN_METHOD
    INVALID_MESSAGE_TYPE = ApplicationExceptionType.INVALID_MESSAGE_TYPE
    WRONG_METHOD_NAME = ApplicationExceptionType.WRONG_METHOD_NAME
    BAD_SEQUENCE_ID = ApplicationExceptionType.BAD_SEQUENCE_ID
    MISSING_RESULT = ApplicationExceptionType.MISSING_RESULT
    INTERNAL_ERROR = ApplicationExceptionType.INTERNAL_ERROR
    PROTOCOL_ERROR = ApplicationExceptionType.PROTOCOL_ERROR
    INVALID_TRANSFORM = ApplicationExceptionType.INVALID_TRANSFORM
    INVALID_PROTOCOL = ApplicationExceptionType.INVALID_PROTOCOL
    UNSUPPORTED_CLIENT_TYPE = ApplicationExceptionType.UNSUPPORTED_CLIENT_TYPE

    def __init__(self, message: Any = None, type: Any = ApplicationExceptionType.UNKNOWN) -> None:
        super().__init__(message, type)

    def __str__(self) -> str:
        try:
            kind = ApplicationExceptionType(self.type).name
        except (ValueError, TypeError):
            kind = str(self.type)
        return f"{kind}: {self.message}" if self.message else kind


bind_spec(
    TApplicationException,
    StructSpec(
        "TApplicationException",
        StructKind.EXCEPTION,
        (
            FieldSpec(1, "message", TypeSpec(TType.STRING)),
            FieldSpec(2, "type", TypeSpec(TType.I32), default=ApplicationExceptionType.UNKNOWN),
        ),
    ),
)
