"""The command set of the Atalla command processor: the one definition.

Every command is COMMAND_WORDS little-endian 32-bit words. Word 0 is
``opcode[7:0] | func[15:8] | flags[31:16]`` (func: the VecFunc of a VEC, the A row step of a
GEMM, zero otherwise); words 1.. are the operand fields that
COMMAND_FIELDS names, in order (unused words are zero). A scratchpad operand is a *buffer
reference*: ``handle[31:24] | row[23:0]``, a row offset into the buffer the handle names.
Tile rows sit one per scratchpad row for bf16 and SP_ROWS_PER_FP32_ROW per row for fp32
(see docs/numerics.md); a tile is at most ``lanes`` elements wide.

rtl/atalla_pkg.sv and include/atalla_abi.h are generated from this module (atalla.codegen).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

COMMAND_WORDS = 8
COMMAND_BYTES = 4 * COMMAND_WORDS
# Word 0: opcode[7:0] | func[15:8] | flags[31:16].
OPCODE_BITS = 8
FUNC_SHIFT = 8
FUNC_BITS = 8
FLAGS_SHIFT = 16
FLAGS_BITS = 16
REF_HANDLE_SHIFT = 24
REF_ROW_MASK = (1 << REF_HANDLE_SHIFT) - 1
# GEMM commands the GEMM unit holds, queued or running (a power of two). Kernels rely on it: a
# command issued GEMM_QUEUE_DEPTH - 1 GEMMs after another one reaches the command processor only
# once that one has retired, so it never waits on its rows.
GEMM_QUEUE_DEPTH = 4
BF16_BYTES = 2  # DRAM tensors and DMA blocks are bf16; a scratchpad row holds `lanes` of them
FP32_BYTES = 4
SP_ROWS_PER_FP32_ROW = FP32_BYTES // BF16_BYTES  # scratchpad rows an fp32 tile row takes


class Opcode(IntEnum):
    NOP = 0
    END = 1  # program complete: the command processor raises done
    ALLOC = 2  # mailbox ALLOC(bytes) -> scratchpad address, kept in the handle table
    FREE = 3  # mailbox FREE(address); the handle becomes unbound
    DMA_LOAD = 4  # mailbox DMA: DRAM -> scratchpad, completion tracked by ticket
    DMA_STORE = 5  # mailbox DMA: scratchpad -> DRAM
    WAIT = 6  # stall until the DMA with this ticket has completed
    GEMM = 7  # systolic array: D = (ACCUMULATE ? C : 0) + A(bf16) @ B(bf16), queued (see COMMAND_FIELDS)
    VEC = 8  # vector unit: dst = func(a, b) over rows x cols, fp32 arithmetic
    HOST = 9  # mailbox HOST(index): the firmware runs a fallback ATen op on DRAM tensors


COMMAND_FIELDS: dict[Opcode, tuple[str, ...]] = {
    Opcode.NOP: (),
    Opcode.END: (),
    Opcode.ALLOC: ("handle", "bytes"),
    Opcode.FREE: ("handle",),
    # Element (r, c) of the block is DRAM bf16 at dram_addr + 2*(r*row_stride + c*col_stride) and
    # scratchpad tile row r, column c. Loads zero the rest of each scratchpad row. A GATHER load
    # reads row r from dram_addr + 2*(ids[r]*row_stride + c) instead, ids[r] the int32 at
    # col_stride + 4*r (col_stride holds the byte address of the row ids: an embedding lookup).
    Opcode.DMA_LOAD: ("sp", "dram_addr", "rows", "cols", "row_stride", "col_stride", "ticket"),
    Opcode.DMA_STORE: ("sp", "dram_addr", "rows", "cols", "row_stride", "col_stride", "ticket"),
    Opcode.WAIT: ("ticket",),
    # D[m x n] = (ACCUMULATE ? C : 0) + A[m x k] @ B[k x n]; k <= array_rows, n <= array_cols.
    # A row i is scratchpad row a + i*func (func: the A row step, 1 for a plain tile). C and D are
    # fp32 tiles unless C_BF16 / C_ROW / D_BF16 say otherwise; D is written whole (columns >= n
    # become +0). The GEMM unit queues commands: the command processor holds back only commands
    # that touch rows a queued GEMM has yet to read or write (docs/isa.md, "Ordering").
    Opcode.GEMM: ("a", "b", "c", "d", "m", "k", "n"),
    # b is a buffer reference, or the fp32 bits of a scalar when the B mode is SCALAR.
    Opcode.VEC: ("dst", "a", "b", "rows", "cols"),
    Opcode.HOST: ("index",),
}


class VecFunc(IntEnum):
    """Vector unit functions (word 0 bits 15:8). Each is exactly defined in docs/numerics.md."""

    COPY = 0  # dst = a (converts between bf16 and fp32 tiles)
    ADD = 1
    SUB = 2
    MUL = 3
    DIV = 4
    MAX = 5
    MIN = 6
    RELU = 7  # dst = max(a, +0)
    ROUND = 8  # dst = a rounded to the nearest integer, ties to even
    LDEXP = 9  # dst = a * 2**b, b integer-valued
    ROWSUM = 10  # dst[r][0] = a[r][0] + a[r][1] + ... in column order
    ROWMAX = 11  # dst[r][0] = max over the row, in column order
    SQRT = 12  # dst = sqrt(a), correctly rounded; NaN for a < 0 except sqrt(-0) = -0
    EXP = 13  # dst = exp(a): exactly the sequence of the primitives above that docs/numerics.md gives


UNARY_FUNCS = frozenset({VecFunc.COPY, VecFunc.RELU, VecFunc.ROUND, VecFunc.ROWSUM, VecFunc.ROWMAX,
                         VecFunc.SQRT, VecFunc.EXP})  # no b
REDUCE_FUNCS = frozenset({VecFunc.ROWSUM, VecFunc.ROWMAX})  # dst is one column


class BMode(IntEnum):
    """How a VEC command's b operand covers the rows x cols tile."""

    TILE = 0  # b[r][c]
    ROW = 1  # b[0][c]: one row broadcast down the rows
    COL = 2  # b[r][0]: one column broadcast across the columns
    SCALAR = 3  # the b word holds fp32 bits


