"""Embedding lookup: table rows named by run-time row ids, gathered by DMA (a GATHER load) into
the scratchpad and stored to the output, a tile of ids by a band of lanes at a time."""

from __future__ import annotations

from compiler.emitter import Block, Emitter
from compiler.values import View


def embedding(em: Emitter, out: View, table: View, row_ids: View) -> None:
    """out[i, :] = table[row_ids[i], :]. out: [N, D] contiguous; table: [V, D] with contiguous rows;
    row_ids: N contiguous int32s."""
    n, d = out.shape
    rows = min(n, em.config.sp_rows // 4)
    lanes = em.config.lanes
    # Two tiles: the gather into one overlaps the store out of the other.
    tiles = em.alloc_group([(rows, False)] * (2 if n > rows or d > lanes else 1))
    stores: list[int | None] = [None] * len(tiles)
    step = 0
    for r0 in range(0, n, rows):
        nr = min(rows, n - r0)
        for c0 in range(0, d, lanes):
            nc = min(lanes, d - c0)
            slot = step % len(tiles)
            if stores[slot] is not None:
                em.wait(stores[slot])
            em.wait(em.gather(tiles[slot], Block(table, table.offset + c0, nr, nc, table.strides[0], 1),
                              row_ids.slice(0, r0, r0 + nr, 1)))
            stores[slot] = em.store(tiles[slot], Block(out, out.offset + r0 * d + c0, nr, nc, d, 1))
            step += 1
    for transfer in stores:
        if transfer is not None:
            em.wait(transfer)
    em.free(*tiles)
