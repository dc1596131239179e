"""The numerics of docs/numerics.md, in NumPy: what the emulator computes and the RTL must match.

Every fp32 operation is: take the exact result of the operands (which are never denormal),
then: NaN -> the canonical quiet NaN; |exact| < 2**-126 -> zero of the exact result's sign
(flush to zero, tininess before rounding); otherwise round to 24 bits, nearest even, and
overflow to infinity. The exact result is computed in float64: products and sums of fp32 are
exact or innocuously double-rounded there (53 >= 2*24 + 2 bits), and so are quotients.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16
# The canonical NaNs, LDEXP_LIMIT and DIV_QUOTIENT_BITS are generated into rtl/atalla_pkg.sv and include/atalla_abi.h.
F32_MIN_NORMAL = np.float64(2.0**-126)
F32_CANONICAL_NAN = np.uint32(0x7FC00000)
BF16_CANONICAL_NAN = np.uint16(0x7FC0)
LDEXP_LIMIT = 255  # |n| of LDEXP saturates here: any larger scale already over/underflows fp32
# Quotient bits of DIV's long division (the significand's 24, a possible leading zero, the guard;
# the remainder is the sticky bit): the RTL's divider stages share them out (HardwareConfig.vec_div_latency).
DIV_QUOTIENT_BITS = 26
_QUIET = dict(divide="ignore", invalid="ignore", over="ignore")  # inf and NaN results are defined, not errors


def _finish(exact: np.ndarray) -> np.ndarray:
    """float64 exact (or innocuously rounded) results -> fp32 per the rule above."""
    with np.errstate(**_QUIET):
        out = exact.astype(np.float32)
    tiny = np.abs(exact) < F32_MIN_NORMAL
    out = np.where(tiny, np.copysign(np.float32(0.0), exact).astype(np.float32), out)
    return canonical_nan(out)


def canonical_nan(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    nan = np.isnan(x)
    if nan.any():
        x = x.copy()
        x.view(np.uint32)[nan] = F32_CANONICAL_NAN
    return x


def flush(x: np.ndarray) -> np.ndarray:
    """fp32 denormals -> zero of the same sign; NaN canonical. Applied to every fp32 that enters."""
    x = np.asarray(x, dtype=np.float32)
    tiny = np.abs(x) < np.float32(F32_MIN_NORMAL)
    return canonical_nan(np.where(tiny, np.copysign(np.float32(0.0), x), x).astype(np.float32))


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """fp32 -> bf16 bit patterns: flush, then round to nearest even (overflow to inf)."""
    x = flush(x)
    with np.errstate(over="ignore"):
        bits = x.astype(BF16).view(np.uint16)
    bits = np.where(np.isnan(x), BF16_CANONICAL_NAN, bits)
    return bits.astype(np.uint16)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """Exact widening: bf16 is the top half of an fp32."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """fp32 values rounded through bf16 storage, as fp32."""
    return bf16_bits_to_f32(f32_to_bf16_bits(x))


def _f64(x: np.ndarray) -> np.ndarray:
    return flush(x).astype(np.float64)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(**_QUIET):
        return _finish(_f64(a) + _f64(b))


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(**_QUIET):
        return _finish(_f64(a) - _f64(b))


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(**_QUIET):
        return _finish(_f64(a) * _f64(b))


def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(**_QUIET):
        return _finish(_f64(a) / _f64(b))


def _select(pick_b: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = flush(a), flush(b)
    out = np.where(pick_b, b, a).astype(np.float32)
    return canonical_nan(np.where(np.isnan(a) | np.isnan(b), np.float32(np.nan), out))


def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NaN if either is NaN; b if b > a; else a (so ties, including -0 vs +0, return a)."""
    a, b = np.broadcast_arrays(flush(a), flush(b))
    return _select(b > a, a, b)


def minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(flush(a), flush(b))
    return _select(b < a, a, b)


