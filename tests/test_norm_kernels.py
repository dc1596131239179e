"""Reductions, layer norm, sqrt and the activations on the emulator: bit-exact against references
written from atalla.numerics (docs/numerics.md), and within tolerance of PyTorch fp32."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from atalla import numerics as nu
from atalla.config import get_config
from golden.reference import compare
from tests.helpers import Fn, assert_same_bits, bits, emulate, lane_fold

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)
# Odd sizes, 1-element dims, rows longer than the lanes (8 on small, 32 on atalla32).
shapes = st.lists(st.integers(1, 13), min_size=1, max_size=2).flatmap(
    lambda outer: st.integers(1, 45).map(lambda d: (*outer, d)))
SPECIALS = np.array([0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4, 0.5, -1.5, 2.5, 1.0, 3.0], np.float32)


def values(shape, seed: int, specials: bool) -> torch.Tensor:
    """Standard normal at a random scale; with specials, about one element in five an edge value
    (zeros of both signs, tiny, large, exact halves)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2.0 ** rng.integers(-3, 4)).astype(np.float32)
    if specials:
        pick = rng.random(shape) < 0.2
        x[pick] = rng.choice(SPECIALS, int(pick.sum()))
    return torch.from_numpy(x)


def row_tiles(x: np.ndarray, lanes: int) -> list[np.ndarray]:
    return [x[:, c : c + lanes] for c in range(0, x.shape[1], lanes)]


def row_sum(tiles: list[np.ndarray]) -> np.ndarray:
    return nu.rowsum(lane_fold(nu.add, tiles))


def stats_reference(x: np.ndarray, lanes: int, correction: int = 0):
    """(sum, mean, var, x - mean per tile) of each row of a 2-D x, in the kernel's order."""
    tiles = row_tiles(nu.round_to_bf16(x), lanes)
    s = row_sum(tiles)
    m = nu.div(s, np.float32(x.shape[1]))
    d = [nu.sub(t, np.broadcast_to(m, t.shape)) for t in tiles]
    v = row_sum([nu.mul(t, t) for t in d])
    var = nu.div(v, np.float32(max(x.shape[1] - correction, 0)))
    return s, m, var, v, d


def layer_norm_reference(x: np.ndarray, w, b, eps: float, lanes: int) -> np.ndarray:
    _, _, _, v, d = stats_reference(x, lanes)
    r = nu.sqrt(nu.add(nu.div(v, np.float32(x.shape[1])), np.float32(eps)))
    out = []
    for c, t in zip(range(0, x.shape[1], lanes), d):
        y = nu.div(t, np.broadcast_to(r, t.shape))
        if w is not None:
            y = nu.mul(y, np.broadcast_to(nu.round_to_bf16(w[c : c + t.shape[1]]), t.shape))
        if b is not None:
            y = nu.add(y, np.broadcast_to(nu.round_to_bf16(b[c : c + t.shape[1]]), t.shape))
        out.append(nu.round_to_bf16(y))
    return np.concatenate(out, axis=1)


@SETTINGS
@given(shape=shapes, stat=st.sampled_from(["sum", "mean", "var0", "var1"]), keepdim=st.booleans(),
       decompose=st.booleans(), specials=st.booleans(), config=st.sampled_from(["small", "atalla32"]))
def test_reductions_over_the_last_dim(shape, stat, keepdim, decompose, specials, config):
    fns = {"sum": lambda x: x.sum(-1, keepdim=keepdim), "mean": lambda x: x.mean(-1, keepdim=keepdim),
           "var0": lambda x: x.var(-1, correction=0, keepdim=keepdim),
           "var1": lambda x: x.var(-1, keepdim=keepdim)}
    x = values(shape, len(shape) * 100 + shape[-1], specials)
    (out,), compiled, _ = emulate(Fn(fns[stat]), (x,), config, decompose)
    assert not compiled.program.host_ops
    s, m, var0, v, _ = stats_reference(x.numpy().reshape(-1, shape[-1]), get_config(config).lanes)
    var1 = nu.div(v, np.float32(max(shape[-1] - 1, 0)))
    want = {"sum": s, "mean": m, "var0": var0, "var1": var1}[stat]
    golden = fns[stat](x).numpy()
    assert_same_bits(out, nu.round_to_bf16(want).reshape(golden.shape))
    if not specials and (stat != "var1" or shape[-1] > 1):  # var of one element with correction 1 is NaN
        assert compare("out", out, golden).passed


