"""Statistics of the last dim (sum, mean, var) and layer norm over it (callers permute the dim last).

Per block of rows, with the row of length D split into lane-wide column tiles x_j (bf16, as loaded),
in fp32: the column tiles summed lane by lane into one lane-wide tile, then that tile's row sum
(one ROWSUM a pass, not one a column tile: a ROWSUM takes the reduction's latency more than an ADD)
  a = x_0 + x_1 + x_2 + ...  (lane by lane, in order)    s = rowsum(a)     sum = bf16(s)
  m = s / D                                                                mean = bf16(m)
  q = (x_0 - m)^2 + (x_1 - m)^2 + ...  (lane by lane)    v = rowsum(q)     var = bf16(v / (D - correction))
  layer norm: r = sqrt(v / D + eps); out_j = bf16(((x_j - m) / r) * w_j + b_j)
"""

from __future__ import annotations

from atalla.isa import BMode, VecFunc, tile_sp_rows
from compiler.emitter import Block, Emitter, Tile
from compiler.errors import CompileError
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View

def _row_tile(em: Emitter, tile: Tile, vector: View, cols: list[tuple[int, int]]) -> list[int]:
    """Start loading a 1-D view of the row's length into `tile`, column tile j in tile row j: the
    full column tiles as one 2-D DMA, a partial last one as its own; returns the transfers."""
    step, lanes = vector.strides[0], cols[0][1]
    full = sum(1 for _, nc in cols if nc == lanes)
    transfers = [em.load(tile, Block(vector, vector.offset, full, lanes, lanes * step, step))]
    if full < len(cols):
        c0, nc = cols[-1]
        transfers.append(em.load(tile, Block(vector, vector.offset + c0 * step, 1, nc, 0, step), row=full))
    return transfers


def lane_fold(em: Emitter, func: VecFunc, acc: Tile, terms: list[tuple[Tile, int, int]], rows: int,
              before=None) -> Tile:
    """func (ADD, MAX) over the terms lane by lane, in order, into acc (fp32); each term (tile, its
    columns, its first row), the first the widest and from row 0: rows above a term's first and
    lanes past its columns keep the fold so far. before(j) runs before term j is read. Returns the
    tile holding the fold: acc, or with one term that term's tile (nothing emitted)."""
    (first, width, _), *rest = terms
    for j, (tile, nc, r0) in enumerate(terms):
        if before is not None:
            before(j)
        if j == 0:
            continue
        # The second term starts the fold from the first, which is copied where it does not reach:
        # only the rows above it when it is as wide (a causal softmax's tiles below the diagonal).
        full_width = nc == width
        starts = j == 1 and first is not acc
        if starts and (r0 > 0 or not full_width):
            em.vec(VecFunc.COPY, acc, first, rows=r0 if full_width else rows, cols=width)
        em.vec(func, acc, first if starts and full_width else acc, tile, rows=rows - r0, cols=nc,
               dst_row=r0, a_row=r0, b_row=r0)
    return acc if rest else first


