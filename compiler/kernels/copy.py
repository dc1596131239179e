"""Materialize a strided view as a contiguous tensor: DMA in with the view's strides, DMA out."""

from __future__ import annotations

from compiler.emitter import Emitter
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View


def copy(em: Emitter, out: View, src: View) -> None:
    lanes = em.config.lanes
    max_rows = em.config.sp_rows // 4
    tile = None
    for out_blk, src_blk in blocks_2d([out, src]):
        for r0, nr in spans(out_blk.rows, max_rows):
            for c0, nc in spans(out_blk.cols, lanes):
                if tile is None:
                    tile = em.alloc(min(out_blk.rows, max_rows))
                em.wait(em.load(tile, src_blk.sub(r0, c0, nr, nc)))
                em.wait(em.store(tile, out_blk.sub(r0, c0, nr, nc)))
    if tile is not None:
        em.free(tile)
