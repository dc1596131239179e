"""Elementwise vector kernels with broadcasting: out = func(a, b) or func(a).

Broadcast operands are views with stride 0, so the strided DMA replicates them into full tiles;
a scalar operand rides in the command itself.
"""

from __future__ import annotations

from atalla.isa import VecFunc
from compiler.emitter import Emitter
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View


def elementwise(em: Emitter, func: VecFunc, out: View, a: View, b: View | float | None = None) -> None:
    lanes = em.config.lanes
    operands = [a] + ([b] if isinstance(b, View) else [])
    max_rows = em.config.sp_rows // (2 * (len(operands) + 1))
    tiles = None
    pending_store = None
    for blocks in blocks_2d([out, *(v.broadcast_to(out.shape) for v in operands)]):
        out_blk, in_blks = blocks[0], blocks[1:]
        for r0, nr in spans(out_blk.rows, max_rows):
            for c0, nc in spans(out_blk.cols, lanes):
                if tiles is None:
                    rows = min(out_blk.rows, max_rows)
                    tiles = [em.alloc(rows) for _ in range(len(operands) + 1)]
                loads = [em.load(t, blk.sub(r0, c0, nr, nc)) for t, blk in zip(tiles[1:], in_blks)]
                for ticket in loads:
                    em.wait(ticket)
                if pending_store is not None:
                    em.wait(pending_store)  # the output tile is about to be overwritten
                second = tiles[2] if isinstance(b, View) else b
                em.vec(func, tiles[0], tiles[1], second, rows=nr, cols=nc)
                pending_store = em.store(tiles[0], out_blk.sub(r0, c0, nr, nc))
    if tiles is not None:
        em.wait(pending_store)
        em.free(*tiles)
