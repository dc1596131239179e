"""The `atalla` PyTorch device: tensors in the simulated DRAM through the firmware's allocation
rules, ops as one-op programs on the emulator with the bits of the compiled path, a clear error
(or a CPU fallback) for the rest, and no leak once the tensors die."""

from __future__ import annotations

import gc
import math
import warnings

import pytest
import torch

import runtime.torch_device as device
from golden.reference import compare
from tests.helpers import Fn, assert_same_bits, emulate, randn


@pytest.fixture(autouse=True)
def fresh_device():
    """Each test starts and ends with an empty device: nothing it made may outlive it."""
    gc.collect()
    device.set_config("small")
    device.set_fallback(False)
    yield
    gc.collect()
    assert device.leaks() == [], device.leak_report()


def test_relu_of_matmul_equals_the_compiled_path():
    x, w = randn(5, 37, seed=1), randn(37, 11, seed=2)
    y = torch.relu(x.to("atalla") @ w.to("atalla")).cpu()
    (compiled,), _, _ = emulate(Fn(lambda x, w: torch.relu(x @ w)), (x, w))
    assert_same_bits(y.numpy(), compiled)
    assert compare("y", y.numpy(), torch.relu(x @ w).numpy()).passed


def test_linear_equals_a_compiled_linear():
    layer = torch.nn.Linear(37, 11)
    x = randn(2, 5, 37, seed=3)
    y = torch.nn.functional.linear(x.to("atalla"), layer.weight.detach().to("atalla"), layer.bias.detach().to("atalla"))
    (compiled,), _, _ = emulate(layer, (x,))
    assert_same_bits(y.cpu().numpy(), compiled)


OPS = {
    "add_broadcast": (lambda a, b: a + b, [(5, 37), (37,)]),
    "sub_scalar": (lambda a: a - 0.75, [(5, 37)]),
    "mul_outer": (lambda a, b: a * b, [(5, 1), (1, 37)]),
    "div": (lambda a, b: a / b, [(4, 9), (4, 9)]),
    "softmax_rows": (lambda a: torch.softmax(a, -1), [(5, 37)]),
    "softmax_cols": (lambda a: torch.softmax(a, 0), [(5, 37)]),
    "addmm": (lambda c, a, b: torch.addmm(c, a, b), [(11,), (5, 37), (37, 11)]),
    "bmm": (lambda a, b: torch.bmm(a, b), [(2, 5, 8), (2, 8, 3)]),
    "exp": (torch.exp, [(3, 17)]),
    "tanh": (torch.tanh, [(3, 17)]),
    "gelu": (torch.nn.functional.gelu, [(3, 17)]),
    "mean": (lambda a: a.mean(-1, keepdim=True), [(6, 20)]),
    "sum": (lambda a: a.sum(0), [(6, 20)]),
    "silu_of_sigmoid": (lambda a: torch.nn.functional.silu(torch.sigmoid(a)), [(3, 17)]),
    "rsqrt": (lambda a: torch.rsqrt(a), [(3, 17)]),
}


@pytest.mark.parametrize("name", list(OPS))
def test_op_on_the_device_equals_the_op_compiled(name):
    fn, shapes = OPS[name]
    inputs = tuple(randn(*s, seed=i) + (3.0 if (name, i) in (("div", 1), ("rsqrt", 0)) else 0.0) for i, s in enumerate(shapes))
    got = fn(*(x.to("atalla") for x in inputs)).cpu().numpy()
    (compiled,), _, _ = emulate(Fn(fn), inputs)
    assert_same_bits(got, compiled)
    assert compare(name, got, fn(*inputs).numpy()).passed


def test_in_place_ops_write_the_ops_result_into_the_tensor():
    x, b = randn(5, 37), randn(37, seed=1)
    d = x.to("atalla")
    view = d[1:3]
    d += b.to("atalla")
    view.relu_()
    assert_same_bits(d[1:3].cpu().numpy(), view.cpu().numpy())
    want = (x.to("atalla") + b.to("atalla")).cpu()
    want[1:3] = torch.relu(want[1:3].to("atalla")).cpu()
    assert_same_bits(d.cpu().numpy(), want.numpy())


