"""Kernels through the whole compiler on the emulator, bit-exact against references written
directly from atalla.numerics (the documented order of every operation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atalla import numerics as nu
from atalla.config import get_config
from compiler.errors import CompileError
from compiler.kernels import gemm as gemm_kernel
from compiler.kernels.gemm import k_tile_rows
from tests.helpers import Fn, assert_same_bits, emulate, lane_fold

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
dims = st.integers(1, 40)


def gemm_reference(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, rows: int) -> np.ndarray:
    """The fp32 sum starts from the bias (or from the first K tile); K tiles (ceil(K/rows) of them,
    equal when they divide K, else full ones and a tail) accumulate in order; one bf16 rounding."""
    tiles = -(-a.shape[1] // rows)
    k_tile = a.shape[1] // tiles if a.shape[1] % tiles == 0 else rows
    a_bits, b_bits = nu.f32_to_bf16_bits(a), nu.f32_to_bf16_bits(b)
    shape = (a.shape[0], b.shape[1])
    acc = None if bias is None else np.broadcast_to(nu.round_to_bf16(bias), shape).astype(np.float32)
    for k0 in range(0, a.shape[1], k_tile):
        acc = nu.gemm(a_bits[:, k0 : k0 + k_tile], b_bits[k0 : k0 + k_tile], acc)
    return nu.round_to_bf16(acc)


def softmax_reference(x: np.ndarray, dim: int, lanes: int) -> np.ndarray:
    x = np.moveaxis(nu.round_to_bf16(x), dim, -1)
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    tiles = [x[:, c : c + lanes] for c in range(0, shape[-1], lanes)]
    m = nu.rowmax(lane_fold(nu.maximum, tiles))
    es = [nu.exp(nu.sub(t, np.broadcast_to(m, t.shape))) for t in tiles]
    s = nu.rowsum(lane_fold(nu.add, es))
    out = np.concatenate([nu.round_to_bf16(nu.div(e, np.broadcast_to(s, e.shape))) for e in es], axis=1)
    return np.moveaxis(out.reshape(shape), -1, dim)


def randn(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@SETTINGS
@given(m=dims, k=dims, n=dims, transposed=st.booleans(), config=st.sampled_from(["small", "atalla32"]))
def test_matmul_any_shape(m, k, n, transposed, config):
    a = randn((m, k), 1)
    b = randn((n, k) if transposed else (k, n), 2)
    fn = (lambda x, y: x @ y.t()) if transposed else (lambda x, y: x @ y)
    (out,), _, _ = emulate(Fn(fn), (a, b), config)
    bmat = b.numpy().T if transposed else b.numpy()
    assert_same_bits(out, gemm_reference(a.numpy(), bmat, None, get_config(config).array_rows))


@SETTINGS
@given(batch=st.integers(1, 3), m=dims, k=dims, n=dims, shared_weights=st.booleans(), decompose=st.booleans())
def test_batched_matmul(batch, m, k, n, shared_weights, decompose):
    a = randn((batch, m, k), 3)
    b = randn((k, n) if shared_weights else (batch, k, n), 4)
    (out,), _, _ = emulate(Fn(torch.matmul), (a, b), decompose=decompose)
    bs = [b.numpy()] * batch if shared_weights else list(b.numpy())
    want = np.stack([gemm_reference(a.numpy()[i], bs[i], None, 8) for i in range(batch)])
    assert_same_bits(out, want)


@SETTINGS
@given(m=dims, k=dims, n=dims, decompose=st.booleans())
def test_linear_with_bias(m, k, n, decompose):
    torch.manual_seed(m * 1000 + k * 10 + n)
    layer = torch.nn.Linear(k, n)
    x = randn((m, k), 5)
    (out,), _, _ = emulate(layer, (x,), decompose=decompose)
    w, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert_same_bits(out, gemm_reference(x.numpy(), w.T, bias, 8))


# Schedules the cost model picks for larger GEMMs, forced on small ones: one or two A panels,
# several row blocks, the first panel in row pieces; K in equal tiles (one DMA per panel: a multiple
# of the array, or 90 = 3 x 30 and 42 = 6 x 7) or not (one per K tile); the last tile stored in row
# pieces (150 rows on small, 140 on atalla32).
GEMM_SCHEDULES = [("small", 50, 32, 20, (16, 2, 2)), ("small", 50, 32, 20, (16, 1, 1)),
                  ("small", 50, 32, 20, (50, 1, 4)), ("small", 23, 30, 9, (7, 2, 1)),
                  ("small", 150, 100, 30, (75, 2, 1)), ("small", 150, 42, 20, (150, 2, 2)),
                  ("atalla32", 70, 64, 40, (35, 2, 2)), ("atalla32", 70, 96, 33, (70, 1, 8)),
                  ("atalla32", 140, 90, 40, (140, 2, 2))]


@pytest.mark.parametrize("config,m,k,n,schedule", GEMM_SCHEDULES)
@pytest.mark.parametrize("bias", [False, True])
def test_gemm_schedules(monkeypatch, config, m, k, n, schedule, bias):
    monkeypatch.setattr(gemm_kernel, "_schedule", lambda *args: schedule)
    torch.manual_seed(m + k + n)
    layer = torch.nn.Linear(k, n, bias=bias)
    x = randn((m, k), 6)
    (out,), compiled, _ = emulate(layer, (x,), config)
    w = layer.weight.detach().numpy()
    want = gemm_reference(x.numpy(), w.T, layer.bias.detach().numpy() if bias else None, get_config(config).array_rows)
    assert_same_bits(out, want)
    # The first GEMM waits only for the B panel, the bias and the first A piece: every piece is asked for before it.
    kinds = [c.kind for c in compiled.program.commands]
    first_gemm = kinds.index("GEMM")
    rows_r, cols_c = get_config(config).array_rows, get_config(config).array_cols
    kt = -(-k // rows_r)
    a_loads = schedule[2] if k % kt == 0 else kt
    bias_loads = (n >= cols_c) + (n % cols_c != 0) if bias else 0  # full bias rows, then the rest
    assert kinds[:first_gemm].count("DMA_LOAD") == 1 + a_loads + bias_loads


# Activations a GEMM runs as its epilogue on each output tile (compiler/kernels/gemm.py).
EPILOGUES = {"gelu": (torch.nn.functional.gelu, nu.gelu),
             "gelu_tanh": (lambda x: torch.nn.functional.gelu(x, approximate="tanh"), nu.gelu_tanh),
             "tanh": (torch.tanh, nu.tanh), "sigmoid": (torch.sigmoid, nu.sigmoid),
             "silu": (torch.nn.functional.silu, nu.silu)}


class LinearThen(torch.nn.Module):
    def __init__(self, k: int, n: int, activation):
        super().__init__()
        self.linear, self.activation = torch.nn.Linear(k, n), activation

    def forward(self, x):
        return self.activation(self.linear(x))


@pytest.mark.parametrize("config,m,k,n,schedule,decompose", [
    ("small", 50, 32, 20, (16, 2, 2), False), ("small", 23, 30, 9, (7, 2, 1), True),
    ("small", 9, 5, 30, (9, 1, 1), False), ("atalla32", 70, 64, 40, (35, 2, 2), False)])
@pytest.mark.parametrize("name", sorted(EPILOGUES))
def test_linear_then_activation_is_one_gemm_with_an_epilogue(monkeypatch, config, m, k, n, schedule, decompose, name):
    """Several row blocks and N tiles, one K tile or several: each output tile's activation runs
    between the next tile's GEMMs, and the result is the unfused one's, bit for bit."""
    monkeypatch.setattr(gemm_kernel, "_schedule", lambda *args: schedule)
    torch.manual_seed(m + k + n)
    torch_fn, reference = EPILOGUES[name]
    module = LinearThen(k, n, torch_fn)
    x = randn((m, k), 7) * 2
    (out,), compiled, _ = emulate(module, (x,), config, decompose)
    w, bias = module.linear.weight.detach().numpy(), module.linear.bias.detach().numpy()
    linear = gemm_reference(x.numpy(), w.T, bias, get_config(config).array_rows)
    assert_same_bits(out, nu.round_to_bf16(reference(linear)))
    if decompose and name == "silu":
        return  # core ATen spells it x * sigmoid(x): two readers of the Linear's result, nothing to fuse
    names = {t.name for t in compiled.program.tensors}
    assert not names & {"linear", "addmm"}, "the Linear's result got a buffer: the activation ran on its own"
    ops = [c.op.name for c in compiled.program.commands]
    assert "GEMM" in ops[ops.index("VEC"):], "no VEC before the last GEMM: the epilogue did not overlap"


class LinearActivationLinear(torch.nn.Module):
    """A transformer's MLP: Linear, activation, Linear."""

    def __init__(self, k: int, hidden: int, n: int, activation, bias: bool):
        super().__init__()
        self.fc, self.proj, self.activation = torch.nn.Linear(k, hidden, bias), torch.nn.Linear(hidden, n, bias), activation

    def forward(self, x):
        return self.proj(self.activation(self.fc(x)))


