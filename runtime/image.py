"""A program's DRAM image and its tensors in DRAM: shared by the emulator and the RTL bench."""

from __future__ import annotations

import numpy as np

from atalla import numerics as nu
from atalla.blob_format import NO_CONSTANT
from atalla.program import Program, TensorInfo


def write_image(dram: np.ndarray, program: Program) -> None:
    """Constants at their planned offsets and the command stream at program_dram_offset."""
    for t in program.tensors:
        if t.const_offset != NO_CONSTANT:
            dram[t.dram_offset : t.dram_offset + t.nbytes] = np.frombuffer(
                program.constants, np.uint8, t.nbytes, t.const_offset)
    stream = np.stack([c.encode() for c in program.commands]).view(np.uint8).ravel()
    dram[program.program_dram_offset : program.program_dram_offset + stream.size] = stream


def write_tensor(dram: np.ndarray, tensor: TensorInfo, value: np.ndarray) -> None:
    """fp32 values stored as bf16 by the numerics' rounding."""
    value = np.asarray(value, dtype=np.float32)
    if value.shape != tensor.shape:
        raise ValueError(f"input {tensor.name!r}: shape {value.shape} given, the program was compiled for "
                         f"{tensor.shape}")
    dram[tensor.dram_offset : tensor.dram_offset + tensor.nbytes] = nu.f32_to_bf16_bits(value).ravel().view(np.uint8)


def read_tensor(dram: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    bits = dram[tensor.dram_offset : tensor.dram_offset + tensor.nbytes].view("<u2")
    return nu.bf16_bits_to_f32(bits).reshape(tensor.shape)
