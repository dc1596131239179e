"""Packed-array signal values as 32-bit words, and back."""

from __future__ import annotations


def words(value: int, count: int) -> tuple[int, ...]:
    """The first `count` 32-bit elements of a packed array's value (element 0 in the low bits)."""
    return tuple((value >> (32 * i)) & 0xFFFFFFFF for i in range(count))


def pack(values) -> int:
    return sum((v & 0xFFFFFFFF) << (32 * i) for i, v in enumerate(values))
