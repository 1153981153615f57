"""RouterOS API word lengths: the 1 to 5 byte prefix in front of every word.

Shared by our reader of router replies (:mod:`router.ros_wire`) and the emulator's codec
(:mod:`router.emulator.codec`). Decoding accepts all five sizes (1-4 bytes, and ``0xF0``
followed by 4 bytes); encoding writes 1-4 bytes, as a real router does.
"""

from __future__ import annotations

_MARKS = {1: 0, 2: 0x8000, 3: 0xC00000, 4: 0xE0000000}


def prefix_size(first: int) -> int:
    """How many bytes the length prefix starting with the byte ``first`` takes.
    Raises ValueError for a control byte (``0xF8`` and up) that starts no length."""
    if first < 0x80:
        return 1
    if first < 0xC0:
        return 2
    if first < 0xE0:
        return 3
    if first < 0xF0:
        return 4
    if first == 0xF0:
        return 5
    raise ValueError(f"control byte 0x{first:02X}")


def decode_length(prefix: bytes) -> int:
    """The word length a whole prefix (of :func:`prefix_size` bytes) says."""
    size = len(prefix)
    if size == 5:
        return int.from_bytes(prefix[1:], "big")
    return int.from_bytes(prefix, "big") ^ _MARKS[size]


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    raise ValueError(f"word of {length} bytes is too long to send")
