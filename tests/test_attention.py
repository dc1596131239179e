"""scaled_dot_product_attention and compile-time masks on Atalla, against PyTorch on the emulator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atalla.isa import Flag
from compiler.kernels import attention as attention_kernel
from compiler.partition import HOST
from golden.reference import compare
from tests.helpers import Fn, emulate, randn

VARIANTS = ("plain", "causal", "bool_mask", "float_mask", "runtime_mask", "scaled")


def _shapes(seed: int):
    """Seeded random attention shapes: odd lengths, 1-element dims, 1..4 heads."""
    rng = np.random.default_rng(seed)
    batch, heads = int(rng.choice([1, 2])), int(rng.integers(1, 5))
    length = int(rng.choice([1, 3, 5, 7, 9]))
    source = int(rng.choice([1, 2, 5, 8, 11]))
    head_dim, value_dim = int(rng.choice([1, 4, 8, 13])), int(rng.choice([1, 3, 8]))
    return batch, heads, length, source, head_dim, value_dim


def _case(variant: str, seed: int):
    batch, heads, length, source, head_dim, value_dim = _shapes(seed)
    if variant == "causal":
        source = length
    q = randn(batch, heads, length, head_dim, seed=seed)
    k = randn(batch, heads, source, head_dim, seed=seed + 100)
    v = randn(batch, heads, source, value_dim, seed=seed + 200)
    keep = torch.from_numpy(np.random.default_rng(seed).random((length, source)) < 0.7)
    keep[:, 0] = True  # no fully masked row: PyTorch gives NaN there
    if variant == "runtime_mask":
        mask = randn(1, heads, length, source, seed=seed + 300)
        return Fn(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)), (q, k, v, mask)
    fn = {
        "plain": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        "causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "bool_mask": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep.clone()),
        "float_mask": lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.where(keep, 0.0, -1e4) + torch.arange(source) * 0.25),
        "scaled": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7),
    }[variant]
    return Fn(fn), (q, k, v)


def _bits(outs):
    return [o.view(np.uint32) for o in outs]


@pytest.mark.parametrize("seed", range(1, 7))  # heads 1..4, lengths 1..11, dims 1..13
@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_matches_pytorch_on_atalla(variant, seed):
    module, inputs = _case(variant, seed)
    outs, compiled, _ = emulate(module, inputs)
    assert not [p for p in compiled.placements if p.where == HOST], compiled.partition_report()
    assert compare("out", outs[0], module(*inputs).numpy()).passed


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_core_aten_graph_gives_the_same_bits(variant):
    module, inputs = _case(variant, seed=4)
    outs = [emulate(module, inputs, decompose=d)[0] for d in (False, True)]
    np.testing.assert_array_equal(*(_bits(o) for o in outs))


@pytest.mark.parametrize("q_shape,k_shape", [((3, 5, 4), (3, 5, 4)), ((5, 4), (6, 4)),
                                           ((2, 1, 5, 4), (1, 3, 6, 4))])
def test_sdpa_of_2d_3d_and_broadcast_batch_operands(q_shape, k_shape):
    q, k = randn(*q_shape, seed=13), randn(*k_shape, seed=14)
    module = Fn(lambda q, k: F.scaled_dot_product_attention(q, k, k * 0.5))
    outs, compiled, _ = emulate(module, (q, k))
    assert not [p for p in compiled.placements if p.where == HOST]
    assert compare("out", outs[0], module(q, k).numpy()).passed


def test_sdpa_equals_the_hand_written_form_bit_for_bit():
    q, k, v = randn(2, 3, 7, 8, seed=5), randn(2, 3, 7, 8, seed=6), randn(2, 3, 7, 5, seed=7)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    mask = torch.zeros(7, 7).masked_fill(~causal, -math.inf)
    sdpa = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    by_hand = Fn(lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(8)) + mask, dim=-1) @ v)
    outs = [emulate(m, (q, k, v))[0] for m in (sdpa, by_hand)]
    np.testing.assert_array_equal(*(_bits(o) for o in outs))


FUSED_MASKS = {
    "causal": None,
    "causal, as a 4-d boolean tensor": torch.ones(1, 1, 30, 36, dtype=torch.bool).tril(),  # as Hugging Face's
    "none": torch.zeros(30, 36),
    "additive, a row masked whole": torch.where(torch.rand(30, 36, generator=torch.Generator().manual_seed(4)) < 0.3,
                                                -math.inf, 0.5).index_fill(0, torch.tensor([3]), -math.inf),
}


@pytest.mark.parametrize("mask", FUSED_MASKS)
def test_heads_whose_working_set_fits_keep_their_scores_in_the_scratchpad(mask, monkeypatch):
    """Five heads of 30 x 36 scores, head dim 44 (K tiles of 8 and a last of 4 on the small
    config), value dim 20: the scores and weights never go to DRAM, and the bits are those of the
    path through DRAM."""
    q, k, v = randn(1, 5, 30, 44, seed=20), randn(1, 5, 36, 44, seed=21), randn(1, 5, 36, 20, seed=22)
    attn_mask = FUSED_MASKS[mask]
    sdpa = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None))
    (out,), compiled, _ = emulate(sdpa, (q, k, v))
    names = [t.name for t in compiled.program.tensors]
    assert not [n for n in names if n.endswith(("_scaled", "_weights"))], names
    first, stop = next(n["commands"] for n in compiled.program.metadata["nodes"] if n["target"].startswith("aten.scaled"))
    # One working set for every head (and for a mask with rows masked whole, the pass zeroing them).
    assert [c.kind for c in compiled.program.commands[first:stop]].count("ALLOC") == 1 + ("whole" in mask)
    assert compare("out", out, sdpa(q, k, v).numpy()).passed
    monkeypatch.setattr(attention_kernel, "fits", lambda *args: False)
    (through_dram,), unfused, _ = emulate(sdpa, (q, k, v))
    assert [n for n in (t.name for t in unfused.program.tensors) if n.endswith("_scaled")]
    np.testing.assert_array_equal(*_bits([out, through_dram]))


def test_each_heads_softmax_runs_between_the_next_heads_score_gemms():
    """Heads whose k^T panels (64 x 32 elements a head, strided) outlast a head's own firmware
    calls run head by head: the softmax's VEC commands of head 0 are placed inside head 1's q @ k^T
    GEMM kernel (before its waits for k^T panels), not after it; the bits are the hand-written form's."""
    q, k, v = randn(1, 2, 64, 32, seed=8), randn(1, 2, 64, 32, seed=9), randn(1, 2, 64, 32, seed=10)
    sdpa = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    (out,), compiled, _ = emulate(sdpa, (q, k, v))
    causal = torch.zeros(64, 64).masked_fill(~torch.ones(64, 64, dtype=torch.bool).tril(), -math.inf)
    by_hand = Fn(lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(32)) + causal, dim=-1) @ v)
    np.testing.assert_array_equal(*_bits([out, emulate(by_hand, (q, k, v))[0][0]]))
    kinds = [c.kind for c in compiled.program.commands]
    first_softmax, first_divide = kinds.index("VEC.ROWMAX"), kinds.index("VEC.DIV")
    assert "GEMM" in kinds[first_softmax:first_divide], "head 0's softmax ran after head 1's q @ k^T"


