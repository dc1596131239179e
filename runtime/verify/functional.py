"""Functional coverage: the plan of docs/verification.md as bins, and the sampler (a covergroup of our
own, a Counter of bins: no dependency added) that the coverage regression's benches feed.

A bin is hit by a transaction the sampler sees: a command of the program as it executes (its kind
and shape class), the operands and results of each GEMM and VEC (numerics classes), each DMA (its
shape, ticket, and whether commands ran while it was in flight) and each firmware call (kind and
status). Two bins are events inside the design that no transaction shows (the GEMM queue full, the
mailbox queue full, a gather, which only the DMA bench runs): DESIGN_EVENTS names the Verilator coverage point whose hit is the event, and
runtime/rtl/coverage.py decides them from the merged coverage data.

The sampler watches the emulator (SampledEmulator) because the RTL is held bit-exact to it on every
sampled run (the coverage regression's runs all compare), and the firmware call log of the RTL run.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from atalla.config import HardwareConfig
from atalla.isa import REDUCE_FUNCS, UNARY_FUNCS, BMode, Flag, MailboxCall, Opcode, Status, VecFunc
from atalla.program import Program
from runtime.emulator import Emulator, EmulatorError
from runtime.emulator import units

F32_MAX_EXP = 0xFF


def plan(config: HardwareConfig) -> dict[str, str]:
    """Every bin of the plan, name -> what hits it."""
    bins = {f"command.{op.name}": f"a {op.name} command executed" for op in Opcode}
    bins |= {
        "gemm.full_tile": "GEMM with k = array rows and n = array columns",
        "gemm.partial_tile": "GEMM with k or n short of the array",
        "gemm.m_lt_k": "GEMM streaming fewer rows than its K (m < k)",
        "gemm.k_1": "GEMM with k = 1",
        "gemm.m_past_array": "GEMM streaming more rows than the array has (m > array rows)",
        "gemm.queue_full": "the GEMM queue full, a command waiting for room (design event)",
        "vec.full_row": "VEC over every lane (cols = lanes)",
        "vec.partial_row": "VEC over fewer lanes than a row holds",
        "vec.one_row": "VEC of one row",
        "vec.reduce": "VEC row reduction (ROWSUM, ROWMAX)",
    }
    bins |= {f"vec.func.{f.name}": f"VEC {f.name}" for f in VecFunc}
    bins |= {f"vec.bmode.{m.name}": f"VEC b operand as {m.name}" for m in BMode}
    for where in ("operand", "result"):
        bins |= {f"numerics.{where}.zero": f"a +0 {where}", f"numerics.{where}.neg_zero": f"a -0 {where}",
                 f"numerics.{where}.inf": f"an infinite {where}", f"numerics.{where}.nan": f"a NaN {where}"}
    bins |= {
        "numerics.flushed_subnormal": "a subnormal operand, flushed to zero",
        "numerics.overflow_to_inf": "finite operands, an infinite result (overflow)",
        "numerics.rounding_tie": "a VEC result exactly halfway between two bf16 values, rounded to even",
        "dma.load": "DMA_LOAD", "dma.store": "DMA_STORE", "dma.gather": "DMA_LOAD with GATHER",
        "dma.1d": "a DMA of one row", "dma.2d": "a DMA of several contiguous rows",
        "dma.strided": "a DMA with a gap between rows or a column stride other than 1",
        "dma.concurrent_with_fetch": "commands fetched and executed while a DMA is in flight",
        "dma.concurrent_dmas": "two DMAs in flight at once",
    }
    bins |= {f"dma.ticket.{t}": f"a DMA on ticket {t}" for t in range(config.num_tickets)}
    bins |= {f"mailbox.call.{k.name}": f"a {k.name} firmware call" for k in MailboxCall}
    bins |= {"mailbox.back_pressure": "the mailbox queue full, a command waiting to post (design event)"}
    bins |= {f"mailbox.status.{s.name}": f"a firmware call answered {s.name}" for s in Status}
    return bins


# Bins decided by a design coverage point (file, kind, the point's description) being hit.
DESIGN_EVENTS = {
    "gemm.queue_full": ("gemm_unit.sv", "toggle", "ready_o:1->0"),
    "mailbox.back_pressure": ("mailbox.sv", "toggle", "full_o:0->1"),
    "dma.gather": ("dma.sv", "toggle", "ids_valid_q:0->1"),  # only a gather loads row ids (the DMA bench's)
}


def _classes(bits: np.ndarray) -> set[str]:
    """Numerics classes of fp32 values given as uint32 bits."""
    exp, man, sign = (bits >> 23) & 0xFF, bits & 0x7FFFFF, bits >> 31
    found = set()
    if np.any((exp == 0) & (man == 0) & (sign == 0)):
        found.add("zero")
    if np.any((exp == 0) & (man == 0) & (sign == 1)):
        found.add("neg_zero")
    if np.any((exp == F32_MAX_EXP) & (man == 0)):
        found.add("inf")
    if np.any((exp == F32_MAX_EXP) & (man != 0)):
        found.add("nan")
    if np.any((exp == 0) & (man != 0)):
        found.add("subnormal")
    return found


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


class Sampler:
    """Counts of the plan's bins over the transactions given."""

    def __init__(self, config: HardwareConfig):
        self.config = config
        self.hits: Counter[str] = Counter()

    def command(self, op: Opcode, in_flight: int) -> None:
        self.hits[f"command.{op.name}"] += 1
        if in_flight and op not in (Opcode.WAIT, Opcode.END):
            self.hits["dma.concurrent_with_fetch"] += 1
        if in_flight > 1:
            self.hits["dma.concurrent_dmas"] += 1

    def gemm(self, m: int, k: int, n: int) -> None:
        cfg = self.config
        full = k == cfg.array_rows and n == cfg.array_cols
        self.hits["gemm.full_tile" if full else "gemm.partial_tile"] += 1
        self.hits["gemm.m_lt_k"] += m < k
        self.hits["gemm.k_1"] += k == 1
        self.hits["gemm.m_past_array"] += m > cfg.array_rows

    def vec(self, func: VecFunc, mode: BMode, rows: int, cols: int) -> None:
        self.hits[f"vec.func.{func.name}"] += 1
        if func not in UNARY_FUNCS:
            self.hits[f"vec.bmode.{mode.name}"] += 1
        self.hits["vec.full_row" if cols == self.config.lanes else "vec.partial_row"] += 1
        self.hits["vec.one_row"] += rows == 1
        self.hits["vec.reduce"] += func in REDUCE_FUNCS

    def numerics(self, operands: list[np.ndarray], result: np.ndarray, rounded_to_bf16: bool) -> None:
        ops = [_bits(x) for x in operands]
        res = _bits(result)
        for x in ops:
            for c in _classes(x) - {"subnormal"}:
                self.hits[f"numerics.operand.{c}"] += 1
            self.hits["numerics.flushed_subnormal"] += "subnormal" in _classes(x)
        for c in _classes(res) - {"subnormal"}:
            self.hits[f"numerics.result.{c}"] += 1
        if ops and all(x.shape == res.shape for x in ops):
            finite = np.logical_and.reduce([((x >> 23) & 0xFF) != F32_MAX_EXP for x in ops])
            self.hits["numerics.overflow_to_inf"] += int(np.any(finite & ((res & 0x7FFFFFFF) == 0x7F800000)))
        if rounded_to_bf16:
            self.hits["numerics.rounding_tie"] += int(np.any(((res & 0xFFFF) == 0x8000)
                                                               & (((res >> 23) & 0xFF) != F32_MAX_EXP)))

    def dma(self, op: Opcode, flags: int, rows: int, cols: int, row_stride: int, col_stride: int, ticket: int) -> None:
        gather = bool(flags & Flag.GATHER)
        self.hits["dma.gather" if gather else "dma.load" if op == Opcode.DMA_LOAD else "dma.store"] += 1
        self.hits[f"dma.ticket.{ticket}"] += 1
        if rows == 1:
            self.hits["dma.1d"] += 1
        elif not gather and (col_stride != 1 or row_stride != cols):
            self.hits["dma.strided"] += 1
        else:
            self.hits["dma.2d"] += 1

    def calls(self, log: list[tuple]) -> None:
        """A firmware call log: (kind, args, status, value) per call."""
        for kind, _, status, _ in log:
            self.hits[f"mailbox.call.{MailboxCall(kind).name}"] += 1
            self.hits[f"mailbox.status.{Status(status).name}"] += 1


