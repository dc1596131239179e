"""Statistics of the last dim (sum, mean, var) and layer norm over it (callers permute the dim last).

Per block of rows, with the row of length D split into lane-wide column tiles x_j (bf16, as loaded),
in fp32 one-column tiles:
  s = rowsum(x_0), then s = s + rowsum(x_j) for j = 1, 2, ...        sum = bf16(s)
  m = s / D                                                          mean = bf16(m)
  v = rowsum((x_0 - m)^2), then v = v + rowsum((x_j - m)^2) ...      var = bf16(v / (D - correction))
  layer norm: r = sqrt(v / D + eps); out_j = bf16(((x_j - m) / r) * w_j + b_j)
"""

from __future__ import annotations

from atalla.isa import BMode, VecFunc, tile_sp_rows
from compiler.emitter import Block, Emitter, Tile
from compiler.errors import CompileError
from compiler.kernels.tiling import blocks_2d, spans
from compiler.values import View

def _row_tile(em: Emitter, tile: Tile, vector: View, cols: list[tuple[int, int]]) -> None:
    """A 1-D view of the row's length into `tile`, column tile j in tile row j."""
    step = vector.strides[0]
    for ticket in [em.load(tile, Block(vector, vector.offset + c0 * step, 1, nc, 0, step), row=j)
                   for j, (c0, nc) in enumerate(cols)]:
        em.wait(ticket)


def _normalize(em: Emitter, out: View, x: View, stat: str | None, correction: int = 0,
               weight: View | None = None, bias: View | None = None, eps: float = 0.0) -> None:
    """stat: write that statistic (out of x's shape, its last dim of stride 0); None: layer norm."""
    cfg = em.config
    length = x.shape[-1]
    cols = spans(length, cfg.lanes)
    fp32_rows = tile_sp_rows(1, fp32=True)
    # Scratchpad rows per row of the block: x per column tile, the fp32 (x - m) tile, three
    # one-wide fp32 tiles and two bf16 output tiles (each stored while the next is computed).
    rows_per_row = len(cols) + fp32_rows + 3 * fp32_rows + 2
    max_rows = (cfg.sp_rows // 2 - 2 * len(cols)) // rows_per_row
    if max_rows <= 0:
        raise CompileError(f"a row of {length} elements does not fit the {cfg.sp_bytes}-byte scratchpad")
    affine = [v for v in (weight, bias) if v is not None]
    row_tiles = em.alloc_group([(len(cols), False)] * len(affine)) if affine else []
    for tile, vector in zip(row_tiles, affine):
        _row_tile(em, tile, vector, cols)
    w_tile = row_tiles[0] if weight is not None else None
    b_tile = row_tiles[-1] if bias is not None else None
    tiles = None
    for out_blk, x_blk in blocks_2d([out, x], keep_last=True):
        for r0, nr in spans(x_blk.rows, max_rows):
            if tiles is None:
                rows = min(x_blk.rows, max_rows)
                group = em.alloc_group([(rows, False)] * len(cols) + [(rows, True)] * 4 + [(rows, False)] * 2)
                tiles = (group[: len(cols)], *group[len(cols) : -2], group[-2:])
            xs, d, s, part, m, ys = tiles
            y = ys[0]
            one = lambda func, dst, a, b=None: em.vec(func, dst, a, b, rows=nr, cols=1)  # noqa: E731
            for ticket in [em.load(xt, x_blk.sub(r0, c0, nr, nc)) for xt, (c0, nc) in zip(xs, cols)]:
                em.wait(ticket)
            for j, (xt, (_, nc)) in enumerate(zip(xs, cols)):
                em.vec(VecFunc.ROWSUM, s if j == 0 else part, xt, rows=nr, cols=nc)
                if j:
                    one(VecFunc.ADD, s, s, part)
            if stat in ("sum", "mean"):
                one(VecFunc.COPY if stat == "sum" else VecFunc.DIV, y, s, None if stat == "sum" else float(length))
                em.wait(em.store(y, out_blk.sub(r0, 0, nr, 1)))
                continue
            one(VecFunc.DIV, m, s, float(length))
            for j, (xt, (_, nc)) in enumerate(zip(xs, cols)):
                em.vec(VecFunc.SUB, d, xt, m, rows=nr, cols=nc, bmode=BMode.COL)
                em.vec(VecFunc.MUL, d, d, d, rows=nr, cols=nc)
                em.vec(VecFunc.ROWSUM, s if j == 0 else part, d, rows=nr, cols=nc)
                if j:
                    one(VecFunc.ADD, s, s, part)
            if stat == "var":
                one(VecFunc.DIV, y, s, float(max(length - correction, 0)))
                em.wait(em.store(y, out_blk.sub(r0, 0, nr, 1)))
                continue
            one(VecFunc.DIV, s, s, float(length))
            one(VecFunc.ADD, s, s, eps)
            one(VecFunc.SQRT, s, s)
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