@pytest.mark.parametrize("decompose", [False, True])
def test_masked_fill_and_where_with_compile_time_masks_run_on_atalla(decompose):
    def fn(scores, other):
        n = scores.shape[-1]
        upper = torch.ones(n, n, dtype=torch.bool).triu(1)
        filled = scores.masked_fill(upper, float("-inf")).softmax(-1)
        return filled + torch.where(upper, other, 2.0) + torch.where(upper, -1.5, other)

    module, inputs = Fn(fn), (randn(2, 5, 5, seed=8), randn(2, 5, 5, seed=9))
    outs, compiled, _ = emulate(module, inputs, decompose=decompose)
    assert not [p for p in compiled.placements if p.where == HOST], compiled.partition_report()
    assert compare("out", outs[0], module(*inputs).numpy()).passed


LOWEST = torch.finfo(torch.float32).min  # a common mask value; bf16 rounds it to -inf


@pytest.mark.parametrize("mask,dead_row", [
    (torch.tensor([[True, False, True], [False, False, False]]), True),
    (torch.tensor([[0.0, -1.0, 0.5], [-math.inf, -math.inf, -math.inf]]), True),
    (torch.tensor([[0.0, LOWEST, 0.5], [LOWEST, -math.inf, LOWEST]]), False),
])
def test_masked_rows_as_in_pytorch(mask, dead_row):
    """A row masked whole gives 0; fp32's lowest as the mask value masks like -inf, not NaN."""
    q = randn(2, 2, 2, 4, seed=10)
    k, v = randn(2, 2, 3, 4, seed=11), randn(2, 2, 3, 5, seed=12)
    module = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask.clone()))
    (out,), _, _ = emulate(module, (q, k, v))
    golden = module(q, k, v).numpy()
    assert (golden[:, :, 1] == 0).all() == dead_row and compare("out", out, golden).passed


