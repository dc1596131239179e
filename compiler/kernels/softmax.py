"""Softmax over the last dim of a view (callers permute the softmax dim last).

Per block of rows, with the row split into lane-wide column tiles j, each reduction the column
tiles folded lane by lane into one tile, then that tile's row reduction (one ROWMAX and one
ROWSUM a block, not one a column tile: each takes the reduction's latency more than a MAX or ADD):
  m = rowmax(max(x_0, x_1, ...))                  (lane by lane, in order)
  e_j = exp(x_j - m)                              (fp32 tiles; EXP)
  s = rowsum(e_0 + e_1 + ...)                     (lane by lane, in order)
  out_j = bf16(e_j / s)
Each block's commands can be placed by the caller (softmax_blocks): the attention through DRAM
puts a head's beside the next head's q @ k^T GEMMs; the attention kernel (attention.py) takes a
head's commands from block_commands, its tiles already in the scratchpad.

Where a compile-time mask makes x -inf throughout a column tile j >= 1 for the first rows of a
block (a causal mask: rows above the tile's diagonal), those rows of tile j are not computed:
their e_j would be exactly 0 (exp of -inf), so they change neither m nor s, and out_j is 0 there,
written once by a DMA from a zero constant (docs/numerics.md, "Softmax").

An additive mask can be the softmax's own first step (x_j = ADD(x_j, mask_j), the bits of a pass
of its own): its tiles are loaded beside x's, and where it is known to be 0 throughout a tile's
rows it is left out, since ADD(x, 0) changes at most a -0 to +0, which exp takes to 1 all the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from atalla.isa import BMode, Command, VecFunc, tile_sp_rows
from compiler.emitter import Block, Emitter, Tile
from compiler.errors import CompileError
from compiler.kernels.rownorm import lane_fold
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View


def softmax_lastdim(em: Emitter, out: View, x: View) -> None:
    for body in softmax_blocks(em, out, x):
        em.place(body)


def softmax_blocks(em: Emitter, out: View, x: View, masked: np.ndarray | None = None,
                   zeros: View | None = None, mask: View | None = None,
                   mask_zero: np.ndarray | None = None) -> Iterator[list[Command]]:
    """The softmax, block of rows by block: for each block the loads and their waits are emitted,
    then its VEC commands are yielded for the caller to place (em.place, or beside another
    kernel's GEMMs: they touch only this kernel's tiles), and on resuming the stores follow.
    masked: where x is known -inf, per row and lane-wide column tile of x's last two dims (True:
    -inf throughout the tile), with zeros, a bf16 constant of at least `lanes` zeros.
    mask: an additive mask of x's shape, added to x first; mask_zero: where it is known to be 0 (as
    masked is laid out), those tiles' rows are not added (masked then says where x + mask is -inf)."""
    cfg = em.config
    length = x.shape[-1]
    cols = spans(length, cfg.lanes)
    # Scratchpad rows per row of the block: x (bf16), e (fp32), the output (bf16) and the mask's
    # (bf16), per column tile, and 3 one-wide fp32 tiles.
    fp32_rows = tile_sp_rows(1, fp32=True)
    mask_tiles = len(cols) if mask is not None else 0
    rows_per_row = (2 + fp32_rows) * len(cols) + mask_tiles + 3 * fp32_rows
    max_rows = (cfg.sp_rows // 2) // rows_per_row
    if max_rows == 0:
        raise CompileError(f"softmax over {length} elements does not fit the {cfg.sp_bytes}-byte scratchpad")
    tiles = None
    zeroed = [0] * len(cols)  # leading rows of each output tile known to hold 0
    for out_blk, x_blk, *mask_blk in blocks_2d([out, x] + ([mask] if mask is not None else []), keep_last=True):
        block_masked = down_the_block(masked if zeros is not None else None, x_blk.rows, len(cols))
        block_zero = down_the_block(mask_zero, x_blk.rows, len(cols))
        for r0, nr in spans(x_blk.rows, max_rows):
            if tiles is None:
                rows, n = min(x_blk.rows, max_rows), len(cols)
                group = em.alloc_group([(rows, False)] * n + [(rows, True)] * (n + 3)
                                       + [(rows, False)] * (n + mask_tiles))
                tiles = (group[:n], group[n : 2 * n], *group[2 * n : 2 * n + 3], group[2 * n + 3 : 3 * n + 3])
                mask_tile = group[3 * n + 3 :]
            xs, es, m, s, part, ys = tiles
            dead, added = live_rows(block_masked, block_zero if mask_blk else None, r0, nr, len(cols), bool(mask_blk))
            loads = [em.load(xt, x_blk.sub(r0, c0, nr, nc)) for xt, (c0, nc) in zip(xs, cols)]
            adds = []  # (x tile, mask tile, first row, rows, cols): the mask's rows added
            for j, a, rows_added in added:
                c0, nc = cols[j]
                loads.append(em.load(mask_tile[j], mask_blk[0].sub(r0 + a, c0, rows_added, nc), row=a))
                adds.append((xs[j], mask_tile[j], a, rows_added, nc))
            for yt, (_, nc), rows_dead, rows_zero in zip(ys, cols, dead, zeroed):
                if rows_dead > rows_zero:
                    loads.append(em.load(yt, Block(zeros, zeros.offset, rows_dead - rows_zero, nc, 0, 1), row=rows_zero))
            for ticket in loads:
                em.wait(ticket)
            zeroed = dead  # the rows after are written below
            yield em.capture(lambda: block_commands(em, tiles, cols, nr, dead, adds))
            for ticket in [em.store(yt, out_blk.sub(r0, c0, nr, nc)) for yt, (c0, nc) in zip(ys, cols)]:
                em.wait(ticket)
    if tiles is not None:
        em.free(*group)


def live_rows(masked: np.ndarray | None, mask_zero: np.ndarray | None, r0: int, nr: int, tiles: int,
              has_mask: bool) -> tuple[list[int], list[tuple[int, int, int]]]:
    """For rows r0 .. r0 + nr of a block, per column tile: the leading rows known -inf (dead; tile 0
    always computes, the fold starts from it), and where a mask is added, (tile, first row, rows):
    the live rows, or where the mask is known, those from the first to the last where it is not 0."""
    dead = [0] + [_leading(masked[r0 : r0 + nr, j]) if masked is not None else 0 for j in range(1, tiles)]
    added = []
    for j, d in enumerate(dead):
        if not has_mask or d == nr:
            continue
        a, rows = d, nr - d
        if mask_zero is not None:
            nonzero = np.flatnonzero(~mask_zero[r0 + d : r0 + nr, j])
            if not nonzero.size:
                continue
            a, rows = d + int(nonzero[0]), int(nonzero[-1] - nonzero[0]) + 1
        added.append((j, a, rows))
    return dead, added


def down_the_block(known: np.ndarray | None, rows: int, tiles: int) -> np.ndarray | None:
    """Per row and column tile of a block of `rows` rows, what `known` says of fewer rows, repeated
    down the block (the heads of an attention, coalesced); None where it does not fit the block."""
    if known is None or known.shape[1] != tiles or rows % known.shape[0]:
        return None
    return np.tile(known, (rows // known.shape[0], 1))


def _leading(dead_rows: np.ndarray) -> int:
    """How many rows from the first are dead."""
    live = np.flatnonzero(~dead_rows)
    return int(live[0]) if live.size else len(dead_rows)


def from_row(t: Tile, row: int) -> Tile:
    """The tile's rows from `row` on, as a tile of their own."""
    return Tile(t.handle, t.rows - row, t.fp32, t.base + tile_sp_rows(row, t.fp32))


def block_commands(em: Emitter, tiles, cols, nr: int, dead: list[int], adds) -> None:
    """The VEC commands of one block of nr rows, column tile j from row dead[j] on: ys hold the
    result when they are done. adds: (x tile, mask tile, first row, rows, cols) of the mask's additions."""
    xs, es, m, s, part, ys = tiles

    def v(func, dst, a, b=None, *, row: int, cols: int, bmode=BMode.TILE) -> None:
        em.vec(func, from_row(dst, row), from_row(a, row), from_row(b, row) if b is not None else None,
               rows=nr - row, cols=cols, bmode=bmode)

    for xt, mt, a, rows, nc in adds:
        em.vec(VecFunc.ADD, from_row(xt, a), from_row(xt, a), from_row(mt, a), rows=rows, cols=nc)
    live = [(j, xt, et, yt, nc, d) for j, (xt, et, yt, (_, nc), d) in enumerate(zip(xs, es, ys, cols, dead)) if d < nr]

    width = live[0][4]  # column tile 0's, live from row 0: the fold is in `part`
    v(VecFunc.ROWMAX, m, lane_fold(em, VecFunc.MAX, part, [(xt, nc, d) for _, xt, _, _, nc, d in live], nr),
      row=0, cols=width)
    for j, xt, et, _, nc, d in live:
        v(VecFunc.SUB, et, xt, m, row=d, cols=nc, bmode=BMode.COL)
        v(VecFunc.EXP, et, et, row=d, cols=nc)
    v(VecFunc.ROWSUM, s, lane_fold(em, VecFunc.ADD, part, [(et, nc, d) for _, _, et, _, nc, d in live], nr),
      row=0, cols=width)
    for _, _, et, yt, nc, d in live:
        v(VecFunc.DIV, yt, et, s, row=d, cols=nc, bmode=BMode.COL)