def test_one_op_programs_are_cached_by_op_and_shapes():
    x = randn(4, 8).to("atalla")
    before = device.stats()["programs_compiled"]
    torch.relu(x), torch.relu(x), torch.relu(x + 0)
    assert device.stats()["programs_compiled"] == before + 2  # relu and add, each once
    torch.relu(randn(4, 9).to("atalla"))
    assert device.stats()["programs_compiled"] == before + 3


def test_tensors_round_trip_bit_for_bit_and_views_share_memory():
    x = torch.tensor([[1.0, -0.0, 3.1415927, 1e-30], [float("inf"), -2.5, 65504.0, 1e38]])
    d = x.to("atalla")
    assert d.device.type == "atalla" and d.dtype == torch.float32
    assert_same_bits(d.cpu().numpy(), x.numpy())
    assert_same_bits(d.to("cpu").numpy(), x.numpy())
    allocated = device.stats()["allocations"]
    views = [d.t(), d[1:, 1:3], d.view(8), d[0], d.unsqueeze(0).expand(3, 2, 4)]
    assert device.stats()["allocations"] == allocated  # a view allocates nothing
    for v, want in zip(views, [x.t(), x[1:, 1:3], x.view(8), x[0], x.unsqueeze(0).expand(3, 2, 4)]):
        assert_same_bits(v.cpu().numpy(), want.numpy())
    d[:, 1:3].copy_(torch.full((2, 2), 7.0))
    assert d.cpu()[:, 1:3].eq(7.0).all() and d.cpu()[:, 0].equal(x[:, 0])
    e = torch.empty(3, 5, device="atalla")
    e.copy_(torch.arange(15.0).view(3, 5))
    assert e.cpu().equal(torch.arange(15.0).view(3, 5))


def test_allocator_follows_the_firmware_rules():
    cfg = device.memory().config
    tensors = [torch.zeros(n).to("atalla") for n in (1, 17, 100)]
    blocks = [t.block for t in tensors]
    assert all(b.offset % cfg.dram_align == 0 for b in blocks)
    assert len({b.offset for b in blocks}) == 3
    s = device.stats()
    assert s["live_allocations"] == 3
    assert s["bytes_live"] == sum(math.ceil(n * 4 / cfg.dram_align) * cfg.dram_align for n in (1, 17, 100))
    with pytest.raises(device.DeviceError, match="out of DRAM: .* needs 16777216 bytes"):
        torch.empty(cfg.dram_bytes // 4, device="atalla")
    with pytest.raises(device.DeviceError, match="holds float32 tensors, not torch.float64"):
        torch.zeros(3, dtype=torch.float64).to("atalla")
    with pytest.raises(device.DeviceError, match="double free"):
        block = device.memory().alloc(64, "probe")
        device.memory().free(block)
        device.memory().free(block)
    with pytest.raises(device.DeviceError, match="still alive"):
        device.set_config("atalla32")
    peak = s["peak_bytes"]
    del tensors, blocks
    gc.collect()
    after = device.stats()
    assert after["bytes_live"] == 0 and after["allocations"] == after["frees"] and after["peak_bytes"] >= peak


def test_no_leak_after_the_tensors_die():
    start = device.stats()
    x, w = randn(5, 37).to("atalla"), randn(37, 11).to("atalla")
    y = torch.softmax(torch.relu(x @ w), -1)
    assert device.stats()["live_allocations"] == start["live_allocations"] + 3
    assert len(device.leaks()) == 3 and "leak" not in device.leak_report().splitlines()[0]
    del x, w, y
    gc.collect()
    end = device.stats()
    assert end["bytes_live"] == 0 and end["allocations"] - start["allocations"] == end["frees"] - start["frees"]
    assert device.leak_report().endswith("no leak")


def test_unsupported_op_is_an_error_naming_it_or_runs_on_the_cpu_when_asked():
    x = randn(3, 4)
    d = x.to("atalla")
    with pytest.raises(device.UnsupportedOp, match=r"aten\.sin\.default is not supported on the atalla device"):
        torch.sin(d)
    device.set_fallback(True)
    with pytest.warns(UserWarning, match=r"aten\.sin\.default runs on the CPU"):
        y = torch.sin(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per op
        y2 = torch.sin(d)
    assert y.device.type == "atalla" and y.cpu().equal(torch.sin(x)) and y2.cpu().equal(torch.sin(x))