def test_grouped_query_attention_falls_back_to_the_host_with_the_reason():
    q = randn(1, 2, 3, 4)
    module = Fn(lambda q: F.scaled_dot_product_attention(q, q, q, is_causal=True, enable_gqa=True))
    _, compiled, _ = emulate(module, (q,))
    assert [p.reason for p in compiled.placements if p.where == HOST] == ["grouped-query attention (enable_gqa)"]


def test_the_causal_softmax_skips_what_the_mask_sets_to_zero():
    """Rows of a lane tile the causal mask makes -inf throughout (above the tile's diagonal) are not
    computed: their weights are 0, loaded once, and the bits are the hand-written form's."""
    q, k, v = randn(1, 2, 64, 32, seed=11), randn(1, 2, 64, 32, seed=12), randn(1, 2, 64, 32, seed=13)
    sdpa = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    causal = torch.zeros(64, 64).masked_fill(~torch.ones(64, 64, dtype=torch.bool).tril(), -math.inf)
    by_hand = Fn(lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(32)) + causal, dim=-1) @ v)
    (out, compiled, _), (want, by_hand_compiled, _) = emulate(sdpa, (q, k, v)), emulate(by_hand, (q, k, v))
    np.testing.assert_array_equal(*_bits([out[0], want[0]]))
    lanes = 8  # the small config's: 8 lane tiles of 64 rows, tile j from row 8j on

    def max_rows(program) -> int:  # the rows the softmax's row maxima fold, tile by tile
        return sum(c.args[3] for c in program.commands if c.kind == "VEC.MAX")

    assert max_rows(compiled.program) == 2 * sum(64 - lanes * j for j in range(1, 8))
    assert max_rows(by_hand_compiled.program) == 2 * 64 * 7


def test_head_by_head_the_mask_is_added_inside_the_softmax_where_it_is_not_zero():
    """Head by head the mask is the softmax's first step, not a pass of its own over the scores:
    a causal mask is added on the rows of its diagonal lane tiles that hold a -inf (elsewhere it is
    0, or -inf throughout and not computed), an additive mask everywhere, each with the
    hand-written form's bits."""
    q, k, v = randn(1, 2, 64, 32, seed=14), randn(1, 2, 64, 32, seed=15), randn(1, 2, 64, 32, seed=16)
    causal = torch.zeros(64, 64).masked_fill(~torch.ones(64, 64, dtype=torch.bool).tril(), -math.inf)
    additive = torch.where(torch.rand(64, 64, generator=torch.Generator().manual_seed(3)) < 0.2, -math.inf,
                           randn(64, 64, seed=17))
    lanes = 8  # the small config's
    # Per head and lane tile j, causal: rows 8j .. 8j + 6 (row 8j + 7 keeps the tile's 8 columns).
    for mask, added_rows in ((causal, 2 * (64 // lanes) * (lanes - 1)), (additive, 2 * 64 * 64 // lanes)):
        sdpa = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        by_hand = Fn(lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(32)) + mask, dim=-1) @ v)
        (out,), compiled, _ = emulate(sdpa, (q, k, v))
        np.testing.assert_array_equal(*_bits([out, emulate(by_hand, (q, k, v))[0][0]]))
        # The mask's adds: into the bf16 scores in place (the softmax's other ADDs fold fp32 sums).
        tile_adds = [c.args[3] for c in compiled.program.commands
                     if c.kind == "VEC.ADD" and c.args[4] > 1 and not c.flags & Flag.DST_FP32]
        assert sum(tile_adds) == added_rows
