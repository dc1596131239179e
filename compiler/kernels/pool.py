"""Max and average pooling over the last two dims, one pass: the kh*kw window offsets, each a
strided view of the (padded) input (compiler/kernels/window.py), load side by side as tiles of
the output's shape and reduce elementwise in the scratchpad.

  max: out = MAX(... MAX(MAX(x_00, x_01), x_02) ...)        (bf16 throughout: MAX is exact)
  avg: s = x_00 + x_01 (fp32), s = s + x_ij ...;  out = bf16(s / (kh*kw))
Padding is -inf for max (every window holds an element of the input) and zeros for avg (the
divisor counts them, as count_include_pad does).
"""

from __future__ import annotations

from atalla.isa import VecFunc
from compiler.emitter import Emitter, Tile
from compiler.kernels.pointwise import pointwise
from compiler.kernels.window import padded, window
from compiler.values import View


def _emit_max(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    acc = src
    for operand in temps:
        em.vec(VecFunc.MAX, dst, acc, operand, rows=rows, cols=cols)
        acc = dst
    if acc is src:  # a 1x1 window
        em.vec(VecFunc.COPY, dst, src, rows=rows, cols=cols)


def _emit_avg(count: int):
    def emit(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
        *operands, acc = temps
        em.vec(VecFunc.COPY, acc, src, rows=rows, cols=cols)
        for operand in operands:
            em.vec(VecFunc.ADD, acc, acc, operand, rows=rows, cols=cols)
        em.vec(VecFunc.DIV, dst, acc, float(count), rows=rows, cols=cols)

    return emit


def pool2d(ctx, kind: str, out: View, x: View, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], name: str) -> None:
    """kind "max" or "avg"; out (..., Ho, Wo), x (..., H, W)."""
    xp = padded(ctx, x, padding, float("-inf") if kind == "max" else 0.0, f"{name}.padded")
    offsets = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
    views = [window(xp, o, stride, (1, 1), out.shape[-2:]) for o in offsets]
    emit = _emit_max if kind == "max" else _emit_avg(len(offsets))
    pointwise(ctx.em, out, views[0], emit, fp32_temps=0 if kind == "max" else 1, operands=tuple(views[1:]))