@pytest.mark.parametrize("config,m,k,hidden,n,bias,plan", [
    ("small", 37, 40, 300, 20, True, (37, 38)),  # one row block, the second weights loaded once; a 4-wide last hidden tile
    ("small", 300, 64, 256, 40, False, (100, 4)),  # three row blocks, the second weights in groups of 4 K tiles
    ("atalla32", 70, 64, 100, 40, True, (70, 4)),  # hidden tiles of 25 (k_tile_rows), a 8-wide last output tile
    ("small", 1, 3, 5, 7, True, (1, 1))])  # one K tile, one hidden tile, one output tile: no accumulators
@pytest.mark.parametrize("name", ["gelu_tanh", "silu"])
def test_linear_activation_linear_is_one_pipelined_kernel(config, m, k, hidden, n, bias, plan, name):
    """The MLP kernel (compiler/kernels/mlp.py) gives the two Linears' own sums bit for bit, keeps
    the activated hidden tensor in DRAM, and runs the activation between GEMMs of both Linears."""
    torch.manual_seed(m + k + n)
    torch_fn, reference = EPILOGUES[name]
    module = LinearActivationLinear(k, hidden, n, torch_fn, bias)
    x = randn((m, k), 8) * 2
    (out,), compiled, emu = emulate(module, (x,), config)
    rows = get_config(config).array_rows
    params = {name: p.detach().numpy() for name, p in module.named_parameters()}
    hidden_ref = nu.round_to_bf16(reference(gemm_reference(x.numpy(), params["fc.weight"].T, params.get("fc.bias"), rows)))
    assert_same_bits(out, gemm_reference(hidden_ref, params["proj.weight"].T, params.get("proj.bias"), rows))
    hidden_tensor = next(t.name for t in compiled.program.tensors if t.shape == (m, hidden))
    assert_same_bits(emu.read_tensor(hidden_tensor), hidden_ref)
    nodes = {node["node"]: node["commands"] for node in compiled.program.metadata["nodes"]}
    first, second = (nodes[node] for node in nodes if node.startswith("linear"))
    assert second[0] == second[1], "the second Linear ran on its own"
    commands = compiled.program.commands[first[0] : first[1]]
    ops = [c.op.name for c in commands]
    assert ops.count("ALLOC") == 1 and "GEMM" in ops[ops.index("VEC"):], "the activation did not run between GEMMs"
    m_tile, group = plan
    assert max(c.args[4] for c in commands if c.op.name == "GEMM") == m_tile  # GEMM m: the row block
    w2_loads = [c for c in commands if c.op.name == "DMA_LOAD" and c.args[4] == n]  # row stride n: the second weights
    width, out_tiles, blocks = k_tile_rows(hidden, rows), -(-n // get_config(config).array_cols), -(-m // m_tile)
    groups = -(-hidden // (group * width))
    assert max(c.args[2] for c in w2_loads) == min(group * width, hidden)
    assert len(w2_loads) == (1 if groups == 1 else blocks) * groups * out_tiles


class ResidualAfter(torch.nn.Module):
    """out = r * 2 + f(x), the sum in either order; fused=False computes r * 2 after f(x), so that
    the residual is not yet there when f's last Linear lowers and the add runs as its own kernel."""

    def __init__(self, f: torch.nn.Module, residual_first: bool, fused: bool):
        super().__init__()
        self.f, self.residual_first, self.fused = f, residual_first, fused

    def forward(self, x, r):
        if self.fused:
            r2 = r * 2
            y = self.f(x)
        else:
            y = self.f(x)
            r2 = r * 2
        return r2 + y if self.residual_first else y + r2


def _add_commands(compiled) -> list[int]:
    return [node["commands"] for node in compiled.program.metadata["nodes"] if node["node"].startswith("add")]


@pytest.mark.parametrize("config,m,k,n,schedule,fuses", [
    ("small", 300, 16, 20, (64, 2, 1), True), ("small", 9, 5, 30, (9, 1, 1), True),
    ("atalla32", 70, 64, 40, (35, 2, 2), True),
    ("small", 50, 32, 20, (16, 2, 2), False)])  # 12 tiles of 16 x 8: a load call each costs more than the add
@pytest.mark.parametrize("residual_first", [False, True])
def test_linear_plus_residual_is_one_gemm_whose_epilogue_loads_the_residual(monkeypatch, config, m, k, n, schedule,
                                                                            fuses, residual_first):
    """The add that alone reads a Linear's result, of a tensor already computed, runs as the GEMM's
    epilogue (each tile's residual loaded while the tile computes) where that costs less than the
    add on its own: the bits of the add on its own either way."""
    monkeypatch.setattr(gemm_kernel, "_schedule", lambda *args: schedule)
    torch.manual_seed(m + k + n)
    linear = torch.nn.Linear(k, n)
    x, r = randn((m, k), 3) * 2, randn((m, n), 4)
    (fused_out,), fused, _ = emulate(ResidualAfter(linear, residual_first, True), (x, r), config)
    (alone_out,), alone, _ = emulate(ResidualAfter(linear, residual_first, False), (x, r), config)
    assert_same_bits(fused_out, alone_out)
    (span,) = _add_commands(fused)
    assert (span[0] == span[1]) == fuses and _add_commands(alone)[0][0] < _add_commands(alone)[0][1]
    if fuses:
        assert not {t.name for t in fused.program.tensors} & {"linear"}, "the Linear's result got a buffer"
        ops = [c.op.name for c in fused.program.commands]
        assert "GEMM" in ops[ops.index("VEC", ops.index("GEMM")):], "the residual's add did not run beside the GEMMs"


def test_a_residual_whose_tiles_do_not_fit_beside_the_gemm_is_added_on_its_own(monkeypatch):
    plan = gemm_kernel.plan

    def no_room(em, a, b, bias=None, epilogue=None, n_ops=0):  # no room for the residual's tiles only
        if n_ops:
            raise CompileError("even one row of A with the B panels does not fit")
        return plan(em, a, b, bias, epilogue, n_ops)

    torch.manual_seed(2)
    linear = torch.nn.Linear(16, 20)
    x, r = randn((300, 16), 3), randn((300, 20), 4)
    (expected,), _, _ = emulate(ResidualAfter(linear, False, False), (x, r))
    monkeypatch.setattr(gemm_kernel, "plan", no_room)
    (out,), compiled, _ = emulate(ResidualAfter(linear, False, True), (x, r))
    assert_same_bits(out, expected)
    (span,) = _add_commands(compiled)
    assert span[0] < span[1]


@pytest.mark.parametrize("config,m,k,hidden,n", [("small", 37, 40, 300, 20), ("small", 300, 64, 256, 40),
                                                 ("atalla32", 70, 64, 100, 40), ("small", 1, 3, 5, 7)])
@pytest.mark.parametrize("residual_first", [False, True])
def test_mlp_plus_residual_adds_it_in_the_pipelined_kernel(config, m, k, hidden, n, residual_first):
    """A transformer block's `x + mlp(x')`: each output tile of the MLP kernel takes its residual
    tile added before its store, with the add's own bits, and the kernel stays one kernel."""
    torch.manual_seed(m + hidden)
    mlp = LinearActivationLinear(k, hidden, n, EPILOGUES["gelu_tanh"][0], True)
    x, r = randn((m, k), 5) * 2, randn((m, n), 6)
    (fused_out,), fused, _ = emulate(ResidualAfter(mlp, residual_first, True), (x, r), config)
    (alone_out,), alone, _ = emulate(ResidualAfter(mlp, residual_first, False), (x, r), config)
    assert_same_bits(fused_out, alone_out)
    (span,) = _add_commands(fused)
    assert span[0] == span[1] and _add_commands(alone)[0][0] < _add_commands(alone)[0][1]
    nodes = {node["node"]: node["commands"] for node in fused.program.metadata["nodes"]}
    first, second = (nodes[node] for node in nodes if node.startswith("linear"))
    assert second[0] == second[1], "the second Linear ran on its own"
    ops = [c.op.name for c in fused.program.commands[first[0] : first[1]]]
    assert ops.count("ALLOC") == 1 and ops.count("VEC") > 0


def test_an_mlp_whose_output_accumulators_do_not_fit_runs_as_two_kernels():
    """2,048 outputs need 256 fp32 accumulator tiles a row block: more than the small config's
    scratchpad holds at 8 rows, so the second Linear runs on its own, with the same sums."""
    torch.manual_seed(4)
    module = LinearActivationLinear(16, 16, 2048, EPILOGUES["gelu_tanh"][0], True)
    x = randn((16, 16), 9)
    (out,), compiled, _ = emulate(module, (x,))
    params = {name: p.detach().numpy() for name, p in module.named_parameters()}
    hidden_ref = nu.round_to_bf16(nu.gelu_tanh(gemm_reference(x.numpy(), params["fc.weight"].T, params["fc.bias"], 8)))
    assert_same_bits(out, gemm_reference(hidden_ref, params["proj.weight"].T, params["proj.bias"], 8))
    nodes = {node["node"]: node["commands"] for node in compiled.program.metadata["nodes"]}
    second = [nodes[node] for node in nodes if node.startswith("linear")][1]
    assert second[1] > second[0], "the second Linear has no commands of its own"


broadcast_shapes = st.sampled_from([((5, 37), (5, 37)), ((5, 37), (37,)), ((5, 37), (5, 1)), ((2, 3, 9), (3, 1)),
                                    ((4, 1, 6), (1, 7, 6)), ((1,), (3, 17)), ((16, 40), ())])
OPS = {"add": (torch.add, nu.add), "sub": (torch.sub, nu.sub), "mul": (torch.mul, nu.mul), "div": (torch.div, nu.div)}


@SETTINGS
@given(shapes=broadcast_shapes, op=st.sampled_from(sorted(OPS)), swap=st.booleans())
def test_elementwise_broadcasting(shapes, op, swap):
    sa, sb = shapes[::-1] if swap else shapes
    a, b = randn(sa, 6), randn(sb, 7) + (3.0 if op == "div" else 0.0)
    t_op, n_op = OPS[op]
    (out,), _, _ = emulate(Fn(t_op), (a, b))
    ra, rb = np.broadcast_arrays(nu.round_to_bf16(a.numpy()), nu.round_to_bf16(b.numpy()))
    assert_same_bits(out, nu.round_to_bf16(n_op(ra, rb)))


@pytest.mark.parametrize("shape", [(32, 256), (3, 1037), (2, 4100)])
def test_elementwise_contiguous_is_few_double_buffered_transfers(shape):
    """A contiguous tensor moves in rows of lanes, many rows per DMA; the next chunk loads before
    this one computes."""
    a, b = randn(shape, 10), randn(shape, 11)
    (out,), compiled, _ = emulate(Fn(torch.add), (a, b))
    assert_same_bits(out, nu.round_to_bf16(nu.add(nu.round_to_bf16(a.numpy()), nu.round_to_bf16(b.numpy()))))
    cfg = get_config("small")
    full_rows, rest = divmod(a.numel(), cfg.lanes)
    chunks = -(-full_rows // (cfg.sp_rows // 12)) + (rest > 0)  # two sets of 3 tiles in half the scratchpad
    kinds = [c.op.name for c in compiled.program.commands]
    assert kinds.count("DMA_LOAD") == 2 * chunks and kinds.count("VEC") == chunks
    assert kinds[: kinds.index("VEC")].count("DMA_LOAD") == min(4, 2 * chunks)


@pytest.mark.parametrize("width", [64, 67])
def test_a_mask_broadcast_over_heads_moves_each_head_in_rows_of_lanes(width):
    """scores[1, 12, 15, width] + mask[15, width]: the heads stay an outer dim of 12 rows each
    15 * width long, and each head is refolded into rows of lanes (one DMA per operand, and one for
    a remainder), not cut into 12-row column strips of one DMA each."""
    scores, mask = randn((1, 12, 15, width), 12), randn((15, width), 13)
    (out,), compiled, _ = emulate(Fn(torch.add), (scores, mask))
    want = nu.add(nu.round_to_bf16(scores.numpy()), np.broadcast_to(nu.round_to_bf16(mask.numpy()), scores.shape))
    assert_same_bits(out, nu.round_to_bf16(want))
    lanes = get_config("small").lanes
    tiles_per_head = 1 + (15 * width % lanes > 0)
    kinds = [c.op.name for c in compiled.program.commands]
    assert kinds.count("VEC") == 12 * tiles_per_head and kinds.count("DMA_LOAD") == 2 * 12 * tiles_per_head


@pytest.mark.parametrize("shape", [(2, 7, 256), (3, 1037)])
def test_copy_and_exp_of_a_contiguous_tensor_move_rows_of_lanes(shape):
    """A reshaped tensor copied for the host (and exp) moves many rows of lanes per DMA, as the
    elementwise kernels do, not one lane-wide row per transfer."""
    x = randn(shape, 12)
    (out, ex), compiled, _ = emulate(Fn(lambda t: (torch.nn.functional.gelu(t.view(-1)), torch.exp(t))), (x,))
    np.testing.assert_allclose(out, torch.nn.functional.gelu(x.view(-1)).numpy(), rtol=0.02, atol=0.02)
    assert_same_bits(ex, nu.round_to_bf16(nu.exp(nu.round_to_bf16(x.numpy()))))
    loads = sum(c.op.name == "DMA_LOAD" for c in compiled.program.commands)
    assert loads <= 2 * (-(-x.numel() // (get_config("small").lanes * 8)) + 1)


@SETTINGS
@given(shape=st.sampled_from([(7,), (3, 45), (2, 5, 19)]), op=st.sampled_from(sorted(OPS)),
       scalar=st.sampled_from([0.125, -3.0, 7.3]))
def test_scalar_operand(shape, op, scalar):
    a = randn(shape, 8)
    t_op, n_op = OPS[op]
    (out,), _, _ = emulate(Fn(lambda x: t_op(x, scalar)), (a,))
    want = nu.round_to_bf16(n_op(nu.round_to_bf16(a.numpy()), nu.flush(np.float32(scalar))))
    assert_same_bits(out, want)


@SETTINGS
@given(shape=st.sampled_from([(4, 10), (3, 8), (2, 5, 33), (6, 1), (1, 100), (3, 4, 5)]), data=st.data())
def test_softmax_any_dim(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = randn(shape, 9) * 4
    for config in ("small", "atalla32"):
        (out,), _, _ = emulate(Fn(lambda t: torch.softmax(t, dim)), (x,), config)
        assert_same_bits(out, softmax_reference(x.numpy(), dim % len(shape), get_config(config).lanes))


def test_relu_and_exp():
    x = randn((3, 21), 10) * 5
    (r, e), _, _ = emulate(Fn(lambda t: (torch.relu(t), torch.exp(t))), (x,))
    xb = nu.round_to_bf16(x.numpy())
    assert_same_bits(r, nu.round_to_bf16(nu.relu(xb)))
    assert_same_bits(e, nu.round_to_bf16(nu.exp(xb)))


LAYOUTS = {
    "permute": lambda t: t.permute(2, 0, 1),
    "transpose": lambda t: t.transpose(0, 2),
    "view": lambda t: t.reshape(6, 10),
    "view_of_permute": lambda t: t.permute(1, 0, 2).reshape(3, 20),  # needs a copy first
    "expand": lambda t: t[:, :1, :].expand(2, 4, 10),
    "unsqueeze": lambda t: t.unsqueeze(1),
    "slice": lambda t: t[:, 1:3, ::3],
    "select": lambda t: t[1],
    "contiguous": lambda t: t.transpose(1, 2).contiguous(),
    "flatten": lambda t: t.flatten(1),
}


@SETTINGS
@given(name=st.sampled_from(sorted(LAYOUTS)), decompose=st.booleans())
def test_layout_ops_feed_compute(name, decompose):
    x = randn((2, 3, 10), 11)
    layout = LAYOUTS[name]
    (out,), _, _ = emulate(Fn(lambda t: torch.relu(layout(t))), (x,), decompose=decompose)
    want = layout(torch.from_numpy(nu.round_to_bf16(x.numpy()))).numpy()
    assert_same_bits(out, nu.round_to_bf16(nu.relu(want)))


def test_view_output_is_materialized():
    x = randn((4, 6), 12)
    (out,), compiled, _ = emulate(Fn(lambda t: t.t()), (x,))
    assert_same_bits(out, nu.round_to_bf16(x.numpy()).T)
