"""Running what the ExecuTorch backend (compiler/executorch.py) produced: each Atalla delegate on
one of our backends (runtime/interface.py), the rest in PyTorch.

- `AtallaDelegates`, a TorchFunctionMode (the way ExecuTorch's Arm backend tests run their
  delegates on a reference model): inside it, calling a lowered program's module runs every
  `executorch_call_delegate` as its blob on the backend; undelegated ops run in PyTorch.
- `read_pte` / `run_pte`: a `.pte` file from disk: its Atalla payloads, and for a program that is
  delegates only, a run of it (a program with other ops is refused, naming them).

Needs the optional extra `.[executorch]`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from atalla.blob_format import Role
from atalla.config import HardwareConfig
from atalla.program import Program, TensorInfo
from runtime.check import RunCheck, check
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import Backend
from runtime.loader import BlobError, load

BACKEND_ID = "AtallaBackend"  # compiler.executorch.AtallaBackend's name: ExecuTorch's id for it


class DelegateError(ValueError):
    """A lowered program or .pte that cannot run here: a foreign delegate, or ops outside delegates."""


class AtallaDelegates(TorchFunctionMode):
    """`with AtallaDelegates() as d: out = lowered.exported_program().module()(*inputs)`; d.runs
    has one run per delegate call, in order (runtime.check's RunCheck: on a backend other than the
    emulator, checked against it bit for bit). `backend` makes a fresh Backend per call."""

    def __init__(self, backend: Callable[[], Backend] = EmulatorBackend):
        super().__init__()
        self.backend = backend
        self.runs: list[RunCheck] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch._higher_order_ops.executorch_call_delegate:
            lowered, inputs = args[0], args[1:]
            if lowered.backend_id != BACKEND_ID:
                raise DelegateError(f"delegate {lowered.backend_id!r} is not Atalla's ({BACKEND_ID})")
            run = run_blob(lowered.processed_bytes, [x.detach().numpy() for x in inputs], self.backend())
            self.runs.append(run)
            return tuple(torch.from_numpy(o) for o in run.outputs)
        return func(*args, **(kwargs or {}))


def run_blob(blob: bytes, inputs: list[np.ndarray], backend: Backend, expect_config: HardwareConfig | None = None
             ) -> RunCheck:
    """One delegate call: its blob on the backend (and on the emulator, which judges it). Integer
    inputs (token ids) pass as they are: the blob takes them as row ids and checks their range."""
    return check(blob, [np.ascontiguousarray(x) if x.dtype.kind in "iu" else np.ascontiguousarray(x, np.float32)
                        for x in inputs], None, backend, expect_config)


# -- .pte files --------------------------------------------------------------------------------
@dataclass
class PteDelegate:
    index: int
    backend_id: str
    payload: bytes = field(repr=False)


@dataclass
class Pte:
    path: str
    delegates: list[PteDelegate]
    instructions: list[tuple[str, object]]  # ("delegate", PteDelegate) or ("op", operator name), in order
    plan: object  # the flatbuffer's ExecutionPlan, for run_pte

    def undelegated_ops(self) -> list[str]:
        return [what for kind, what in self.instructions if kind == "op"]


@contextmanager
def _quiet_import():
    """Importing ExecuTorch imports torchao, which logs warnings about its optional CUDA kernels
    (and torch about a deprecated pytree call): noise in a command's output, not the user's concern."""
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def read_pte(path: str | Path) -> Pte:
    """The first method of a .pte: its delegates with their payloads and its instructions."""
    with _quiet_import():
        from executorch.exir._serialize._program import deserialize_pte_binary
        from executorch.exir.schema import DataLocation, DelegateCall, KernelCall

    try:
        program = deserialize_pte_binary(Path(path).read_bytes()).program
    except OSError as e:
        raise DelegateError(f"{path}: {e}") from None
    except Exception as e:  # the flatbuffer reader's many failures: the user needs the file and the cause
        raise DelegateError(f"{path}: not a readable ExecuTorch program: {e}") from None
    if not program.execution_plan:
        raise DelegateError(f"{path}: the program has no method")
    plan = program.execution_plan[0]
    delegates = []
    for i, d in enumerate(plan.delegates):
        if d.processed.location != DataLocation.INLINE:
            raise DelegateError(f"{path}: delegate {i} ({d.id}) keeps its payload outside the program")
        delegates.append(PteDelegate(i, d.id, bytes(program.backend_delegate_data[d.processed.index].data)))
    instructions = []
    for chain in plan.chains:
        for ins in chain.instructions:
            if isinstance(ins.instr_args, DelegateCall):
                instructions.append(("delegate", delegates[ins.instr_args.delegate_index]))
            elif isinstance(ins.instr_args, KernelCall):
                op = plan.operators[ins.instr_args.op_index]
                instructions.append(("op", f"{op.name}.{op.overload}" if op.overload else op.name))
            else:
                instructions.append(("op", type(ins.instr_args).__name__))
    return Pte(str(path), delegates, instructions, plan)


def _delegate_calls(pte: Pte) -> list[tuple[PteDelegate, Program, list[int], list[int]]]:
    """Each delegate call of a program that is delegates only, in order: the delegate, its blob's
    program, the value ids it reads (the blob's inputs) and writes (its outputs)."""
    undelegated = pte.undelegated_ops()
    if undelegated:
        raise DelegateError(f"{pte.path}: {len(undelegated)} op(s) are not delegated to Atalla and cannot run "
                            f"here: {', '.join(sorted(set(undelegated)))}")
    foreign = sorted({d.backend_id for d in pte.delegates if d.backend_id != BACKEND_ID})
    if foreign:
        raise DelegateError(f"{pte.path}: delegates of another backend: {', '.join(foreign)}")
    calls = []
    for chain in pte.plan.chains:
        for ins in chain.instructions:
            delegate = pte.delegates[ins.instr_args.delegate_index]
            try:
                program = load(delegate.payload)
            except BlobError as e:
                raise DelegateError(f"{pte.path}: delegate {delegate.index}: {e}") from None
            n_in, n_out = len(program.by_role(Role.INPUT)), len(program.by_role(Role.OUTPUT))
            args = list(ins.instr_args.args)
            if len(args) != n_in + n_out:
                raise DelegateError(f"{pte.path}: delegate {delegate.index} is called with {len(args)} values; its "
                                    f"blob has {n_in} inputs and {n_out} outputs")
            calls.append((delegate, program, args[:n_in], args[n_in:]))
    return calls


def io_tensors(pte: Pte) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The program's inputs and outputs as the blobs name and shape them: each input as the first
    delegate that reads it has it, each output as the delegate that writes it."""
    readers, writers = {}, {}
    for _, program, reads, writes in _delegate_calls(pte):
        for value, tensor in zip(reads, program.by_role(Role.INPUT)):
            readers.setdefault(value, tensor)
        writers.update(zip(writes, program.by_role(Role.OUTPUT)))
    unread = [i for i, v in enumerate(pte.plan.inputs) if v not in readers]
    unwritten = [i for i, v in enumerate(pte.plan.outputs) if v not in writers]
    if unread or unwritten:
        raise DelegateError(f"{pte.path}: " + (f"input {unread[0]} is read by no delegate" if unread
                                               else f"output {unwritten[0]} is written by no delegate"))
    return [readers[v] for v in pte.plan.inputs], [writers[v] for v in pte.plan.outputs]


def run_pte(pte: Pte, inputs: list[np.ndarray], backend: Callable[[], Backend] = EmulatorBackend,
            expect_config: HardwareConfig | None = None) -> tuple[list[np.ndarray], list[RunCheck]]:
    """Run a program that is Atalla delegates only (else DelegateError naming the other ops); its
    outputs in order, and each delegate call's run. expect_config: refuse a delegate compiled for
    another config (runtime.loader's BlobError)."""
    calls = _delegate_calls(pte)
    ins, _ = io_tensors(pte)
    if len(inputs) != len(ins):
        raise DelegateError(f"{pte.path}: the program takes {len(ins)} input(s), {len(inputs)} given")
    values: dict[int, np.ndarray] = dict(zip(pte.plan.inputs, inputs))
    runs = []
    for delegate, _, reads, writes in calls:
        missing = [v for v in reads if v not in values]
        if missing:
            raise DelegateError(f"{pte.path}: delegate {delegate.index} reads value {missing[0]}, which nothing "
                                "before it wrote")
        run = run_blob(delegate.payload, [values[v] for v in reads], backend(), expect_config)
        values.update(zip(writes, run.outputs))
        runs.append(run)
    return [values[v] for v in pte.plan.outputs], runs
