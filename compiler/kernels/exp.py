"""exp(x) from vector primitives: the sequence docs/numerics.md defines (atalla.numerics.exp)."""

from __future__ import annotations

from atalla import numerics as nu
from atalla.isa import VecFunc
from compiler.emitter import Emitter, Tile
from compiler.kernels.pointwise import pointwise
from compiler.values import View


def emit_exp(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, Tile, Tile, Tile], rows: int, cols: int) -> None:
    """dst = exp(src) over rows x cols; temps are four fp32 tiles of at least `rows` rows."""
    t, n, r, p = temps
    v = lambda func, d, a, b=None: em.vec(func, d, a, b, rows=rows, cols=cols)  # noqa: E731
    v(VecFunc.MIN, t, src, float(nu.EXP_HI))
    v(VecFunc.MAX, t, t, float(nu.EXP_LO))
    v(VecFunc.MUL, n, t, float(nu.LOG2E))
    v(VecFunc.ROUND, n, n)
    v(VecFunc.MUL, r, n, float(nu.LN2_HI))
    v(VecFunc.SUB, r, t, r)
    v(VecFunc.MUL, p, n, float(nu.LN2_LO))
    v(VecFunc.SUB, r, r, p)
    v(VecFunc.MUL, p, r, float(nu.EXP_POLY[0]))
    v(VecFunc.ADD, p, p, float(nu.EXP_POLY[1]))
    for coeff in nu.EXP_POLY[2:]:
        v(VecFunc.MUL, p, p, r)
        v(VecFunc.ADD, p, p, float(coeff))
    v(VecFunc.LDEXP, dst, p, n)


def exp(em: Emitter, out: View, src: View) -> None:
    """Elementwise exp of a view into a contiguous view of the same shape."""
    pointwise(em, out, src, emit_exp, fp32_temps=4)
