"""The rules a command's own words must follow, whatever ran before it: one definition for the
loader (which refuses a blob that breaks one before anything runs) and the emulator (which faults
at the command, as the command processor does for a program that bypassed the loader).

check() applies them in the command processor's order (docs/isa.md, "Faults") and returns the
first broken rule's Fault code and a message; the rules that depend on the machine's state at the
command (bound handles, tickets in flight, buffer sizes) are the emulator's (runtime/emulator).
"""

from __future__ import annotations

import numpy as np

from atalla import isa
from atalla.config import HardwareConfig
from atalla.isa import BMODE_MASK, BMODE_SHIFT, COMMAND_FIELDS, UNARY_FUNCS, BMode, Fault, Flag, Opcode, VecFunc

# The flag bits each opcode defines; any other bit set is BAD_FLAGS.
ALLOWED_FLAGS: dict[Opcode, int] = {
    Opcode.DMA_LOAD: Flag.GATHER,
    Opcode.GEMM: isa.GEMM_FLAGS,
    Opcode.VEC: Flag.DST_FP32 | Flag.A_FP32 | Flag.B_FP32 | BMODE_MASK,
}


def handle_fields(cmd: isa.Command) -> list[tuple[str, int]]:
    """(field name, handle number) of every handle the command uses: ALLOC's and FREE's handle word,
    and the handle byte of each buffer reference it reads or writes (GEMM's C only with ACCUMULATE,
    VEC's b only when it is a tile)."""
    if cmd.op in (Opcode.ALLOC, Opcode.FREE):
        return [("handle", cmd.field("handle"))]
    refs = {Opcode.DMA_LOAD: ("sp",), Opcode.DMA_STORE: ("sp",), Opcode.GEMM: ("a", "b", "d"),
            Opcode.VEC: ("dst", "a")}.get(cmd.op, ())
    if cmd.op == Opcode.GEMM and cmd.flags & Flag.ACCUMULATE:
        refs = ("a", "b", "c", "d")
    if cmd.op == Opcode.VEC and vec_b_is_ref(cmd.func, cmd.flags):
        refs = ("dst", "a", "b")
    return [(name, isa.split_ref(cmd.field(name))[0]) for name in refs]


def vec_b_is_ref(func: int, flags: int) -> bool:
    return func not in UNARY_FUNCS and (flags & BMODE_MASK) >> BMODE_SHIFT != BMode.SCALAR


def decode(words: np.ndarray, index: int, config: HardwareConfig) -> tuple[isa.Command | None, Fault, str]:
    """The command in `words` (COMMAND_WORDS of them) and Fault.NONE, or the first rule it breaks:
    (the command if it decodes, else None; the fault; "command <index> (<kind>): <why>")."""
    w0 = int(words[0])
    opcode = w0 & ((1 << isa.OPCODE_BITS) - 1)
    func = (w0 >> isa.FUNC_SHIFT) & ((1 << isa.FUNC_BITS) - 1)
    flags = (w0 >> isa.FLAGS_SHIFT) & ((1 << isa.FLAGS_BITS) - 1)
    if opcode not in Opcode._value2member_map_:
        return None, Fault.BAD_OPCODE, f"command {index}: unknown opcode {opcode}"
    op = Opcode(opcode)
    where = f"command {index} ({op.name})"
    if op == Opcode.VEC and func not in VecFunc._value2member_map_:
        return None, Fault.BAD_FUNC, f"{where}: unknown vector function {func}"
    if op not in (Opcode.VEC, Opcode.GEMM) and func:
        return None, Fault.BAD_FUNC, f"{where}: func {func} must be 0 outside VEC and GEMM"
    n = len(COMMAND_FIELDS[op])
    cmd = isa.Command(op, func, flags, tuple(int(w) for w in words[1 : 1 + n]))
    where = f"command {index} ({cmd.kind})"
    if flags & ~ALLOWED_FLAGS.get(op, 0):
        return cmd, Fault.BAD_FLAGS, f"{where}: undefined flag bits {flags & ~ALLOWED_FLAGS.get(op, 0):#x}"
    if any(int(w) for w in words[1 + n :]):
        return cmd, Fault.UNUSED_WORD, f"{where}: {op.name} has non-zero unused words"
    for name, handle in handle_fields(cmd):
        if handle >= config.num_handles:
            return cmd, Fault.BAD_HANDLE, f"{where}: {name} handle {handle} >= num_handles {config.num_handles}"
    if "ticket" in COMMAND_FIELDS[op] and cmd.field("ticket") >= config.num_tickets:
        return cmd, Fault.BAD_TICKET, f"{where}: ticket {cmd.field('ticket')} >= num_tickets {config.num_tickets}"
    if problem := shape_problem(cmd, config):
        return cmd, Fault.BAD_SHAPE, f"{where}: {problem}"
    return cmd, Fault.NONE, ""


def shape_problem(cmd: isa.Command, config: HardwareConfig) -> str | None:
    """Why a GEMM or VEC tile does not fit the hardware, or None."""
    if cmd.op == Opcode.GEMM:
        m, k, n = cmd.field("m"), cmd.field("k"), cmd.field("n")
        if not (0 < k <= config.array_rows and 0 < n <= config.array_cols and m > 0):
            return f"tile {m}x{k}x{n} does not fit the {config.array_rows}x{config.array_cols} array"
    if cmd.op == Opcode.VEC:
        rows, cols = cmd.field("rows"), cmd.field("cols")
        if not (0 < cols <= config.lanes and rows > 0):
            return f"{rows}x{cols} is not a tile of at most {config.lanes} lanes"
    return None
