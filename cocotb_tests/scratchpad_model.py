"""Python side of the testbench scratchpad model (rtl/tb/scratchpad_model.*): the config a bench
of it runs with, a NumPy view of its storage, and random contents."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np

from atalla.config import HardwareConfig
from runtime.rtl.signals import c_bytes, simulator

MODEL_ROWS = 1 << 10  # the model's rows whatever the config: a unit bench needs no more


def model_config(config: HardwareConfig) -> HardwareConfig:
    """The config with the model's scratchpad: what a bench of a unit on it is built and run with."""
    return replace(config, name=f"{config.name}-sp{MODEL_ROWS}", sp_bytes=MODEL_ROWS * config.sp_row_bytes)


def scratchpad(config: HardwareConfig) -> np.ndarray:
    """A zero-copy view of the model's bytes, sized here for a model_config()."""
    lib = simulator()
    lib.spm_init.restype = ctypes.c_void_p
    return c_bytes(lib.spm_init(config.sp_rows, config.sp_row_bytes), config.sp_bytes)


def fill(sp: np.ndarray, rng: np.random.Generator, raw_fraction: float = 0.05) -> None:
    """Mostly ordinary values at many scales, some raw bit patterns (NaN, inf, denormals)."""
    words = sp.view("<u4")
    values = (rng.standard_normal(words.size) * np.exp2(rng.integers(-20, 20, words.size))).astype(np.float32)
    raw = rng.integers(0, 2**32, words.size, dtype=np.uint64).astype(np.uint32)
    words[:] = np.where(rng.random(words.size) < raw_fraction, raw, values.view(np.uint32))
