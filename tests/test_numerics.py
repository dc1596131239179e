"""atalla.numerics against independent definitions: IEEE fp32 where no flushing is involved,
and a bit-level RNE for bf16."""

import numpy as np
import pytest

from atalla import numerics as nu


def f32(*v):
    return np.array(v, dtype=np.float32)


def bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


def bf16_reference(x: np.ndarray) -> np.ndarray:
    """Round fp32 -> bf16 by integer arithmetic: RNE on the low 16 bits."""
    u = x.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def test_bf16_rounding_matches_bitwise_rne(rng):
    x = (rng.standard_normal(200_000) * 10.0 ** rng.integers(-30, 30, 200_000)).astype(np.float32)
    ties = (rng.integers(0, 1 << 16, 1000).astype(np.uint32) << 16 | 0x8000).view(np.float32)
    x = np.concatenate([x, ties[np.isfinite(ties) & (np.abs(ties) > 2**-126)]])
    x = x[np.abs(x) >= 2**-126]
    np.testing.assert_array_equal(nu.f32_to_bf16_bits(x), bf16_reference(x))


def test_bf16_edge_cases():
    got = nu.f32_to_bf16_bits(f32(0.0, -0.0, 1e-39, -1e-39, np.inf, -np.inf, np.nan, 3.4e38, -3.4e38))
    assert got.tolist() == [0x0000, 0x8000, 0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F80, 0xFF80]


@pytest.mark.parametrize("op,ref", [(nu.add, np.add), (nu.sub, np.subtract), (nu.mul, np.multiply),
                                    (nu.div, np.divide)])
def test_fp32_ops_are_ieee_away_from_underflow(rng, op, ref):
    a = (rng.standard_normal(100_000) * 10.0 ** rng.integers(-15, 15, 100_000)).astype(np.float32)
    b = (rng.standard_normal(100_000) * 10.0 ** rng.integers(-15, 15, 100_000)).astype(np.float32)
    want = ref(a, b)
    normal = np.isfinite(want) & (np.abs(want) >= 2**-126)
    np.testing.assert_array_equal(bits(op(a, b))[normal], bits(want)[normal])


def test_flush_to_zero_and_specials():
    tiny = np.float32(2**-70)
    assert bits(nu.mul(f32(tiny), f32(tiny)))[0] == 0  # 2**-140 is denormal: flushed
    assert bits(nu.mul(f32(-tiny), f32(tiny)))[0] == 0x80000000  # keeps its sign
    assert bits(nu.add(f32(1e-39), f32(0.0)))[0] == 0  # denormal operand read as zero
    assert nu.mul(f32(1e30), f32(1e30))[0] == np.inf
    assert bits(nu.sub(f32(np.inf), f32(np.inf)))[0] == 0x7FC00000  # canonical NaN
    assert bits(nu.add(f32(-0.0), f32(-0.0)))[0] == 0x80000000
    assert bits(nu.add(f32(1.0), f32(-1.0)))[0] == 0  # exact zero sum is +0 under RNE
    assert bits(nu.div(f32(1.0), f32(0.0)))[0] == bits(f32(np.inf))[0]


def test_max_min_relu_round_ldexp():
    assert bits(nu.maximum(f32(-0.0), f32(0.0)))[0] == 0x80000000  # ties return a
    assert bits(nu.maximum(f32(np.nan), f32(1.0)))[0] == 0x7FC00000
    assert nu.relu(f32(-3.0, 2.0)).tolist() == [0.0, 2.0]
    assert nu.round_even(f32(0.5, 1.5, 2.5, -0.5)).tolist() == [0.0, 2.0, 2.0, -0.0]
    assert nu.ldexp(f32(1.5, 1.0, 1.0), f32(3.0, -200.0, 200.0)).tolist() == [12.0, 0.0, np.inf]
    assert np.isnan(nu.ldexp(f32(1.0), f32(np.nan)))[0]


def test_exp_is_within_3_ulp_of_float64():
    x = np.linspace(-87, 88.7, 300_001).astype(np.float32)
    ref = np.exp(x.astype(np.float64))
    ulp = np.abs(nu.exp(x) - ref) / (ref * 2.0**-23)
    assert ulp.max() <= 3.0
    special = nu.exp(f32(-np.inf, np.inf, -200.0, 0.0, 100.0))
    assert special[:4].tolist() == [0.0, np.inf, 0.0, 1.0] and special[4] == np.inf


def test_gemm_accumulates_in_pe_order():
    """A loop in plain Python with numpy scalars, in the documented order."""
    rng = np.random.default_rng(1)
    a = nu.f32_to_bf16_bits(rng.standard_normal((5, 7)).astype(np.float32))
    b = nu.f32_to_bf16_bits(rng.standard_normal((7, 3)).astype(np.float32))
    c0 = rng.standard_normal((5, 3)).astype(np.float32)
    af, bf = nu.bf16_bits_to_f32(a), nu.bf16_bits_to_f32(b)
    want = np.zeros((5, 3), np.float32)
    for i in range(5):
        for j in range(3):
            s = np.float32(0.0)
            for k in range(7):
                s = np.float32(s + np.float32(af[i, k] * bf[k, j]))
            want[i, j] = np.float32(c0[i, j] + s)
    np.testing.assert_array_equal(bits(nu.gemm(a, b, c0)), bits(want))


def test_gemm_reads_denormal_operands_as_zero():
    denormal = np.array([[0x0001]], np.uint16)  # bf16 denormal, about 9e-41
    huge = nu.f32_to_bf16_bits(f32(1e30).reshape(1, 1))
    assert bits(nu.gemm(denormal, huge, None))[0, 0] == 0


def test_sqrt_is_correctly_rounded_with_the_documented_specials(rng):
    x = np.abs(rng.standard_normal(200_000) * 10.0 ** rng.integers(-37, 38, 200_000)).astype(np.float32)
    x = np.concatenate([x[x >= 2**-126], (rng.integers(1, 1 << 12, 10_000).astype(np.float32)) ** 2,
                        f32(2**-126, 3.4028235e38, 1.0, 2.0)])
    np.testing.assert_array_equal(bits(nu.sqrt(x)), bits(np.sqrt(x)))  # IEEE sqrt is correctly rounded
    special = bits(nu.sqrt(f32(-0.0, 0.0, 1e-39, -1e-39, np.inf, -np.inf, -1.0, np.nan, -2**-126)))
    assert special.tolist() == [0x80000000, 0, 0, 0x80000000, 0x7F800000] + [0x7FC00000] * 4
