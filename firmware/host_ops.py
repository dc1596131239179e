"""Host fallback: run one ATen op on bf16 tensors in DRAM, in fp32, and store the bf16 results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from atalla.blob_format import DType
from atalla.isa import BF16_BYTES
from atalla.numerics import bf16_bits_to_f32, f32_to_bf16_bits
from atalla.program import HostOp, Program, TensorInfo


class HostOpError(Exception):
    pass


def _tensor_info(program: Program, tid: Any, what: str) -> TensorInfo:
    if not isinstance(tid, int) or not 0 <= tid < len(program.tensors):
        raise HostOpError(f"{what}: tensor id {tid!r} is not one of the program's {len(program.tensors)}")
    info = program.tensors[tid]
    if info.dtype != DType.BF16:
        raise HostOpError(f"{what}: tensor {tid} {info.name!r} has dtype {info.dtype!r}, not BF16")
    return info


def _dram_bits(dram: np.ndarray, info: TensorInfo, what: str) -> np.ndarray:
    """The tensor's bf16 bits, a view of DRAM."""
    if info.dram_offset % BF16_BYTES or info.dram_offset + info.nbytes > dram.size:
        raise HostOpError(f"{what}: tensor {info.name!r} at {info.dram_offset:#x} (+{info.nbytes} bytes) "
                          f"is misaligned or outside DRAM of {dram.size:#x} bytes")
    return dram[info.dram_offset : info.dram_offset + info.nbytes].view("<u2")


def run_host_op(op: HostOp, program: Program, dram: np.ndarray) -> None:
    """Raise HostOpError (one line, naming the op and tensor) on any failure; DRAM is then untouched."""
    what = f"host op {op.target}"
    # Convert and check every result before writing anything: a failing op leaves DRAM as it was.
    results = _results(op, program, lambda info: bf16_bits_to_f32(_dram_bits(dram, info, what)))
    writes = [(_dram_bits(dram, info, what), bits) for info, bits in results]
    for dst, bits in writes:
        dst[:] = bits


def warm_up(program: Program) -> None:
    """Run each host op once on zeros, results discarded: PyTorch sets an op (and the conversions
    around it) up on its first call in a process, about a millisecond for GELU, which a firmware
    does once, at boot, not inside the first call it serves. Failures are left for the real call."""
    for op in program.host_ops:
        try:
            _results(op, program, lambda info: np.zeros(info.shape, np.float32))
        except HostOpError:
            pass


def _results(op: HostOp, program: Program,
             operand: Callable[[TensorInfo], np.ndarray]) -> list[tuple[TensorInfo, np.ndarray]]:
    """(output tensor, its bf16 bits) for each result of the op applied to its arguments, each
    {"tensor": id} replaced by operand(its info), fp32 values."""
    import torch  # lazily: the simulation process stays light until a host op actually runs

    what = f"host op {op.target}"

    def load(value: Any) -> Any:
        # JSON-able args: {"tensor": id} is an input tensor; lists (and dicts) may nest them.
        if isinstance(value, dict) and set(value) == {"tensor"}:
            info = _tensor_info(program, value["tensor"], what)
            return torch.from_numpy(operand(info).reshape(info.shape))
        if isinstance(value, (list, tuple)):
            return [load(v) for v in value]
        if isinstance(value, dict):
            return {k: load(v) for k, v in value.items()}
        return value

    fn = _resolve(op.target)
    args, kwargs = load(op.args), load(op.kwargs)
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 -- any ATen failure is this op's failure
        raise HostOpError(f"{what} failed: {type(e).__name__}: {_first_line(e)}") from e
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(results) != len(op.outputs):
        raise HostOpError(f"{what} returned {len(results)} results, the program expects {len(op.outputs)}")
    out = []
    for tid, value in zip(op.outputs, results):
        info = _tensor_info(program, tid, what)
        if not isinstance(value, torch.Tensor) or value.is_complex():
            raise HostOpError(f"{what}: result for tensor {tid} {info.name!r} is {type(value).__name__}"
                              f"{'' if not isinstance(value, torch.Tensor) else ' ' + str(value.dtype)}, "
                              "not a real tensor")
        if tuple(value.shape) != tuple(info.shape):
            raise HostOpError(f"{what}: result for tensor {tid} {info.name!r} has shape {tuple(value.shape)}, "
                              f"expected {tuple(info.shape)}")
        # DRAM holds only bf16; integer and bool results go through fp32 like any other.
        f32 = value.detach().to(torch.float32).contiguous().numpy().reshape(-1)
        out.append((info, f32_to_bf16_bits(f32)))
    return out


def _resolve(target: str) -> Any:
    import torch

    parts = target.split(".")
    if len(parts) != 3 or parts[0] != "aten":
        raise HostOpError(f"host op {target}: not an ATen overload 'aten.<op>.<overload>'")
    try:
        return getattr(getattr(torch.ops.aten, parts[1]), parts[2])
    except (AttributeError, RuntimeError):
        raise HostOpError(f"host op {target}: no such ATen overload") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "(no message)"