class SampledEmulator(Emulator):
    """The emulator, feeding a Sampler with every command it executes (a monitor on the reference)."""

    def __init__(self, program: Program, sampler: Sampler, **kwargs):
        super().__init__(program, **kwargs)
        self.sampler = sampler

    def _execute(self, index, cmd) -> bool:
        ended = super()._execute(index, cmd)  # a faulting command raises: it did not execute
        self.sampler.command(cmd.op, len(self.in_flight) - (cmd.op in (Opcode.DMA_LOAD, Opcode.DMA_STORE)))
        if cmd.op in (Opcode.DMA_LOAD, Opcode.DMA_STORE):
            _, _, rows, cols, row_stride, col_stride, ticket = cmd.args
            self.sampler.dma(cmd.op, cmd.flags, rows, cols, row_stride, col_stride, ticket)
        return ended

    def _gemm(self, fail, cmd) -> None:
        super()._gemm(fail, cmd)
        a_ref, b_ref, _, d_ref, m, k, n = cmd.args
        self.sampler.gemm(m, k, n)
        cfg = self.config
        a_span = self._rows(fail, a_ref, units.gemm_a_rows(m, cmd.func), "A")
        b_span = self._rows(fail, b_ref, k, "B")
        d_bf16 = bool(cmd.flags & Flag.D_BF16)
        d_span = self._rows(fail, d_ref, units.gemm_d_rows(m, cmd.flags), "D")
        a_rows = units.read_tile(self.sp, a_span[0], units.gemm_a_rows(m, cmd.func), k, False, cfg.sp_row_bytes)
        a = a_rows[:: cmd.func][:m] if cmd.func else a_rows[:1]  # row i of A is row i x a_step
        b = units.read_tile(self.sp, b_span[0], k, n, False, cfg.sp_row_bytes)
        d = units.read_tile(self.sp, d_span[0], m, n, not d_bf16, cfg.sp_row_bytes)
        self.sampler.numerics([a, b], d, False)

    def _vec(self, fail, cmd) -> None:
        try:
            values = self._vec_values(fail, cmd)
        except EmulatorError:
            values = None  # the command faults: the emulator's own check below says so, in its order
        super()._vec(fail, cmd)
        func, flags = VecFunc(cmd.func), cmd.flags
        _, _, _, rows, cols = cmd.args
        self.sampler.vec(func, units.bmode(flags), rows, cols)
        if values is not None:
            self.sampler.numerics(*values, not flags & Flag.DST_FP32)

    def _vec_values(self, fail, cmd) -> tuple[list[np.ndarray], np.ndarray]:
        """A VEC's operands before it runs (in place, it overwrites them) and its fp32 result."""
        _, a_ref, b_word, rows, cols = cmd.args
        func, flags, cfg = VecFunc(cmd.func), cmd.flags, self.config
        mode = units.bmode(flags)
        x = units.read_tile(self.sp, self._span(fail, a_ref, rows, bool(flags & Flag.A_FP32))[0], rows, cols,
                            bool(flags & Flag.A_FP32), cfg.sp_row_bytes)
        if func in UNARY_FUNCS:
            return [x], np.asarray(units.UNARY[func](x), dtype=np.float32)
        if mode == BMode.SCALAR:
            y = np.array(b_word, dtype=np.uint32).view(np.float32).reshape(1, 1)
        else:
            shape = units.b_shape(mode, rows, cols)
            y = units.read_tile(self.sp, self._span(fail, b_word, shape[0], bool(flags & Flag.B_FP32))[0],
                                *shape, bool(flags & Flag.B_FP32), cfg.sp_row_bytes)
        y = np.broadcast_to(y, x.shape)
        return [x, y], np.asarray(units.BINARY[func](x, y), dtype=np.float32)
