"""The compute units of the emulator on absolute scratchpad addresses: GEMM and VEC.

The emulator calls these after resolving handles and checking hazards; the RTL block
testbenches call them directly as the reference model of the systolic array and vector unit.
"""

from __future__ import annotations

import numpy as np

from atalla import numerics as nu
from atalla.isa import (BF16_BYTES, BMODE_MASK, BMODE_SHIFT, REDUCE_FUNCS, UNARY_FUNCS, BMode, Flag, VecFunc,
                        tile_sp_rows)

BINARY = {VecFunc.ADD: nu.add, VecFunc.SUB: nu.sub, VecFunc.MUL: nu.mul, VecFunc.DIV: nu.div,
          VecFunc.MAX: nu.maximum, VecFunc.MIN: nu.minimum, VecFunc.LDEXP: nu.ldexp}
UNARY = {VecFunc.COPY: nu.flush, VecFunc.RELU: nu.relu, VecFunc.ROUND: nu.round_even,
         VecFunc.ROWSUM: nu.rowsum, VecFunc.ROWMAX: nu.rowmax, VecFunc.SQRT: nu.sqrt, VecFunc.EXP: nu.exp}


def tile_bytes(rows: int, fp32: bool, row_bytes: int) -> int:
    return tile_sp_rows(rows, fp32) * row_bytes


def read_tile(sp: np.ndarray, addr: int, rows: int, cols: int, fp32: bool, row_bytes: int) -> np.ndarray:
    raw = sp[addr : addr + tile_bytes(rows, fp32, row_bytes)]
    if fp32:
        return raw.view("<f4").reshape(rows, -1)[:, :cols].copy()
    return nu.bf16_bits_to_f32(raw.view("<u2").reshape(rows, -1)[:, :cols])


def write_tile(sp: np.ndarray, addr: int, value: np.ndarray, fp32: bool, row_bytes: int) -> None:
    """Writes the tile's columns only; the rest of each row keeps its bytes."""
    rows, cols = value.shape
    raw = sp[addr : addr + tile_bytes(rows, fp32, row_bytes)]
    if fp32:
        raw.view("<f4").reshape(rows, -1)[:, :cols] = value
    else:
        raw.view("<u2").reshape(rows, -1)[:, :cols] = nu.f32_to_bf16_bits(value)


def bmode(flags: int) -> BMode:
    return BMode((flags & BMODE_MASK) >> BMODE_SHIFT)


def b_shape(mode: BMode, rows: int, cols: int) -> tuple[int, int]:
    return {BMode.TILE: (rows, cols), BMode.ROW: (1, cols), BMode.COL: (rows, 1)}[mode]


def vec(sp: np.ndarray, func: VecFunc, flags: int, dst: int, a: int, b_word: int, rows: int, cols: int,
        row_bytes: int) -> None:
    """One VEC command; dst, a and (unless SCALAR) b_word are scratchpad byte addresses."""
    x = read_tile(sp, a, rows, cols, bool(flags & Flag.A_FP32), row_bytes)
    if func in UNARY_FUNCS:
        result = UNARY[func](x)
    else:
        mode = bmode(flags)
        if mode == BMode.SCALAR:
            y = np.array(b_word, dtype=np.uint32).view(np.float32).reshape(1, 1)
        else:
            y = read_tile(sp, b_word, *b_shape(mode, rows, cols), bool(flags & Flag.B_FP32), row_bytes)
        result = BINARY[func](x, np.broadcast_to(y, x.shape))
    out_cols = 1 if func in REDUCE_FUNCS else cols
    write_tile(sp, dst, result.reshape(rows, out_cols), bool(flags & Flag.DST_FP32), row_bytes)


def gemm_a_rows(m: int, a_step: int) -> int:
    """Scratchpad rows the A operand of a GEMM spans: its row i is row i * a_step."""
    return (m - 1) * a_step + 1


def gemm_c_rows(m: int, flags: int) -> int:
    """Scratchpad rows the C operand of a GEMM covers."""
    return tile_sp_rows(1 if flags & Flag.C_ROW else m, not flags & Flag.C_BF16)


def gemm_d_rows(m: int, flags: int) -> int:
    return tile_sp_rows(m, not flags & Flag.D_BF16)


def gemm_operand_problem(flags: int, a: tuple[int, int], b: tuple[int, int], c: tuple[int, int],
                         d: tuple[int, int]) -> str | None:
    """Why a GEMM's operands may not lie where they do, or None. a, b, c, d: the [lo, hi) scratchpad
    ranges of A, B, C and D, all in rows or all in bytes (C counts only with ACCUMULATE). D is
    written while the others are read: it must be apart from A and B, and either be C itself (the
    same rows, the same format: accumulating in place) or apart from C."""
    for name, span in (("A", a), ("B", b)):
        if overlap(d, span):
            return f"D overlaps {name}"
    if flags & Flag.ACCUMULATE and overlap(c, d):
        if c != d or bool(flags & Flag.C_BF16) != bool(flags & Flag.D_BF16):
            return "D partially overlaps C (in place is fine: the same rows, the same format)"
    return None


def vec_operand_problem(mode: BMode, dst: tuple[int, int], a: tuple[int, int], b: tuple[int, int] | None) -> str | None:
    """Why a VEC's destination may not lie where it does, or None. Spans as for gemm_operand_problem;
    b: None when the command reads no b tile. The destination is written row by row while the
    operands are read: it must be exactly an operand (in place; b only as a whole tile) or apart."""
    if overlap(dst, a) and dst != a:
        return "the destination partially overlaps an operand"
    if b is not None and overlap(dst, b) and (dst != b or mode != BMode.TILE):
        return "the destination partially overlaps an operand"
    return None


def overlap(x: tuple[int, int], y: tuple[int, int]) -> bool:
    """Whether two [lo, hi) ranges share an element."""
    return x[0] < y[1] and y[0] < x[1]


def gemm(sp: np.ndarray, a: int, a_step: int, b: int, c: int, d: int, m: int, k: int, n: int, flags: int,
         row_bytes: int, cols: int) -> None:
    """One GEMM command on byte addresses: A row i (bf16) at a + i*a_step*row_bytes, B (bf16 k x n),
    C and D as the flags say. D's rows are written whole: columns n..cols-1 become +0."""
    step = a_step * row_bytes // BF16_BYTES
    a_bits = sp.view("<u2")[a // BF16_BYTES + step * np.arange(m)[:, None] + np.arange(k)[None, :]]
    b_bits = sp[b : b + k * row_bytes].view("<u2").reshape(k, -1)[:, :n]
    old = None
    if flags & Flag.ACCUMULATE:
        c_bf16 = bool(flags & Flag.C_BF16)
        old = read_tile(sp, c, 1 if flags & Flag.C_ROW else m, n, not c_bf16, row_bytes)
        old = np.broadcast_to(old, (m, n))
    result = np.zeros((m, cols), dtype=np.float32)
    result[:, :n] = nu.gemm(a_bits, b_bits, old)
    write_tile(sp, d, result, not flags & Flag.D_BF16, row_bytes)
