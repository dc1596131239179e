"""Materialize a strided view as a contiguous tensor: DMA in with the view's strides, DMA out."""

from __future__ import annotations

from compiler.emitter import Emitter
from compiler.kernels.tiling import tiles
from compiler.values import View


def copy(em: Emitter, out: View, src: View) -> None:
    tile = None
    for out_tile, src_tile in tiles([out, src], em.config.sp_rows // 4, em.config.lanes):
        if tile is None:  # as many rows as the first tile, the largest
            tile = em.alloc(out_tile.rows)
        em.wait(em.load(tile, src_tile))
        em.wait(em.store(tile, out_tile))
    if tile is not None:
        em.free(tile)