class Flag(IntEnum):
    """Bits of the flags field (word 0 bits 31:16)."""

    ACCUMULATE = 1 << 0  # GEMM: D = C + A @ B (else D = A @ B)
    DST_FP32 = 1 << 1  # VEC: destination tile is fp32 (else bf16)
    A_FP32 = 1 << 2  # VEC: a is fp32
    B_FP32 = 1 << 3  # VEC: b is fp32
    C_BF16 = 1 << 6  # GEMM: C rows are bf16 (one scratchpad row each), widened to fp32
    C_ROW = 1 << 7  # GEMM: C is one row, added to every row (a bias)
    D_BF16 = 1 << 8  # GEMM: D rows are rounded to bf16 (one scratchpad row each)
    GATHER = 1 << 9  # DMA_LOAD: row r comes from table row ids[r] (the ids at DRAM byte col_stride)


BMODE_SHIFT = 4  # VEC: BMode in flag bits 5:4
BMODE_MASK = 0x3 << BMODE_SHIFT
GEMM_FLAGS = Flag.ACCUMULATE | Flag.C_BF16 | Flag.C_ROW | Flag.D_BF16


class MailboxCall(IntEnum):
    """Mailbox request kinds (DUT -> firmware). Arguments are in MAILBOX_ARGS order."""

    ALLOC = 1
    FREE = 2
    DMA = 3
    HOST = 4


MAILBOX_ARGS: dict[MailboxCall, tuple[str, ...]] = {
    MailboxCall.ALLOC: ("handle", "bytes"),
    MailboxCall.FREE: ("handle", "sp_addr"),
    MailboxCall.DMA: ("direction", "sp_addr", "dram_addr", "rows", "cols", "row_stride", "col_stride", "ticket"),
    MailboxCall.HOST: ("index",),
}
MAILBOX_MAX_ARGS = max(len(a) for a in MAILBOX_ARGS.values())


def call_name(call: int) -> str:
    """A mailbox call number as reports name it: the kind, or UNKNOWN(n)."""
    return MailboxCall(call).name if call in MailboxCall._value2member_map_ else f"UNKNOWN({call})"


class DmaDirection(IntEnum):
    LOAD = 0  # DRAM -> scratchpad
    STORE = 1  # scratchpad -> DRAM
    GATHER = 2  # DRAM table rows named by int32 row ids -> scratchpad; col_stride is the ids' address


INDEX_BYTES = 4  # a row id of a GATHER (an int32 tensor element)


class Status(IntEnum):
    """Mailbox response status (firmware -> DUT). Anything but OK halts the program with a fault."""

    OK = 0
    OUT_OF_MEMORY = 1
    BAD_FREE = 2
    DMA_OUT_OF_BOUNDS = 3
    HOST_FAILED = 4
    BAD_CALL = 5


