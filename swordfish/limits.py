"""Size limits shared by codec, framing and protocol.

Every length read off the wire is compared with these *before* anything is allocated, so a
few hostile bytes cannot make us reserve gigabytes. One object is passed down the stack so the
codec, the framer and the connection engine agree on what "too big" means.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Limits", "DEFAULT_LIMITS"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for untrusted input.

    max_frame_size: largest message (framed payload, or unframed message) accepted, in bytes.
    max_string_size: largest single string/binary value, in bytes.
    max_container_size: most elements in one list/set/map.
    max_depth: deepest nesting of structs and containers.
    """

    max_frame_size: int = 16 * MiB
    max_string_size: int = 16 * MiB
    max_container_size: int = 1_000_000
    max_depth: int = 64

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Limits.{f.name} must be an int, got {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"Limits.{f.name} must be positive, got {value}")
        if self.max_frame_size > 0x7FFFFFFF:
            raise ValueError("Limits.max_frame_size must fit a signed 32-bit frame length")


DEFAULT_LIMITS = Limits()
