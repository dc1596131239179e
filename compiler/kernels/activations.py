"""tanh, sigmoid, SiLU, GELU (exact and tanh) and rsqrt from vector primitives: the sequences
docs/numerics.md defines, step for step as atalla.numerics computes them."""

from __future__ import annotations

from atalla import numerics as nu
from atalla.isa import VecFunc
from compiler.emitter import Emitter, Tile
from compiler.kernels.pointwise import Emit, pointwise
from compiler.values import View


def _vec(em: Emitter, rows: int, cols: int):
    return lambda func, d, a, b=None: em.vec(func, d, a, b, rows=rows, cols=cols)


def _emit_horner(v, p: Tile, x: Tile, coeffs: tuple) -> None:
    """p = coeffs[0] * x^n + ... (atalla.numerics._horner)."""
    v(VecFunc.MUL, p, x, float(coeffs[0]))
    v(VecFunc.ADD, p, p, float(coeffs[1]))
    for coeff in coeffs[2:]:
        v(VecFunc.MUL, p, p, x)
        v(VecFunc.ADD, p, p, float(coeff))


def emit_tanh(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """Two fp32 temps; dst may be src."""
    v = _vec(em, rows, cols)
    e, den = temps
    v(VecFunc.MAX, e, src, float(-nu.TANH_CLAMP))
    v(VecFunc.MIN, e, e, float(nu.TANH_CLAMP))
    v(VecFunc.MUL, e, e, 2.0)
    v(VecFunc.EXP, e, e)
    v(VecFunc.ADD, den, e, 1.0)
    v(VecFunc.SUB, e, e, 1.0)
    v(VecFunc.DIV, dst, e, den)


def emit_sigmoid(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """Two fp32 temps; dst may be src."""
    v = _vec(em, rows, cols)
    e, den = temps
    v(VecFunc.MIN, e, src, float(nu.SIGMOID_HI))
    v(VecFunc.EXP, e, e)
    v(VecFunc.ADD, den, e, 1.0)
    v(VecFunc.DIV, dst, e, den)


def emit_silu(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """dst must be a bf16 tile other than src: sigmoid lands in it rounded, as in the core-ATen graph."""
    emit_sigmoid(em, dst, src, temps, rows, cols)
    _vec(em, rows, cols)(VecFunc.MUL, dst, src, dst)


def emit_erf(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """Four fp32 temps; dst may be src."""
    v = _vec(em, rows, cols)
    t, t2, p, q = temps
    v(VecFunc.MAX, t, src, float(-nu.ERF_CLAMP))
    v(VecFunc.MIN, t, t, float(nu.ERF_CLAMP))
    v(VecFunc.MUL, t2, t, t)
    _emit_horner(v, p, t2, nu.ERF_P)
    v(VecFunc.MUL, p, p, t)
    _emit_horner(v, q, t2, nu.ERF_Q)
    v(VecFunc.DIV, dst, p, q)


def emit_gelu(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """Five fp32 temps; dst other than src."""
    v = _vec(em, rows, cols)
    g, *erf_temps = temps
    v(VecFunc.MUL, g, src, float(nu.FRAC_1_SQRT_2))
    emit_erf(em, g, g, tuple(erf_temps), rows, cols)
    _emit_gelu_tail(v, dst, g, src)


def emit_gelu_tanh(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """Three fp32 temps; dst other than src."""
    v = _vec(em, rows, cols)
    g, *tanh_temps = temps
    v(VecFunc.MUL, g, src, src)
    v(VecFunc.MUL, g, g, src)
    v(VecFunc.MUL, g, g, float(nu.GELU_KAPPA))
    v(VecFunc.ADD, g, g, src)
    v(VecFunc.MUL, g, g, float(nu.SQRT_2_OVER_PI))
    emit_tanh(em, g, g, tuple(tanh_temps), rows, cols)
    _emit_gelu_tail(v, dst, g, src)


def _emit_gelu_tail(v, dst: Tile, g: Tile, x: Tile) -> None:
    """dst = (g + 1) * x * 0.5, g the erf or tanh term."""
    v(VecFunc.ADD, g, g, 1.0)
    v(VecFunc.MUL, g, g, x)
    v(VecFunc.MUL, dst, g, 0.5)


def emit_rsqrt(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
    """temps: a bf16 tile of ones (pointwise's operand), then one fp32 tile."""
    v = _vec(em, rows, cols)
    one, root = temps
    v(VecFunc.SQRT, root, src)
    v(VecFunc.DIV, dst, one, root)


def emit_power(n: int) -> Emit:
    """dst = src ** n (3 <= n <= MAX_POWER) as atalla.numerics.power: the product in one fp32 temp."""

    def emit(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
        v = _vec(em, rows, cols)
        (p,) = temps
        v(VecFunc.MUL, p, src, src)
        for _ in range(n - 3):
            v(VecFunc.MUL, p, p, src)
        v(VecFunc.MUL, dst, p, src)

    return emit


def power(em: Emitter, n: int, out: View, src: View) -> None:
    pointwise(em, out, src, emit_power(n), fp32_temps=1)


# name -> (sequence, fp32 temps it needs)
ACTIVATIONS: dict[str, tuple[Emit, int]] = {
    "tanh": (emit_tanh, 2),
    "sigmoid": (emit_sigmoid, 2),
    "silu": (emit_silu, 2),
    "gelu": (emit_gelu, 5),
    "gelu_tanh": (emit_gelu_tanh, 3),
}


def activation(em: Emitter, name: str, out: View, src: View) -> None:
    emit, fp32_temps = ACTIVATIONS[name]
    pointwise(em, out, src, emit, fp32_temps)
