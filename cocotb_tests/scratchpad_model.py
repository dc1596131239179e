"""Python side of the testbench scratchpad model (rtl/tb/scratchpad_model.*): a NumPy view of
its storage, and random contents."""

from __future__ import annotations

import ctypes

import numpy as np


def scratchpad(rows: int, row_bytes: int) -> np.ndarray:
    """A zero-copy view of the model's bytes (sized here)."""
    lib = ctypes.CDLL(None)
    lib.spm_init.restype = ctypes.c_void_p
    address = lib.spm_init(rows, row_bytes)
    return np.ctypeslib.as_array((ctypes.c_uint8 * (rows * row_bytes)).from_address(address))


def fill(sp: np.ndarray, rng: np.random.Generator, raw_fraction: float = 0.05) -> None:
    """Mostly ordinary values at many scales, some raw bit patterns (NaN, inf, denormals)."""
    words = sp.view("<u4")
    values = (rng.standard_normal(words.size) * np.exp2(rng.integers(-20, 20, words.size))).astype(np.float32)
    raw = rng.integers(0, 2**32, words.size, dtype=np.uint64).astype(np.uint32)
    words[:] = np.where(rng.random(words.size) < raw_fraction, raw, values.view(np.uint32))
