"""Softmax over the last dim of a view (callers permute the softmax dim last).

Per block of rows, with the row split into lane-wide column tiles j:
  m = rowmax(x_0), then m = max(m, rowmax(x_j)) for j = 1, 2, ...
  e_j = exp(x_j - m)                              (fp32 tiles; exp per emit_exp)
  s = rowsum(e_0), then s = s + rowsum(e_j) for j = 1, 2, ...
  out_j = bf16(e_j / s)
Each block's commands can be placed by the caller (softmax_blocks): the attention puts a head's
beside the next head's q @ k^T GEMMs.
"""

from __future__ import annotations

from collections.abc import Iterator

from atalla.isa import BMode, Command, VecFunc, tile_sp_rows
from compiler.emitter import Emitter
from compiler.errors import CompileError
from compiler.kernels.exp import emit_exp
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View


def softmax_lastdim(em: Emitter, out: View, x: View) -> None:
    for body in softmax_blocks(em, out, x):
        em.place(body)


def softmax_blocks(em: Emitter, out: View, x: View) -> Iterator[list[Command]]:
    """The softmax, block of rows by block: for each block the loads and their waits are emitted,
    then its VEC commands are yielded for the caller to place (em.place, or beside another
    kernel's GEMMs: they touch only this kernel's tiles), and on resuming the stores follow."""
    cfg = em.config
    length = x.shape[-1]
    cols = spans(length, cfg.lanes)
    # Scratchpad rows per row of the block: x (bf16), e (fp32) and the output (bf16) per column tile,
    # 4 fp32 exp temps and 3 one-wide fp32 tiles.
    fp32_rows = tile_sp_rows(1, fp32=True)
    rows_per_row = (2 + fp32_rows) * len(cols) + 4 * fp32_rows + 3 * fp32_rows
    max_rows = (cfg.sp_rows // 2) // rows_per_row
    if max_rows == 0:
        raise CompileError(f"softmax over {length} elements does not fit the {cfg.sp_bytes}-byte scratchpad")
    tiles = None
    for out_blk, x_blk in blocks_2d([out, x], keep_last=True):
        for r0, nr in spans(x_blk.rows, max_rows):
            if tiles is None:
                rows, n = min(x_blk.rows, max_rows), len(cols)
                group = em.alloc_group([(rows, False)] * n + [(rows, True)] * (n + 7) + [(rows, False)] * n)
                xs, es, temps, (m, s, part), ys = (group[:n], group[n : 2 * n], tuple(group[2 * n : 2 * n + 4]),
                                                    group[2 * n + 4 : 2 * n + 7], group[2 * n + 7 :])
                tiles = (xs, es, temps, m, s, part, ys)
            xs, es, temps, m, s, part, ys = tiles
            for ticket in [em.load(xt, x_blk.sub(r0, c0, nr, nc)) for xt, (c0, nc) in zip(xs, cols)]:
                em.wait(ticket)
            yield em.capture(lambda: _block(em, tiles, cols, nr))
            for ticket in [em.store(yt, out_blk.sub(r0, c0, nr, nc)) for yt, (c0, nc) in zip(ys, cols)]:
                em.wait(ticket)
    if tiles is not None:
        xs, es, temps, m, s, part, ys = tiles
        em.free(*xs, *es, *temps, m, s, part, *ys)


def _block(em: Emitter, tiles, cols, nr: int) -> None:
    """The VEC commands of one block of nr rows: ys hold the result when they are done."""
    xs, es, temps, m, s, part, ys = tiles
    for j, (xt, (_, nc)) in enumerate(zip(xs, cols)):
        em.vec(VecFunc.ROWMAX, m if j == 0 else part, xt, rows=nr, cols=nc)
        if j:
            em.vec(VecFunc.MAX, m, m, part, rows=nr, cols=1)
    for j, (xt, et, (_, nc)) in enumerate(zip(xs, es, cols)):
        em.vec(VecFunc.SUB, et, xt, m, rows=nr, cols=nc, bmode=BMode.COL)
        emit_exp(em, et, et, temps, nr, nc)
        em.vec(VecFunc.ROWSUM, s if j == 0 else part, et, rows=nr, cols=nc)
        if j:
            em.vec(VecFunc.ADD, s, s, part, rows=nr, cols=1)
    for et, yt, (_, nc) in zip(es, ys, cols):
        em.vec(VecFunc.DIV, yt, et, s, rows=nr, cols=nc, bmode=BMode.COL)