class Fault(IntEnum):
    """Why the command processor halted (its fault code), beside the index of the command."""

    NONE = 0
    FIRMWARE = 1  # a mailbox call answered with a status other than OK (the status says which)
    BAD_OPCODE = 2
    UNBOUND_HANDLE = 3  # a command names a handle with no buffer
    HANDLE_IN_USE = 4  # ALLOC of a handle that already has a buffer
    BAD_TICKET = 5  # a ticket beyond num_tickets, a DMA on a ticket not yet waited for, a WAIT with no DMA
    # Appended: the codes above keep their numbers. The command processor and the emulator check a
    # command's rules in the order of docs/isa.md ("Faults"), not this one, and fault with the first
    # it breaks.
    BAD_FUNC = 6  # a VEC function that does not exist, or a func on a command other than VEC and GEMM
    BAD_FLAGS = 7  # flag bits the opcode does not define
    UNUSED_WORD = 8  # a non-zero word after the command's fields
    BAD_HANDLE = 9  # a handle number >= num_handles
    BAD_SHAPE = 10  # GEMM m = 0 or k, n outside 1..array rows, cols; VEC rows = 0 or cols outside 1..lanes
    OUT_OF_BUFFER = 11  # an operand's scratchpad rows run past the end of its handle's buffer
    OPERAND_OVERLAP = 12  # a GEMM's D overlaps A or B or part of C; a VEC destination part of an operand
    DMA_NOT_WAITED = 13  # HOST or END while a DMA ticket has not been waited for


class TraceEvent(IntEnum):
    """Events the co-simulation testbench records with their cycle, for timelines and reports."""

    COMMAND = 0  # a command starts: (index, opcode)
    DMA_DONE = 1  # a transfer completed: (ticket, -)
    MB_REQUEST = 2  # the mailbox doorbell rings: (call, -)
    MB_RESPONSE = 3  # the firmware answered: (status, -)
    END = 4  # the program ended: (command index, 1 if faulted)


def tile_sp_rows(rows: int, fp32: bool) -> int:
    """Scratchpad rows a tile of `rows` rows takes."""
    return rows * SP_ROWS_PER_FP32_ROW if fp32 else rows


def _mask(bits: int) -> int:
    return (1 << bits) - 1


def make_ref(handle: int, row: int = 0) -> int:
    if not 0 <= handle < 256 or not 0 <= row <= REF_ROW_MASK:
        raise ValueError(f"buffer reference out of range: handle {handle}, row {row}")
    return handle << REF_HANDLE_SHIFT | row


def split_ref(ref: int) -> tuple[int, int]:
    return ref >> REF_HANDLE_SHIFT, ref & REF_ROW_MASK


@dataclass(frozen=True)
class Command:
    op: Opcode
    func: int = 0
    flags: int = 0
    args: tuple[int, ...] = ()  # COMMAND_FIELDS[op] order

    def field(self, name: str) -> int:
        return self.args[COMMAND_FIELDS[self.op].index(name)]

    @property
    def kind(self) -> str:
        """Readable kind for reports: VEC commands by function."""
        return f"VEC.{VecFunc(self.func).name}" if self.op == Opcode.VEC else self.op.name

    def encode(self) -> np.ndarray:
        words = np.zeros(COMMAND_WORDS, dtype="<u4")
        words[0] = (int(self.op) | (self.func & _mask(FUNC_BITS)) << FUNC_SHIFT
                    | (self.flags & _mask(FLAGS_BITS)) << FLAGS_SHIFT)
        words[1 : 1 + len(self.args)] = [a & 0xFFFFFFFF for a in self.args]
        return words


def command(op: Opcode, func: int = 0, flags: int = 0, **fields: int) -> Command:
    names = COMMAND_FIELDS[op]
    if set(fields) != set(names):
        raise ValueError(f"{op.name} takes fields {names}, got {tuple(fields)}")
    return Command(op, func, flags, tuple(int(fields[n]) for n in names))


def decode(words: np.ndarray, index: int) -> Command:
    """Decode one command; `index` names it in errors."""
    w0 = int(words[0])
    try:
        op = Opcode(w0 & _mask(OPCODE_BITS))
    except ValueError:
        raise ValueError(f"command {index}: unknown opcode {w0 & _mask(OPCODE_BITS)}") from None
    func, flags = (w0 >> FUNC_SHIFT) & _mask(FUNC_BITS), (w0 >> FLAGS_SHIFT) & _mask(FLAGS_BITS)
    n = len(COMMAND_FIELDS[op])
    if op == Opcode.VEC and func not in VecFunc._value2member_map_:
        raise ValueError(f"command {index}: unknown vector function {func}")
    if any(int(w) for w in words[1 + n :]):
        raise ValueError(f"command {index}: {op.name} has non-zero unused words")
    return Command(op, func, flags, tuple(int(w) for w in words[1 : 1 + n]))