def test_reduction_over_an_inner_dim_is_permuted_last():
    x = values((5, 11, 3), 7, False)
    (out,), _, _ = emulate(Fn(lambda x: x.mean(1)), (x,))
    want = stats_reference(x.numpy().transpose(0, 2, 1).reshape(-1, 11), 8)[1]
    assert_same_bits(out, nu.round_to_bf16(want).reshape(5, 3))


@pytest.mark.parametrize("dims, keepdim", [((2, 3), False), ((-1, -2), True), ((0, 2), False), ((1, 3), True),
                                          ((0, 1, 2, 3), False)])
def test_reduction_over_several_dims_is_one_over_them_merged(dims, keepdim):
    """A global average pool (mean over H and W) and the like: the dims permuted last, merged into
    one in their order, and summed as one dim is; over all of them it is torch's x.mean()."""
    x = values((2, 3, 5, 7), 11, False)
    fn = (lambda t: t.mean()) if len(dims) == 4 else (lambda t: t.mean(dims, keepdim=keepdim))
    (out,), compiled, _ = emulate(Fn(fn), (x,))
    assert not compiled.program.host_ops
    reduced = sorted(d % 4 for d in dims)
    kept = [d for d in range(4) if d not in reduced]
    rows = x.numpy().transpose(kept + reduced).reshape(-1, math.prod(x.shape[d] for d in reduced))
    want = stats_reference(rows, 8)[1]
    assert_same_bits(out, nu.round_to_bf16(want).reshape(fn(x).shape))
    assert compare("out", out, fn(x).numpy()).passed


@SETTINGS
@given(shape=shapes, affine=st.sampled_from(["both", "weight", "none"]), decompose=st.booleans(),
       specials=st.booleans(), config=st.sampled_from(["small", "atalla32"]))
def test_layer_norm(shape, affine, decompose, specials, config):
    d = shape[-1]
    torch.manual_seed(d)
    ln = nn.LayerNorm(d, eps=1e-3, elementwise_affine=affine != "none", bias=affine == "both")
    if affine != "none":
        nn.init.normal_(ln.weight)
    if affine == "both":
        nn.init.normal_(ln.bias)
    x = values(shape, d, specials)
    (out,), compiled, _ = emulate(ln, (x,), config, decompose)
    assert not compiled.program.host_ops
    w = ln.weight.detach().numpy() if affine != "none" else None
    b = ln.bias.detach().numpy() if affine == "both" else None
    want = layer_norm_reference(x.numpy().reshape(-1, d), w, b, 1e-3, get_config(config).lanes)
    assert_same_bits(out, want.reshape(shape))
    if not specials and d > 1:
        assert compare("out", out, ln(x).detach().numpy()).passed


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_layer_norm_of_long_rows(config):
    """Many more column tiles than scratchpad handles: the kernel's tiles share one buffer."""
    torch.manual_seed(0)
    ln = nn.LayerNorm(1000)
    nn.init.normal_(ln.weight)
    x = values((3, 1000), 5, False)
    (out,), _, _ = emulate(ln, (x,), config)
    want = layer_norm_reference(x.numpy(), ln.weight.detach().numpy(), ln.bias.detach().numpy(), 1e-5,
                                get_config(config).lanes)
    assert_same_bits(out, want)
    assert compare("out", out, ln(x).detach().numpy()).passed


