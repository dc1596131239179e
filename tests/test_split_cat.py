"""split/chunk/unbind as views, cat/stack as DMA copies into one buffer, and an attention block of
linear + sdpa + split/cat with no host op."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atalla.isa import Opcode
from compiler.partition import ATALLA, HOST, VIEW
from golden.zoo import MultiHeadAttention
from tests.helpers import Fn, emulate, emulate_within_tolerance, randn


@pytest.mark.parametrize("decompose", [False, True])
def test_split_chunk_unbind_are_views_and_cat_stack_copy(decompose):
    def fn(x):
        a, b = x.chunk(2, dim=-1)
        first, *_ = x.unbind(1)
        _, rest = x.split([1, 4], dim=1)
        odd = x.split(2, dim=-1)[-1]
        return torch.cat([a, b * 2.0, odd], dim=-1), torch.stack([first, rest[:, 1] + 1.0], dim=1)

    compiled = emulate_within_tolerance(Fn(fn), (randn(3, 5, 7),), decompose)
    where = {p.target: p.where for p in compiled.placements}
    assert not [p for p in compiled.placements if p.where == HOST]
    assert where.get("aten.chunk.default", VIEW) == VIEW and where["aten.cat.default"] == ATALLA
    assert where["aten.stack.default" if not decompose else "aten.cat.default"] == ATALLA


def test_cat_of_one_part_and_of_one_element_dims():
    emulate_within_tolerance(Fn(lambda x, y: (torch.cat([x], 0) + 1.0, torch.cat([x[:, :1], y], 1))), (randn(1, 3), randn(1, 1)))


class HeadsConcatenated(nn.Module):
    """Per-head attention written out: the heads split off a fused qkv linear and joined by cat."""

    def __init__(self, d_model=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)

    def forward(self, x):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)
        heads = [F.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
                 for qh, kh, vh in zip(q.chunk(self.heads, -1), k.chunk(self.heads, -1), v.chunk(self.heads, -1))]
        return self.out(torch.cat(heads, dim=-1)) + x


@pytest.mark.parametrize("decompose", [False, True])
@pytest.mark.parametrize("build", [lambda: HeadsConcatenated(), lambda: MultiHeadAttention(16, 4)])
def test_attention_block_has_no_host_op(build, decompose):
    torch.manual_seed(0)
    module = build()
    compiled = emulate_within_tolerance(module, (randn(2, 5, 16),), decompose)
    assert not [p for p in compiled.placements if p.where == HOST], compiled.partition_report()
    assert ", 0 on host" in compiled.partition_report().splitlines()[0]
    assert not [c for c in compiled.program.commands if c.op == Opcode.HOST]


@pytest.mark.parametrize("decompose", [False, True])
def test_heads_joined_by_transpose_reshape_need_no_copy(decompose):
    module, inputs = MultiHeadAttention(16, 4), (randn(2, 5, 16),)
    compiled = emulate_within_tolerance(module, inputs, decompose)
    assert not [b for b in compiled.program.tensors if "contiguous" in b.name]


class HandWrittenHeads(MultiHeadAttention):
    """MultiHeadAttention with the attention written out: the same kernels, so the same bits."""

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in self.qkv(x).split(width, dim=-1))
        causal = torch.zeros(length, length).masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), -math.inf)
        y = torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1])) + causal, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(batch, length, width)) + x


def test_hand_written_heads_equal_sdpa_bit_for_bit_and_join_without_a_copy():
    torch.manual_seed(0)
    sdpa, inputs = MultiHeadAttention(16, 4), (randn(2, 5, 16),)
    by_hand = HandWrittenHeads(16, 4)
    by_hand.load_state_dict(sdpa.state_dict())
    outs = [emulate(m, inputs)[0][0] for m in (sdpa, by_hand)]
    np.testing.assert_array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))
    compiled = emulate_within_tolerance(by_hand, inputs)
    assert not [b for b in compiled.program.tensors if "contiguous" in b.name]


def test_parts_computed_for_a_join_are_written_in_place():
    torch.manual_seed(0)
    module, inputs = HeadsConcatenated(), (randn(2, 5, 16),)
    compiled = emulate_within_tolerance(module, inputs)
    names = {b.name for b in compiled.program.tensors}
    assert "cat" in names and not {"scaled_dot_product_attention", "scaled_dot_product_attention_1"} & names


@pytest.mark.parametrize("decompose", [False, True])
def test_joined_and_head_inner_results_of_every_kernel(decompose):
    torch.manual_seed(0)
    w, b = randn(6, 5, seed=1), randn(5, seed=2)

    def fn(x, y):
        heads = (x @ w).transpose(1, 2).reshape(2, 4, 15)  # a 4-D matmul by 2-D weights, heads inner
        parts = [torch.relu(y), torch.softmax(y, -1), torch.exp(y * 0.1), y @ w[:3, :3] + b[:3]]
        return heads, torch.cat(parts, dim=-1), torch.stack([y + 1.0, y - 1.0], dim=0)

    emulate_within_tolerance(Fn(fn), (randn(2, 3, 4, 6, seed=3), randn(2, 4, 3, seed=4)), decompose)


@pytest.mark.parametrize("decompose", [False, True])
def test_a_part_joined_twice_and_joins_inside_joins(decompose):
    def fn(x):
        twice = torch.cat([torch.relu(x), torch.exp(x)] * 2, 0)
        nested = torch.stack([torch.cat([x * 2.0, x], 1), torch.cat([x, x + 1.0], 1)], 0)
        return twice, nested

    emulate_within_tolerance(Fn(fn), (randn(3, 4),), decompose)
