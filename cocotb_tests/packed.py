"""Packed-array signal values as 32-bit words."""

from __future__ import annotations


def words(value: int, count: int) -> tuple[int, ...]:
    """The first `count` 32-bit elements of a packed array's value (element 0 in the low bits)."""
    return tuple((value >> (32 * i)) & 0xFFFFFFFF for i in range(count))