def test_native_layer_norm_statistics_in_use_run_on_the_host():
    def mean_and_rstd(x):
        out, mean, rstd = torch.ops.aten.native_layer_norm(x, [6], None, None, 1e-5)
        return out + mean * rstd
    _, compiled, _ = emulate(Fn(mean_and_rstd), (values((4, 6), 1, False),))
    assert [h.target for h in compiled.program.host_ops] == ["aten.native_layer_norm.default"]


ACTIVATIONS = {
    "tanh": (torch.tanh, nu.tanh), "sigmoid": (torch.sigmoid, nu.sigmoid), "silu": (nn.functional.silu, nu.silu),
    "gelu": (nn.functional.gelu, nu.gelu),
    "gelu_tanh": (lambda x: nn.functional.gelu(x, approximate="tanh"), nu.gelu_tanh),
    "sqrt": (torch.sqrt, nu.sqrt), "rsqrt": (torch.rsqrt, nu.rsqrt), "neg": (torch.neg, lambda x: nu.mul(x, np.float32(-1.0))),
    "square": (lambda x: x**2, lambda x: nu.mul(x, x)),
    "cube": (lambda x: x**3, lambda x: nu.power(x, 3)), "pow8": (lambda x: torch.pow(x, 8.0), lambda x: nu.power(x, 8)),
}


@SETTINGS
@given(shape=shapes, name=st.sampled_from(sorted(ACTIVATIONS)), decompose=st.booleans(), specials=st.booleans(),
       scale=st.sampled_from([1.0, 4.0, 30.0]))
def test_elementwise_sequences(shape, name, decompose, specials, scale):
    torch_fn, reference = ACTIVATIONS[name]
    x = values(shape, shape[-1], specials) * scale
    if name in ("sqrt", "rsqrt"):
        x = x.abs() if not specials else x  # with specials, negatives check the NaN rule
    (out,), compiled, _ = emulate(Fn(torch_fn), (x,), "small", decompose)
    assert not compiled.program.host_ops
    assert_same_bits(out, nu.round_to_bf16(reference(nu.round_to_bf16(x.numpy()))))
    if not specials:
        assert compare("out", out, torch_fn(x).numpy()).passed


def test_activation_specials():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 100.0, -100.0, 1e-30], np.float32)
    assert nu.tanh(x)[[0, 1, 3, 5, 6]].tolist() == [1.0, -1.0, 0.0, 1.0, -1.0] and np.isnan(nu.tanh(x)[2])
    assert nu.sigmoid(x)[[0, 1, 5, 6]].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert nu.gelu(x)[[0, 3, 5, 6]].tolist() == [np.inf, 0.0, 100.0, 0.0]
    assert nu.gelu_tanh(x)[[3, 5, 6]].tolist() == [0.0, 100.0, 0.0]
    assert bits(nu.sqrt(np.float32([-0.0, -1.0]))).tolist() == [0x80000000, 0x7FC00000]


def test_erf_is_within_a_few_ulp():
    import math

    x = np.linspace(-5, 5, 100_001).astype(np.float32)
    ref = np.array([math.erf(float(v)) for v in x])
    err = np.abs(nu.erf(x).astype(np.float64) - ref)
    assert err.max() <= 4.5e-7
    big = np.abs(ref) >= 2.0**-10
    assert (err[big] / np.spacing(np.abs(ref[big]).astype(np.float32))).max() <= 8


@pytest.mark.parametrize("fn,reason", [(lambda x: x.cumsum(0), "no Atalla kernel for aten.cumsum.default"),
                                        (lambda x: x ** 9, "pow by 9"), (lambda x: x ** 2.5, "pow by 2.5")])
def test_unsupported_forms_fall_back_to_the_host(fn, reason):
    from compiler.capture import capture
    from compiler.partition import HOST, partition

    placements = partition(capture(Fn(fn), (values((3, 4), 0, False),), "t").graph)
    assert any(p.where == HOST and reason in p.reason for p in placements)

