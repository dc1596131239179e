"""Elementwise functions that are fixed sequences of vector primitives (exp, tanh, GELU, ...):
a tile of the source is loaded, the sequence runs through fp32 temporaries, the result is stored.

An `Emit` writes dst = f(src) over rows x cols given its fp32 temporaries; the sequences are the
ones docs/numerics.md defines (atalla.numerics holds their references).
"""

from __future__ import annotations

from typing import Callable

from compiler.emitter import Emitter, Tile
from compiler.kernels.tiling import tiles
from compiler.values import View

Emit = Callable[[Emitter, Tile, Tile, tuple[Tile, ...], int, int], None]  # (em, dst, src, temps, rows, cols)


def pointwise(em: Emitter, out: View, src: View, emit: Emit, fp32_temps: int, operands: tuple[View, ...] = ()) -> None:
    """out = f(src) elementwise, out contiguous and of src's shape. `operands` (views broadcast to
    that shape, a constant say) load beside src: the sequence gets their bf16 tiles first among
    its temps."""
    buffers = None
    # A tile row takes at most two scratchpad rows: the source, the result and the temporaries in
    # half the scratchpad.
    max_rows = em.config.sp_rows // (4 * (fp32_temps + 2 + len(operands)))
    views = [out, src, *(v.broadcast_to(out.shape) for v in operands)]
    for out_tile, src_tile, *operand_tiles in tiles(views, max_rows, em.config.lanes):
        if buffers is None:  # as many rows as the first tile, the largest
            rows = out_tile.rows
            buffers = ([em.alloc(rows), em.alloc(rows)] + [em.alloc(rows, fp32=True) for _ in range(fp32_temps)]
                       + [em.alloc(rows) for _ in operands])
        x, y, *temps = buffers
        temps = temps[fp32_temps:] + temps[:fp32_temps]
        for transfer in [em.load(x, src_tile)] + [em.load(t, blk) for t, blk in zip(temps, operand_tiles)]:
            em.wait(transfer)
        emit(em, y, x, tuple(temps), out_tile.rows, out_tile.cols)
        em.wait(em.store(y, out_tile))
    if buffers is not None:
        em.free(*buffers)
