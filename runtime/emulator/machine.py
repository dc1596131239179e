"""The bit-exact functional model of the Atalla hardware: executes a Program's commands.

Arithmetic is atalla.numerics (docs/numerics.md); system services go through the same firmware
library the RTL testbench serves over the mailbox. DMA is modelled as asynchronous: a transfer
owns its scratchpad rows and DRAM bytes from its command until the WAIT on its ticket, and any
command that touches them in between is an error (a missing WAIT would make the RTL race).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from atalla.blob_format import Role
from atalla.dma import DmaDescriptor
from atalla import command_rules
from atalla.isa import (BF16_BYTES, COMMAND_BYTES, COMMAND_WORDS, Command, DmaDirection, Fault, Flag, MailboxCall,
                        Opcode, Status, VecFunc, split_ref, tile_sp_rows)
from atalla.program import Program
from atalla.runtime_abi import MAX_LISTED_ELEMENTS
from firmware import Firmware
from runtime import image
from runtime.emulator import units
from runtime.emulator.dma import ImmediateDmaEngine
from runtime.interface import RunError


class EmulatorError(RunError):
    """The program did something the hardware cannot do, or the firmware refused a call.

    fault: the command processor's code for the same command (Fault.FIRMWARE with the status for a
    refused call), or None for a rule only the emulator checks (DMA ownership races); index: the
    command."""

    def __init__(self, message: str, fault: Fault | None = None, index: int | None = None,
                 status: Status = Status.OK):
        super().__init__(message)
        self.fault, self.index, self.status = fault, index, status


@dataclass(frozen=True)
class _InFlight:
    index: int  # the DMA command
    direction: DmaDirection
    sp: tuple[int, int]  # byte range [lo, hi)
    dram: tuple[int, int]  # byte range [lo, hi)
    elements: np.ndarray  # the DRAM elements (byte address // 2) it touches, within `dram`


def _shares_element(block: np.ndarray | DmaDescriptor, elements: np.ndarray) -> bool:
    """Whether a command's DRAM elements meet a transfer's. A DMA block of more than
    MAX_LISTED_ELEMENTS is taken as meeting it, as the C model does; a smaller one is not listed
    either (16M elements took np.intersect1d 20 s: a fuzzed width the firmware refuses only after
    this check) but solved for: along its shorter side, which of `elements` its longer side reaches."""
    if not isinstance(block, DmaDescriptor):
        return np.intersect1d(block, elements).size > 0
    if block.rows * block.cols > MAX_LISTED_ELEMENTS:
        return True
    offsets = elements - block.dram_addr // BF16_BYTES
    (short, short_stride), (long, long_stride) = sorted([(block.rows, block.row_stride), (block.cols, block.col_stride)])
    for i in range(short):
        rest = offsets - i * short_stride
        if long_stride == 0:
            if (rest == 0).any():
                return True
            continue
        steps, remainder = np.divmod(rest, long_stride)
        if ((remainder == 0) & (steps >= 0) & (steps < long)).any():
            return True
    return False


class Emulator:
    def __init__(self, program: Program, sp_capacity: int | None = None):
        cfg = self.config = program.config
        self.program = program
        self.dram = np.zeros(cfg.dram_bytes, dtype=np.uint8)
        self.sp = np.zeros(cfg.sp_bytes, dtype=np.uint8)
        self.firmware = Firmware(cfg, program, self.dram, ImmediateDmaEngine(cfg, self.dram, self.sp), sp_capacity)
        self.handles: dict[int, tuple[int, int]] = {}  # handle -> (address, bytes)
        self.in_flight: dict[int, _InFlight] = {}  # ticket -> transfer
        self.commands_by_kind: Counter[str] = Counter()
        image.write_image(self.dram, program)

    # -- tensors in DRAM ----------------------------------------------------------------------
    def write_tensor(self, name: str, value: np.ndarray) -> None:
        try:
            image.write_tensor(self.dram, self.program.tensors[self.program.tensor_id(name)], value)
        except ValueError as e:
            raise EmulatorError(str(e)) from None

    def read_tensor(self, name: str) -> np.ndarray:
        return image.read_tensor(self.dram, self.program.tensors[self.program.tensor_id(name)])

    def run(self, inputs: list[np.ndarray], cuts: Collection[int] = (),
            on_cut: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Write inputs (in the model's order), execute, return outputs (in the model's order).

        cuts: command indices before which the machine must hold nothing but DRAM (a segmented
        run's cut points, runtime/verify/segments.py); on_cut(index) is called there, the state
        checked, before the command runs."""
        specs = self.program.by_role(Role.INPUT)
        if len(inputs) != len(specs):
            raise EmulatorError(f"the program takes {len(specs)} inputs, {len(inputs)} given")
        for spec, value in zip(specs, inputs):
            self.write_tensor(spec.name, value)
        base, count = self.program.program_dram_offset, len(self.program.commands)
        stream = self.dram[base : base + count * COMMAND_BYTES].view("<u4").reshape(count, COMMAND_WORDS)
        for index in range(count):
            # The words in DRAM, as the command processor fetches them: a program that bypassed the
            # loader faults here as it does on the hardware.
            cmd, fault, problem = command_rules.decode(stream[index], index, self.config)
            if fault != Fault.NONE:
                raise EmulatorError(problem, fault, index)
            if index in cuts:
                self._check_cut(index)
                on_cut(index)
            self.commands_by_kind[cmd.kind] += 1
            if self._execute(index, cmd):
                break
        else:
            raise EmulatorError(f"command {count - 1}: the program runs past its last command without END")
        return [self.read_tensor(t.name) for t in self.program.by_role(Role.OUTPUT)]

    def _check_cut(self, index: int) -> None:
        """The program may be cut before command `index` only where DRAM is all the state there is: no
        scratchpad buffer bound (every ALLOC freed) and no DMA in flight. GEMM and VEC hold nothing
        then either: on the hardware FREE waits for the GEMM queue to drain and a VEC is done before
        the next command, and here both run at their command."""
        held = []
        if self.handles:
            held.append(f"handles {sorted(self.handles)} hold scratchpad buffers")
        if self.in_flight:
            held.append(f"DMA tickets {sorted(self.in_flight)} are in flight")
        if held:
            raise EmulatorError(f"command {index}: the program cannot be cut before it: the machine holds more "
                                f"than DRAM there ({'; '.join(held)})", index=index)

    # -- commands --------------------------------------------------------------------------------
    def _execute(self, index: int, cmd: Command) -> bool:
        """Run one command that decoded; True once the program has ended. The rules that depend on
        the machine's state go in the command processor's order (docs/isa.md, "Faults"): tickets,
        handles bound, rows inside their buffers, operand overlap, DMA waited for; then DMA
        ownership (the emulator's alone) and the firmware call."""
        op, a = cmd.op, cmd.args

        def fail(why: str, fault: Fault | None = None, status: Status = Status.OK) -> EmulatorError:
            return EmulatorError(f"command {index} ({cmd.kind}): {why}", fault, index, status)

        if op in (Opcode.DMA_LOAD, Opcode.DMA_STORE) and cmd.field("ticket") in self.in_flight:
            ticket = cmd.field("ticket")
            raise fail(f"ticket {ticket} is still in flight from command {self.in_flight[ticket].index}",
                       Fault.BAD_TICKET)
        if op == Opcode.WAIT and cmd.field("ticket") not in self.in_flight:
            raise fail(f"ticket {cmd.field('ticket')} has no DMA in flight", Fault.BAD_TICKET)
        if op == Opcode.ALLOC and cmd.field("handle") in self.handles:
            handle = cmd.field("handle")
            raise fail(f"handle {handle} is already bound to scratchpad 0x{self.handles[handle][0]:x}",
                       Fault.HANDLE_IN_USE)
        if op != Opcode.ALLOC:
            for _, handle in command_rules.handle_fields(cmd):
                if handle not in self.handles:
                    raise fail(f"handle {handle} is not bound to a scratchpad buffer (no ALLOC, or already freed)",
                               Fault.UNBOUND_HANDLE)
        if op in (Opcode.END, Opcode.HOST) and self.in_flight:
            tickets = sorted(self.in_flight)
            raise fail(f"program ends with DMA tickets {tickets} never waited for" if op == Opcode.END
                       else f"host op runs while DMA tickets {tickets} are in flight", Fault.DMA_NOT_WAITED)
        if op == Opcode.END:
            return True
        if op == Opcode.ALLOC:
            handle, nbytes = a
            self.handles[handle] = (self._call(fail, MailboxCall.ALLOC, (handle, nbytes)), nbytes)
        elif op == Opcode.FREE:
            (handle,) = a
            addr, nbytes = self.handles[handle]
            self._no_conflict(fail, sp=(addr, addr + nbytes))
            self._call(fail, MailboxCall.FREE, (handle, addr))
            del self.handles[handle]
        elif op in (Opcode.DMA_LOAD, Opcode.DMA_STORE):
            self._dma(fail, index, cmd)
        elif op == Opcode.WAIT:
            del self.in_flight[cmd.field("ticket")]
        elif op == Opcode.GEMM:
            self._gemm(fail, cmd)
        elif op == Opcode.VEC:
            self._vec(fail, cmd)
        elif op == Opcode.HOST:
            self._call(fail, MailboxCall.HOST, a)
        return False

    def _call(self, fail, kind: MailboxCall, args: tuple[int, ...]) -> int:
        status, value = self.firmware.call(kind, tuple(args))
        if status != Status.OK:
            raise fail(f"firmware {kind.name} call failed with {status.name}: {self.firmware.last_error}",
                       Fault.FIRMWARE, status)
        return value

    def _no_conflict(self, fail, sp=None, dram=None, writes_sp=True, writes_dram=False,
                     elements: np.ndarray | DmaDescriptor | None = None) -> None:
        """elements: the DRAM elements within `dram` the command touches (or the DMA block whose they
        are), compared element by element with those of other transfers (the tiles of one tensor
        interleave without sharing a byte); None: the whole range."""
        for ticket, f in self.in_flight.items():
            sp_clash = sp is not None and units.overlap(sp, f.sp) and (writes_sp or f.direction != DmaDirection.STORE)
            dram_clash = dram is not None and units.overlap(dram, f.dram) and (
                writes_dram or f.direction == DmaDirection.STORE) and (
                elements is None or _shares_element(elements, f.elements))
            if sp_clash or dram_clash:
                where = "scratchpad" if sp_clash else "DRAM"
                raise fail(f"touches {where} that DMA command {f.index} (ticket {ticket}) still owns: WAIT for it first")

    def _dma(self, fail, index: int, cmd: Command) -> None:
        sp_ref, dram_addr, rows, cols, row_stride, col_stride, ticket = cmd.args
        handle, row = split_ref(sp_ref)
        addr, nbytes = self.handles[handle]
        row_bytes = self.config.sp_row_bytes
        sp = (addr + row * row_bytes, addr + (row + rows) * row_bytes)
        if sp[1] > addr + nbytes:
            raise fail(f"rows {row}..{row + rows - 1} lie beyond the {nbytes // row_bytes} rows of handle {handle}",
                       Fault.OUT_OF_BUFFER)
        load = cmd.op == Opcode.DMA_LOAD  # GATHER is a flag of DMA_LOAD only (command_rules: BAD_FLAGS)
        direction = DmaDirection.GATHER if cmd.flags & Flag.GATHER else DmaDirection.LOAD if load else DmaDirection.STORE
        desc = DmaDescriptor(direction, sp[0], dram_addr, rows, cols, row_stride, col_stride, ticket)
        call = (int(direction), sp[0], dram_addr, rows, cols, row_stride, col_stride, ticket)
        if direction == DmaDirection.GATHER:
            # The table rows are known once the firmware has checked the row ids: the immediate
            # engine has copied them by the time they are checked, which matters not (a clash is an error).
            ids_lo, ids_hi = desc.index_span()
            self._no_conflict(fail, sp=sp, dram=(ids_lo, ids_hi + 1), writes_sp=True)
            self._call(fail, MailboxCall.DMA, call)
            ids = desc.row_ids(self.dram)
            table_lo, table_hi = desc.dram_span(ids)
            table = desc.dram_elements(ids).ravel()
            self._no_conflict(fail, dram=(table_lo, table_hi), elements=table)
            lo, hi = min(ids_lo, table_lo), max(ids_hi, table_hi)
            elements = np.concatenate([table, np.arange(ids_lo, ids_hi + 1, 2) // 2])
        else:
            lo, hi = desc.dram_span()
            # The block is listed only where a transfer in flight overlaps its range: the firmware,
            # called after the race check, has not yet refused a block of absurd size.
            self._no_conflict(fail, sp=sp, dram=(lo, hi), writes_sp=load, writes_dram=not load, elements=desc)
            self._call(fail, MailboxCall.DMA, call)
            elements = desc.dram_elements().ravel()
        self.in_flight[ticket] = _InFlight(index, direction, sp, (lo, hi), elements)

    # -- scratchpad tiles ----------------------------------------------------------------------------
    def _rows(self, fail, ref: int, rows: int, what: str) -> tuple[int, int]:
        """Byte range of `rows` scratchpad rows from a buffer reference, inside its buffer."""
        handle, row = split_ref(ref)
        addr, nbytes = self.handles[handle]
        row_bytes = self.config.sp_row_bytes
        lo, hi = addr + row * row_bytes, addr + (row + rows) * row_bytes
        if hi > addr + nbytes:
            raise fail(f"{what} from row {row} overrun handle {handle} ({nbytes // row_bytes} rows)",
                       Fault.OUT_OF_BUFFER)
        return lo, hi

    def _span(self, fail, ref: int, rows: int, fp32: bool) -> tuple[int, int]:
        """Byte range of a tile of `rows` rows."""
        return self._rows(fail, ref, tile_sp_rows(rows, fp32), f"{rows} {'fp32' if fp32 else 'bf16'} rows")

    def _gemm(self, fail, cmd: Command) -> None:
        a_ref, b_ref, c_ref, d_ref, m, k, n = cmd.args
        cfg, flags, a_step = self.config, cmd.flags, cmd.func
        a_span = self._rows(fail, a_ref, units.gemm_a_rows(m, a_step), "A's rows")
        b_span = self._rows(fail, b_ref, k, "B's rows")
        d_span = self._rows(fail, d_ref, units.gemm_d_rows(m, flags), "D's rows")
        c_span = (0, 0)  # C is not read without ACCUMULATE
        if flags & Flag.ACCUMULATE:
            c_span = self._rows(fail, c_ref, units.gemm_c_rows(m, flags), "C's rows")
        if problem := units.gemm_operand_problem(flags, a_span, b_span, c_span, d_span):
            raise fail(problem, Fault.OPERAND_OVERLAP)
        for span in (a_span, b_span, c_span):
            self._no_conflict(fail, sp=span, writes_sp=False)
        self._no_conflict(fail, sp=d_span, writes_sp=True)
        units.gemm(self.sp, a_span[0], a_step, b_span[0], c_span[0], d_span[0], m, k, n,
                   flags, cfg.sp_row_bytes, cfg.array_cols)

    def _vec(self, fail, cmd: Command) -> None:
        dst_ref, a_ref, b_word, rows, cols = cmd.args
        func, flags = VecFunc(cmd.func), cmd.flags
        mode = units.bmode(flags)
        dst_fp32 = bool(flags & Flag.DST_FP32)
        a_span = self._span(fail, a_ref, rows, bool(flags & Flag.A_FP32))
        dst_span = self._span(fail, dst_ref, rows, dst_fp32)
        b_span, b_addr = None, b_word
        if command_rules.vec_b_is_ref(func, flags):
            b_span = self._span(fail, b_word, units.b_shape(mode, rows, cols)[0], bool(flags & Flag.B_FP32))
            b_addr = b_span[0]
        # In place is fine; a partial overlap would make the RTL's row order visible.
        if problem := units.vec_operand_problem(mode, dst_span, a_span, b_span):
            raise fail(problem, Fault.OPERAND_OVERLAP)
        for span in (a_span, b_span or a_span):
            self._no_conflict(fail, sp=span, writes_sp=False)
        self._no_conflict(fail, sp=dst_span, writes_sp=True)
        units.vec(self.sp, func, flags, dst_span[0], a_span[0], b_addr, rows, cols, self.config.sp_row_bytes)

    # -- report -------------------------------------------------------------------------------------
    def stats(self) -> dict:
        return {"commands_by_kind": dict(sorted(self.commands_by_kind.items())),
                "firmware_calls_by_kind": self.firmware.calls_by_kind(),
                "scratchpad_peak_bytes": self.firmware.sp_peak_bytes}
