"""Convolution and pooling on the emulator: random shapes (odd sizes, one channel, strides,
padding, dilation, bias or not) within tolerance of PyTorch fp32, the pre-dispatch and the
core-ATen graphs bit-exact with each other, and nothing left on the host."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from compiler.capture import capture
from compiler.partition import HOST, partition
from golden.reference import compare, golden_outputs
from tests.helpers import Fn, assert_same_bits, emulate, randn

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)


def check_both_graphs(module: nn.Module, x: torch.Tensor, config: str = "small") -> None:
    """Within tolerance of PyTorch on both graphs, which agree bit for bit, with no host op."""
    golden = golden_outputs(module, (x,))[0]
    results = []
    for decompose in (False, True):
        (out,), compiled, _ = emulate(module, (x,), config, decompose=decompose)
        assert not compiled.program.host_ops, compiled.partition_report()
        result = compare("out", out, golden)
        assert result.passed, result
        results.append(out)
    assert_same_bits(results[1], results[0])


@st.composite
def convolutions(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding, dilation = (draw(st.integers(1, 2)), draw(st.integers(0, 2)), draw(st.integers(1, 2)))
    span = [dilation * (k - 1) + 1 for k in kernel]
    h, w = (draw(st.integers(max(1, s - 2 * padding), 13)) for s in span)
    conv = nn.Conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 4)), kernel, stride, padding, dilation,
                     bias=draw(st.booleans()))
    return conv, (draw(st.integers(1, 2)), conv.in_channels, h, w)


@SETTINGS
@given(case=convolutions(), config=st.sampled_from(["small", "atalla32"]), seed=st.integers(0, 99))
def test_conv2d(case, config, seed):
    torch.manual_seed(seed)
    conv, shape = case
    conv.reset_parameters()
    check_both_graphs(conv, randn(*shape, seed=seed), config)


@SETTINGS
@given(case=convolutions(), mult=st.integers(1, 2), config=st.sampled_from(["small", "atalla32"]),
       seed=st.integers(0, 99))
def test_depthwise_conv2d(case, mult, config, seed):
    torch.manual_seed(seed)
    like, (n, _, h, w) = case
    channels = like.out_channels
    conv = nn.Conv2d(channels, channels * mult, like.kernel_size, like.stride, like.padding, like.dilation,
                     groups=channels, bias=like.bias is not None)
    check_both_graphs(conv, randn(n, channels, h, w, seed=seed), config)


@pytest.mark.parametrize("cin,cout,kernel,stride,padding,dilation,bias,size", [
    (1, 2, 3, 2, 2, 2, True, (7, 9)), (1, 1, 3, 1, 0, 1, False, (5, 5)), (3, 2, (2, 3), 2, 1, 1, False, (11, 4)),
    (2, 3, 3, (1, 2), (0, 2), (2, 1), True, (9, 13))])
def test_conv2d_named_cases(cin, cout, kernel, stride, padding, dilation, bias, size):
    """One channel, odd sizes, stride 2, padding 0 to 2, dilation 2, bias or not: each for sure."""
    torch.manual_seed(7)
    check_both_graphs(nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=bias), randn(2, cin, *size, seed=7))


def test_conv2d_deep_patches_and_wide_images():
    """K = 16*3*3 = 144 spans many K tiles; 21 output columns span several lanes."""
    torch.manual_seed(1)
    check_both_graphs(nn.Conv2d(16, 5, 3, padding=1), randn(1, 16, 7, 21, seed=1))


@st.composite
def poolings(draw):
    kind = draw(st.sampled_from(["max", "avg"]))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    pool = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(kernel, stride, padding)
    lead = draw(st.sampled_from([(1,), (2,), (1, 3), (2, 1)]))
    return pool, (*lead, draw(st.integers(kernel[0], 13)), draw(st.integers(kernel[1], 13)))


@SETTINGS
@given(case=poolings(), seed=st.integers(0, 99))
def test_pool2d(case, seed):
    pool, shape = case
    check_both_graphs(pool, randn(*shape, seed=seed))


@pytest.mark.parametrize("size,out", [((8, 12), (2, 3)), ((5, 7), (5, 1)), ((6, 6), (6, 6))])
def test_adaptive_avg_pool2d_as_an_exact_average_pool(size, out):
    check_both_graphs(nn.Sequential(nn.AdaptiveAvgPool2d(out), nn.Flatten()), randn(2, 3, *size, seed=2))


@pytest.mark.parametrize("fn,reason", [
    (lambda x: nn.functional.conv2d(x, torch.ones(4, 2, 3, 3), groups=2), "groups=2: only 1 or the input channels"),
    (lambda x: nn.functional.max_pool2d(x, 2, ceil_mode=True), "ceil_mode=True"),
    (lambda x: nn.functional.max_pool2d(x, 2, dilation=2), "dilation [2, 2]: only 1"),
    (lambda x: nn.functional.max_pool2d(x, 2, return_indices=True)[1].float(), "torch.int64 tensors"),
    (lambda x: nn.functional.avg_pool2d(x, 3, padding=1, count_include_pad=False), "count_include_pad=False"),
    (lambda x: nn.functional.adaptive_avg_pool2d(x, 3), "not an exact average pool")])
def test_unsupported_forms_fall_back_to_the_host(fn, reason):
    for decompose in (False, True):
        placements = partition(capture(Fn(fn), (randn(1, 4, 8, 8),), "t", decompose=decompose).graph)
        assert any(p.where == HOST and reason in p.reason for p in placements), placements


def batch_norm(channels: int, affine: bool = True, dims: int = 2) -> nn.Module:
    """An eval-mode batch norm with running statistics (and affine parameters) away from 0 and 1."""
    norm = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels, affine=affine)
    norm.running_mean.normal_()
    norm.running_var.uniform_(0.5, 2.0)
    if affine:
        norm.weight.data.normal_()
        norm.bias.data.normal_()
    return norm


@pytest.mark.parametrize("build,shape,folded", [
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), batch_norm(4), nn.ReLU()), (2, 3, 9, 7), True),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), batch_norm(4, affine=False)), (1, 3, 9, 7), True),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), batch_norm(4)), (1, 3, 9, 7), False),
    (lambda: nn.Sequential(nn.Linear(5, 6), batch_norm(6, dims=1)), (3, 5), False)])
def test_batch_norm_folds_into_the_conv_before_it_else_scales_and_shifts(build, shape, folded):
    torch.manual_seed(4)
    module = build()
    check_both_graphs(module, randn(*shape, seed=4))
    for decompose in (False, True):
        _, compiled, _ = emulate(module, (randn(*shape, seed=4),), decompose=decompose)
        norm = next(n for n in compiled.program.metadata["nodes"] if "batch_norm" in n["target"])
        first, end = norm["commands"]
        assert (first == end) == folded, norm


def test_batch_norm_in_training_mode_falls_back_to_the_host():
    fn = Fn(lambda x: nn.functional.batch_norm(x, torch.zeros(4), torch.ones(4), training=True))
    placements = partition(capture(fn, (randn(2, 4, 5, 5),), "t").graph)
    assert any(p.where == HOST and "training mode" in p.reason for p in placements), placements


def test_batch_norm_after_a_conv_on_the_host_scales_and_shifts():
    torch.manual_seed(6)
    module = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), batch_norm(4))
    x = randn(1, 4, 7, 7, seed=6)
    (out,), compiled, _ = emulate(module, (x,))
    assert [op.target for op in compiled.program.host_ops] == ["aten.conv2d.default"]
    assert compare("out", out, golden_outputs(module, (x,))[0]).passed
