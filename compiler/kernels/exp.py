"""exp(x): the vector unit's EXP, docs/numerics.md's sequence of primitives in one command."""

from __future__ import annotations

from atalla.isa import VecFunc
from compiler.emitter import Emitter, Tile
from compiler.kernels.pointwise import pointwise
from compiler.values import View


def emit_exp(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """dst = exp(src) over rows x cols (a pointwise Emit: it needs no temps; dst may be src)."""
    em.vec(VecFunc.EXP, dst, src, rows=rows, cols=cols)


def exp(em: Emitter, out: View, src: View) -> None:
    """Elementwise exp of a view into a contiguous view of the same shape."""
    pointwise(em, out, src, emit_exp, fp32_temps=0)