def _normalize(em: Emitter, out: View, x: View, stat: str | None, correction: int = 0,
               weight: View | None = None, bias: View | None = None, eps: float = 0.0) -> None:
    """stat: write that statistic (out of x's shape, its last dim of stride 0); None: layer norm."""
    cfg = em.config
    length = x.shape[-1]
    cols = spans(length, cfg.lanes)
    fp32_rows = tile_sp_rows(1, fp32=True)
    # Scratchpad rows per row of the block: x per column tile, four fp32 tiles ((x - m), the lane
    # sums, s and m) and two bf16 output tiles (each stored while the next is computed).
    rows_per_row = len(cols) + 4 * fp32_rows + 2
    max_rows = (cfg.sp_rows // 2 - 2 * len(cols)) // rows_per_row
    if max_rows <= 0:
        raise CompileError(f"a row of {length} elements does not fit the {cfg.sp_bytes}-byte scratchpad")
    affine = [v for v in (weight, bias) if v is not None]
    row_tiles = em.alloc_group([(len(cols), False)] * len(affine)) if affine else []
    affine_loads: list[int] | None = None  # started after the first x loads: needed only at the end
    ahead = max(1, cfg.num_tickets - 2 * len(affine))  # x loads in flight: the tickets the affine rows leave
    w_tile = row_tiles[0] if weight is not None else None
    b_tile = row_tiles[-1] if bias is not None else None
    tiles = None
    for out_blk, x_blk in blocks_2d([out, x], keep_last=True):
        for r0, nr in spans(x_blk.rows, max_rows):
            if tiles is None:
                rows = min(x_blk.rows, max_rows)
                group = em.alloc_group([(rows, False)] * len(cols) + [(rows, True)] * 4 + [(rows, False)] * 2)
                tiles = (group[: len(cols)], *group[len(cols) : -2], group[-2:])
            xs, d, s, acc, m, ys = tiles
            y = ys[0]
            one = lambda func, dst, a, b=None: em.vec(func, dst, a, b, rows=nr, cols=1)  # noqa: E731
            # Each column tile is summed as soon as it arrives, `ahead` loads kept in flight (a WAIT
            # the emitter put in to free a ticket would stop the stream until that load lands).
            loads: list[int] = []

            def load_next() -> None:
                if len(loads) < len(cols):
                    (c0, nc), xt = cols[len(loads)], xs[len(loads)]
                    loads.append(em.load(xt, x_blk.sub(r0, c0, nr, nc)))

            def arrived(j: int) -> None:
                em.wait(loads[j])
                load_next()

            for _ in range(ahead):
                load_next()
            if affine_loads is None:
                affine_loads = [t for tile, vector in zip(row_tiles, affine) for t in _row_tile(em, tile, vector, cols)]
            a = lane_fold(em, VecFunc.ADD, acc, [(xt, nc, 0) for xt, (_, nc) in zip(xs, cols)], nr, arrived)
            em.vec(VecFunc.ROWSUM, s, a, rows=nr, cols=cols[0][1])
            if stat in ("sum", "mean"):
                one(VecFunc.COPY if stat == "sum" else VecFunc.DIV, y, s, None if stat == "sum" else float(length))
                em.wait(em.store(y, out_blk.sub(r0, 0, nr, 1)))
                continue
            one(VecFunc.DIV, m, s, float(length))

            def square_deviation(j: int) -> None:  # d = (x_j - m)^2, or into acc for the first
                dst, nc = acc if j == 0 else d, cols[j][1]
                em.vec(VecFunc.SUB, dst, xs[j], m, rows=nr, cols=nc, bmode=BMode.COL)
                em.vec(VecFunc.MUL, dst, dst, dst, rows=nr, cols=nc)

            q = lane_fold(em, VecFunc.ADD, acc, [(acc, cols[0][1], 0)] + [(d, nc, 0) for _, nc in cols[1:]], nr,
                          square_deviation)
            em.vec(VecFunc.ROWSUM, s, q, rows=nr, cols=cols[0][1])
            if stat == "var":
                one(VecFunc.DIV, y, s, float(max(length - correction, 0)))
                em.wait(em.store(y, out_blk.sub(r0, 0, nr, 1)))
                continue
            one(VecFunc.DIV, s, s, float(length))
            one(VecFunc.ADD, s, s, eps)
            one(VecFunc.SQRT, s, s)
            for transfer in affine_loads:
                em.wait(transfer)
            stores: dict[int, int] = {}
            for j, (xt, (c0, nc)) in enumerate(zip(xs, cols)):
                y = ys[j % 2]
                if j - 2 in stores:
                    em.wait(stores.pop(j - 2))  # y is about to be overwritten
                steps = [(VecFunc.SUB, xt, m, BMode.COL), (VecFunc.DIV, d, s, BMode.COL)]
                steps += [(VecFunc.MUL, d, w_tile, BMode.ROW)] if w_tile is not None else []
                steps += [(VecFunc.ADD, d, b_tile, BMode.ROW)] if b_tile is not None else []
                for k, (func, a, b, mode) in enumerate(steps):
                    em.vec(func, y if k == len(steps) - 1 else d, a, b, rows=nr, cols=nc, bmode=mode,
                           b_row=j if mode == BMode.ROW else 0)
                stores[j] = em.store(y, out_blk.sub(r0, c0, nr, nc))
            for transfer in stores.values():
                em.wait(transfer)
    if tiles is not None:
        em.free(tiles[-1][0])  # one buffer holds them all
    em.free(*row_tiles)


def row_stat(em: Emitter, stat: str, out: View, x: View, correction: int = 0) -> None:
    """out[..., 0] = stat(x[..., :]); out has x's shape but a last dim of 1."""
    _normalize(em, out.expand(list(x.shape)), x, stat, correction)


def layer_norm(em: Emitter, out: View, x: View, weight: View | None, bias: View | None, eps: float) -> None:
    _normalize(em, out, x, None, weight=weight, bias=bias, eps=eps)