def relu(a: np.ndarray) -> np.ndarray:
    return maximum(a, np.float32(0.0))


def round_even(a: np.ndarray) -> np.ndarray:
    """Nearest integer, ties to even; the sign of zero is kept (-0.4 -> -0)."""
    return canonical_nan(np.rint(flush(a)))


def sqrt(a: np.ndarray) -> np.ndarray:
    """Correctly rounded square root: NaN below zero, sqrt(-0) = -0 (a denormal reads as a zero of
    its sign), sqrt(+inf) = +inf. Rounding the float64 root to fp32 is exact RNE (53 >= 2*24 + 2),
    and the root of a normal fp32 is normal, so nothing flushes."""
    with np.errstate(**_QUIET):
        return _finish(np.sqrt(_f64(a)))


MAX_POWER = 8  # pow by an integer up to this runs on Atalla as a chain of MULs


def power(a: np.ndarray, n: int) -> np.ndarray:
    """a ** n for an integer 2 <= n <= MAX_POWER: p = a, then p = p * a, n - 1 times in fp32 (the kernel
    rounds p to bf16 once, at the end)."""
    p = flush(a)
    for _ in range(n - 1):
        p = mul(p, a)
    return p


def rsqrt(a: np.ndarray) -> np.ndarray:
    """1 / sqrt(a): DIV of a tile of ones by SQRT, two roundings (docs/numerics.md)."""
    return div(np.float32(1.0), sqrt(a))


