"""What Python reads out of a simulation: packed-array signal values as words, and C memories
(the DPI-C models' arrays) as NumPy views."""

from __future__ import annotations

import ctypes

import numpy as np


def words(value: int, count: int) -> tuple[int, ...]:
    """The first `count` 32-bit elements of a packed array's value (element 0 in the low bits)."""
    return tuple((value >> (32 * i)) & 0xFFFFFFFF for i in range(count))


def c_bytes(address: int, size: int) -> np.ndarray:
    """A zero-copy uint8 view of `size` bytes of C memory at `address` (a DPI-C model's array)."""
    if not address:
        raise RuntimeError(f"no C memory of {size} bytes to view (the model returned a null pointer)")
    return np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address))


def simulator() -> ctypes.CDLL:
    """The running simulator: its DPI-C models' functions are exported to the process."""
    return ctypes.CDLL(None)
