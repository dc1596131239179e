"""Host fallback: run one ATen op on bf16 tensors in DRAM, in fp32, and store the bf16 results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from atalla.blob_format import DType
from atalla.host_ops import host_op_problem
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
    """Raise HostOpError (one line, naming the op and tensor) on any failure; DRAM is then untouched.
    check_results(op) should have passed first: it is what bounds the results' sizes."""
    what = f"host op {op.target}"
    # Convert and check every result before writing anything: a failing op leaves DRAM as it was.
    results = [(info, _bf16_bits(value)) for info, value in
               _results(op, program, lambda info: _as_tensor(bf16_bits_to_f32(_dram_bits(dram, info, what)), info))]
    writes = [(_dram_bits(dram, info, what), bits) for info, bits in results]
    for dst, bits in writes:
        dst[:] = bits


def check_results(op: HostOp, program: Program) -> None:
    """HostOpError unless the op may run on the host (atalla.host_ops) and its results have the
    shapes of the program's output tensors. The shapes come from PyTorch's meta device, which
    computes none of the values: a result larger than the program's tensors is refused before it
    takes any memory. About 0.4 ms an op: once per op, at boot (Firmware.warm_up) or on its first call."""
    import torch

    _results(op, program, lambda info: torch.empty(info.shape, device="meta"))


def warm_up(op: HostOp, program: Program) -> None:
    """Run the op once on zeros, results discarded: PyTorch sets an op (and the conversions around
    it) up on its first call in a process, about a millisecond for GELU, which a firmware does once,
    at boot, not inside the first call it serves."""
    for info, value in _results(op, program, lambda info: _as_tensor(np.zeros(info.shape, np.float32), info)):
        _bf16_bits(value)


def _as_tensor(values: np.ndarray, info: TensorInfo):
    import torch

    return torch.from_numpy(values.reshape(info.shape))


def _bf16_bits(value) -> np.ndarray:
    """A result in DRAM's format: integer and bool results go through fp32 like any other."""
    import torch

    return f32_to_bf16_bits(value.detach().to(torch.float32).contiguous().numpy().reshape(-1))


def _results(op: HostOp, program: Program, tensor: Callable[[TensorInfo], Any]) -> list[tuple[TensorInfo, Any]]:
    """(output tensor, result) for each result of the op applied to its arguments, each
    {"tensor": id} replaced by tensor(its info); the results checked against the outputs."""
    import torch  # lazily: the simulation process stays light until a host op actually runs

    what = f"host op {op.target}"
    problem = host_op_problem(op.target, op.args, op.kwargs)
    if problem is not None:
        raise HostOpError(f"{what}: {problem}")

    def load(value: Any) -> Any:
        if isinstance(value, dict):  # {"tensor": id}: host_op_problem allows no other dict
            return tensor(_tensor_info(program, value["tensor"], what))
        return [load(v) for v in value] if isinstance(value, list) else value

    fn = _resolve(op.target)
    try:
        result = fn(*load(op.args), **{k: load(v) for k, v in op.kwargs.items()})
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
        out.append((info, value))
    return out


def _resolve(target: str) -> Any:
    """The overload of an allow-listed target ("aten.<op>.<overload>"; each one exists, a test checks)."""
    import torch

    _, name, overload = target.split(".")
    return getattr(getattr(torch.ops.aten, name), overload)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "(no message)"
