"""A program's DRAM image and its tensors in DRAM: shared by the emulator and the RTL bench."""

from __future__ import annotations

import numpy as np

from atalla import numerics as nu
from atalla.blob_format import NO_CONSTANT, DType
from atalla.program import Program, TensorInfo


def write_image(dram: np.ndarray, program: Program) -> None:
    """Constants at their planned offsets and the command stream at program_dram_offset."""
    for t in program.tensors:
        if t.const_offset != NO_CONSTANT:
            dram[t.dram_offset : t.dram_offset + t.nbytes] = np.frombuffer(
                program.constants, np.uint8, t.nbytes, t.const_offset)
    write_stream(dram, program)


def write_stream(dram: np.ndarray, program: Program) -> None:
    """The command stream at program_dram_offset."""
    stream = np.stack([c.encode() for c in program.commands]).view(np.uint8).ravel()
    dram[program.program_dram_offset : program.program_dram_offset + stream.size] = stream


def write_tensor(dram: np.ndarray, tensor: TensorInfo, value: np.ndarray) -> None:
    """fp32 values stored as bf16 by the numerics' rounding; row ids (INT32) as int32, each checked
    against the tensor's index_bound."""
    value = np.asarray(value)
    if value.shape != tensor.shape:
        raise ValueError(f"input {tensor.name!r}: shape {value.shape} given, the program was compiled for "
                         f"{tensor.shape}")
    span = slice(tensor.dram_offset, tensor.dram_offset + tensor.nbytes)
    if tensor.dtype == DType.INT32:
        dram[span] = check_row_ids(tensor, value).astype("<i4").ravel().view(np.uint8)
    else:
        dram[span] = nu.f32_to_bf16_bits(value.astype(np.float32)).ravel().view(np.uint8)


def check_row_ids(tensor: TensorInfo, value: np.ndarray) -> np.ndarray:
    """The row ids of an INT32 input, unchanged: integers, each in [0, index_bound)."""
    if value.dtype.kind not in "iu":
        raise ValueError(f"input {tensor.name!r} holds row ids: it must be an integer array, not {value.dtype}")
    bad = np.flatnonzero((value < 0) | (value >= tensor.index_bound))
    if bad.size:
        at = tuple(int(i) for i in np.unravel_index(bad[0], value.shape))
        raise ValueError(f"input {tensor.name!r}: row id {int(value.flat[bad[0]])} at {list(at)} is out of range: "
                         f"the table it indexes has {tensor.index_bound} rows ({bad.size} ids out of range)")
    return value


def read_tensor(dram: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    """A tensor's values: fp32 from bf16, or int32 row ids."""
    raw = dram[tensor.dram_offset : tensor.dram_offset + tensor.nbytes]
    if tensor.dtype == DType.INT32:
        return raw.view("<i4").astype(np.int32).reshape(tensor.shape)
    return nu.bf16_bits_to_f32(raw.view("<u2")).reshape(tensor.shape)
