"""Elementwise vector kernels with broadcasting: out = func(a, b) or func(a).

Broadcast operands are views with stride 0, so the strided DMA replicates them into full tiles;
a scalar operand rides in the command itself.

Double buffered: two sets of tiles, so the next chunk's operands load while this chunk computes
and the last chunk's result stores.
"""

from __future__ import annotations

from atalla.config import HardwareConfig
from atalla.isa import BF16_BYTES, VecFunc
from compiler.emitter import Emitter
from compiler.kernels.tiling import tiles as chunk_tiles
from compiler.values import View


def _max_rows(cfg: HardwareConfig, operands: int) -> int:
    return cfg.sp_rows // (4 * (operands + 1))  # two sets of tiles in half the scratchpad


def estimated_cycles(cfg: HardwareConfig, rows: int, cols: int, operands: int) -> float:
    """About what the kernel takes on a rows x cols output of `operands` tensors: it streams them
    through the DMA (the vector unit keeps up), each chunk's transfers one firmware call each, after
    an ALLOC and before a FREE."""
    chunks = -(-(rows * -(-cols // cfg.lanes)) // _max_rows(cfg, operands))
    transfers = BF16_BYTES * (operands + 1) * rows * cols / cfg.dma_bytes_per_cycle
    return max(transfers, chunks * (operands + 1) * cfg.fw_dma_cycles) + cfg.fw_alloc_cycles + cfg.fw_free_cycles


def elementwise(em: Emitter, func: VecFunc, out: View, a: View, b: View | float | None = None) -> None:
    lanes = em.config.lanes
    operands = [a] + ([b] if isinstance(b, View) else [])
    max_rows = _max_rows(em.config, len(operands))
    chunks = list(chunk_tiles([out, *(v.broadcast_to(out.shape) for v in operands)], max_rows, lanes))
    if not chunks:
        return
    rows = max(chunk[0].rows for chunk in chunks)
    per_set = len(operands) + 1  # the output tile, then the operands'
    sets_count = 2 if len(chunks) > 1 else 1
    tiles = em.alloc_group([(rows, False)] * (per_set * sets_count))
    sets = [tiles[s * per_set : (s + 1) * per_set] for s in range(sets_count)]

    def load(c: int) -> list[int]:
        return [em.load(tile, blk) for tile, blk in zip(sets[c % sets_count][1:], chunks[c][1:])]

    loads = {0: load(0)}
    stores: dict[int, int] = {}
    for c, (out_blk, *_) in enumerate(chunks):
        if c + 1 < len(chunks):  # the other set's operands were read by the VEC before this one
            loads[c + 1] = load(c + 1)
        for transfer in loads.pop(c):
            em.wait(transfer)
        if c - sets_count in stores:
            em.wait(stores.pop(c - sets_count))  # the output tile is about to be overwritten
        dst, *srcs = sets[c % sets_count]
        em.vec(func, dst, srcs[0], srcs[1] if isinstance(b, View) else b, rows=out_blk.rows, cols=out_blk.cols)
        stores[c] = em.store(dst, out_blk)
    for transfer in stores.values():
        em.wait(transfer)
    em.free(*tiles)