def ldexp(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """a * 2**n, n truncated toward zero and saturated to +-LDEXP_LIMIT; NaN n gives NaN."""
    n = flush(n).astype(np.float64)
    nan_n = np.isnan(n)
    scale = np.exp2(np.clip(np.trunc(np.where(nan_n, 0.0, n)), -LDEXP_LIMIT, LDEXP_LIMIT))
    with np.errstate(**_QUIET):
        return _finish(np.where(nan_n, np.nan, _f64(a) * scale))


def _fold_rows(op, a: np.ndarray) -> np.ndarray:
    """op over each row in column order: op(op(a0, a1), a2) ...; shape (rows, 1)."""
    a = flush(a)
    acc = a[:, :1]
    for c in range(1, a.shape[1]):
        acc = op(acc, a[:, c : c + 1])
    return acc


def rowsum(a: np.ndarray) -> np.ndarray:
    """Sum of each row in column order: ((a0 + a1) + a2) + ...; shape (rows, 1)."""
    return _fold_rows(add, a)


def rowmax(a: np.ndarray) -> np.ndarray:
    return _fold_rows(maximum, a)


def gemm(a_bits: np.ndarray, b_bits: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """C[m x n] = (c or nothing) + A @ B for bf16 A[m x k], B[k x n], in the array's order.

    Each output is a column of PEs: s = +0, then for kk = 0..k-1: s = fp32(s + fp32(a*b)).
    The bf16 x bf16 product is exact unless it leaves the fp32 range (then flush or inf).
    With an old C (ACCUMULATE) the result is fp32(c + s).
    """
    a = _f64(bf16_bits_to_f32(a_bits))  # denormal operands read as zero, like every fp32 operation
    b = _f64(bf16_bits_to_f32(b_bits))
    s = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for kk in range(a.shape[1]):
        with np.errstate(**_QUIET):
            s = add(s, _finish(a[:, kk : kk + 1] * b[kk : kk + 1, :]))
    return s if c is None else add(c, s)


# exp(x), as the kernel library emits it from the primitives above (docs/numerics.md):
#   t = min(max(x, EXP_LO), EXP_HI); n = round(t * LOG2E); r = (t - n*LN2_HI) - n*LN2_LO
#   p = Horner(EXP_POLY, r) with separate mul and add; exp(x) = ldexp(p, n)
EXP_LO = np.float32(-104.0)  # exp(-104) < 2**-149: the result flushes to zero
EXP_HI = np.float32(89.0)  # exp(89) > fp32 max: the result overflows to inf
LOG2E = np.float32(1.44269502)
LN2_HI = np.float32(0.693359375)  # few significant bits: n * LN2_HI is exact for |n| < 2**10
LN2_LO = np.float32(-2.12194440e-4)
EXP_POLY = tuple(np.float32(c) for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0))  # highest first


def exp(x: np.ndarray) -> np.ndarray:
    """The reference of the exp sequence; the kernel library emits exactly these steps."""
    t = minimum(maximum(x, EXP_LO), EXP_HI)
    n = round_even(mul(t, LOG2E))
    r = sub(sub(t, mul(n, LN2_HI)), mul(n, LN2_LO))
    p = np.full_like(r, EXP_POLY[0])
    for coeff in EXP_POLY[1:]:
        p = add(mul(p, r), coeff)
    return ldexp(p, n)


# Activations, as the kernel library emits them from the primitives above (docs/numerics.md).
TANH_CLAMP = np.float32(10.0)  # tanh(10) rounds to 1 in fp32, and exp(2 * 10) stays finite
SIGMOID_HI = np.float32(30.0)  # sigmoid(30) rounds to 1; keeps exp(x) finite (no inf / inf)
GELU_KAPPA = np.float32(0.044715)
SQRT_2_OVER_PI = np.float32(0.7978845608028654)
FRAC_1_SQRT_2 = np.float32(0.7071067811865476)
ERF_CLAMP = np.float32(4.0)  # erf(4) rounds to 1 in fp32
# erf(x) = x * P(x^2) / Q(x^2) on [-4, 4] (the rational approximation of Eigen's fast erf), highest first.
ERF_P = tuple(np.float32(c) for c in (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                                      -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                                      -1.60960333262415e-02))
ERF_Q = tuple(np.float32(c) for c in (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                                      -7.37332916720468e-03, -1.42647390514189e-02))


def _horner(x: np.ndarray, coeffs: tuple) -> np.ndarray:
    """coeffs[0] * x^n + ... by Horner's rule, each step a separate MUL then ADD."""
    p = mul(x, coeffs[0])
    p = add(p, coeffs[1])
    for coeff in coeffs[2:]:
        p = add(mul(p, x), coeff)
    return p


def tanh(x: np.ndarray) -> np.ndarray:
    """(e - 1) / (e + 1) with e = exp(2 * clamp(x, +-TANH_CLAMP))."""
    e = exp(mul(minimum(maximum(x, -TANH_CLAMP), TANH_CLAMP), np.float32(2.0)))
    return div(sub(e, np.float32(1.0)), add(e, np.float32(1.0)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """e / (e + 1) with e = exp(min(x, SIGMOID_HI))."""
    e = exp(minimum(x, SIGMOID_HI))
    return div(e, add(e, np.float32(1.0)))


def silu(x: np.ndarray) -> np.ndarray:
    """x * bf16(sigmoid(x)): the bits of the core-ATen graph, where sigmoid is a layer of its own."""
    return mul(x, round_to_bf16(sigmoid(x)))


def erf(x: np.ndarray) -> np.ndarray:
    t = minimum(maximum(x, -ERF_CLAMP), ERF_CLAMP)
    t2 = mul(t, t)
    return div(mul(_horner(t2, ERF_P), t), _horner(t2, ERF_Q))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU: (erf(x / sqrt 2) + 1) * x * 0.5."""
    return mul(mul(add(erf(mul(x, FRAC_1_SQRT_2)), np.float32(1.0)), x), np.float32(0.5))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, approximate="tanh": (tanh(((x * x * x) * KAPPA + x) * sqrt(2/pi)) + 1) * x * 0.5."""
    inner = mul(add(mul(mul(mul(x, x), x), GELU_KAPPA), x), SQRT_2_OVER_PI)
    return mul(mul(add(tanh(inner), np.float32(1.0)), x), np.float32(0.5))
