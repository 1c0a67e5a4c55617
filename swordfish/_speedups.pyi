"""Type stub of the C extension ``swordfish._speedups`` (sources in swordfish/_speedups/).

The C codecs have exactly the interface of the pure-Python ones: the stub declares them as
implementations of the ``swordfish.codec.base.Codec`` protocol (they do not inherit from it at
run time), so mypy checks every signature here against that one contract.
"""

from typing import TypeVar

from .codec.base import BodyTypeResolver, Codec, Message
from .limits import Limits
from .model.struct import Struct
from .model.ttype import MessageType

_S = TypeVar("_S", bound=Struct)

class _CodecC(Codec):
    name: str
    protocol_id: int
    limits: Limits  # read-only at run time
    def encode_struct(self, obj: Struct) -> bytes: ...
    def decode_struct(self, cls: type[_S], data: bytes | bytearray | memoryview) -> _S: ...
    def encode_message(self, name: str, mtype: MessageType, seqid: int, body: Struct) -> bytes: ...
    def decode_message(
        self, data: bytes | bytearray | memoryview, body_type: BodyTypeResolver
    ) -> Message: ...
    def scan_message(self, data: bytes | bytearray | memoryview, start: int = 0) -> int: ...

class BinaryCodecC(_CodecC):
    def __init__(
        self, limits: Limits = ..., *, strict_write: bool = True, strict_read: bool = False
    ) -> None: ...
    @property
    def strict_write(self) -> bool: ...
    @property
    def strict_read(self) -> bool: ...

class CompactCodecC(_CodecC):
    def __init__(self, limits: Limits = ...) -> None: ...

class StructPlan:
    """Compiled field table of one struct class (internal; cached on the class)."""
