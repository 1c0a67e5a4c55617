"""Wire type ids and message types, numbered exactly as Apache Thrift numbers them.

``binary`` is not a type id: it is a STRING whose ``TypeSpec.binary`` flag is set. (thriftpy2
added an extra BINARY=18 id; its sync and async paths then disagreed on it.)
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["TType", "MessageType"]


class TType(IntEnum):
    STOP = 0
    VOID = 1
    BOOL = 2
    BYTE = 3
    DOUBLE = 4
    I16 = 6
    I32 = 8
    I64 = 10
    STRING = 11
    STRUCT = 12
    MAP = 13
    SET = 14
    LIST = 15
    UUID = 16


class MessageType(IntEnum):
    CALL = 1
    REPLY = 2
    EXCEPTION = 3
    ONEWAY = 4
