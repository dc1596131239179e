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
from atalla.program import Program
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import Backend
from runtime.loader import load

BACKEND_ID = "AtallaBackend"  # compiler.executorch.AtallaBackend's name: ExecuTorch's id for it


class DelegateError(ValueError):
    """A lowered program or .pte that cannot run here: a foreign delegate, or ops outside delegates."""


@dataclass
class DelegateRun:
    program: Program
    outputs: list[np.ndarray]
    stats: dict


class AtallaDelegates(TorchFunctionMode):
    """`with AtallaDelegates() as d: out = lowered.exported_program().module()(*inputs)`; d.runs
    has one DelegateRun per delegate call, in order. `backend` makes a fresh Backend per call."""

    def __init__(self, backend: Callable[[], Backend] = EmulatorBackend):
        super().__init__()
        self.backend = backend
        self.runs: list[DelegateRun] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch._higher_order_ops.executorch_call_delegate:
            lowered, inputs = args[0], args[1:]
            if lowered.backend_id != BACKEND_ID:
                raise DelegateError(f"delegate {lowered.backend_id!r} is not Atalla's ({BACKEND_ID})")
            run = run_blob(lowered.processed_bytes, [x.detach().numpy() for x in inputs], self.backend())
            self.runs.append(run)
            return tuple(torch.from_numpy(o) for o in run.outputs)
        return func(*args, **(kwargs or {}))


def run_blob(blob: bytes, inputs: list[np.ndarray], backend: Backend) -> DelegateRun:
    program = backend.init(blob)
    outputs = backend.execute([np.ascontiguousarray(x, np.float32) for x in inputs])
    return DelegateRun(program, outputs, backend.stats())


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


def run_pte(pte: Pte, inputs: list[np.ndarray], backend: Callable[[], Backend] = EmulatorBackend
            ) -> tuple[list[np.ndarray], list[DelegateRun]]:
    """Run a program that is Atalla delegates only; its outputs in order, and each delegate's run."""
    from executorch.exir.schema import DelegateCall

    undelegated = pte.undelegated_ops()
    if undelegated:
        raise DelegateError(f"{pte.path}: {len(undelegated)} op(s) are not delegated to Atalla and cannot run "
                            f"here: {', '.join(sorted(set(undelegated)))}")
    foreign = sorted({d.backend_id for d in pte.delegates if d.backend_id != BACKEND_ID})
    if foreign:
        raise DelegateError(f"{pte.path}: delegates of another backend: {', '.join(foreign)}")
    plan = pte.plan
    if len(inputs) != len(plan.inputs):
        raise DelegateError(f"{pte.path}: the program takes {len(plan.inputs)} input(s), {len(inputs)} given")
    values: dict[int, np.ndarray] = dict(zip(plan.inputs, inputs))
    runs = []
    for chain in plan.chains:
        for ins in chain.instructions:
            call: DelegateCall = ins.instr_args
            blob = pte.delegates[call.delegate_index].payload
            program = load(blob)
            n_in, n_out = len(program.by_role(Role.INPUT)), len(program.by_role(Role.OUTPUT))
            args = list(call.args)
            if len(args) != n_in + n_out:
                raise DelegateError(f"{pte.path}: delegate {call.delegate_index} is called with {len(args)} values; "
                                    f"its blob has {n_in} inputs and {n_out} outputs")
            missing = [a for a in args[:n_in] if a not in values]
            if missing:
                raise DelegateError(f"{pte.path}: delegate {call.delegate_index} reads value {missing[0]}, which "
                                    "nothing before it wrote")
            run = run_blob(blob, [values[a] for a in args[:n_in]], backend())
            values.update(zip(args[n_in:], run.outputs))
            runs.append(run)
    missing = [o for o in plan.outputs if o not in values]
    if missing:
        raise DelegateError(f"{pte.path}: output value {missing[0]} is written by no delegate")
    return [values[o] for o in plan.outputs], runs
