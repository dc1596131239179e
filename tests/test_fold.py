"""Constant folding (compiler.fold): values that depend only on shapes and constants are computed
at compile time and never reach the host."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atalla.blob_format import Role
from compiler.errors import CompileError
from compiler.partition import FOLDED, HOST
from tests.helpers import Fn, emulate, emulate_within_tolerance, randn


class PositionalEmbedding(nn.Module):
    """GPT-2's positions: embedding of a constant table with ids from arange, cast, added."""

    def __init__(self, positions: int = 16, width: int = 24):
        super().__init__()
        self.wpe = nn.Embedding(positions, width)

    def forward(self, x):
        ids = torch.arange(x.shape[1]).unsqueeze(0)
        return x + self.wpe(ids).to(torch.float32)


@pytest.mark.parametrize("decompose", [False, True])
def test_embedding_of_arange_positions_is_folded(decompose):
    torch.manual_seed(0)
    compiled = emulate_within_tolerance(PositionalEmbedding(), (randn(2, 7, 24),), decompose)
    assert not [p for p in compiled.placements if p.where == HOST]
    folded = {p.target for p in compiled.placements if p.where == FOLDED}
    assert any("arange" in t for t in folded) and "aten.embedding.default" in folded
    assert "partition of 'test'" in compiled.partition_report() and "folded at compile time" in compiled.partition_report()


def test_masks_from_full_triu_and_comparisons_are_folded():
    def fn(x):
        n = x.shape[-1]
        causal = torch.full((n, n), -1e4).triu(1)
        rows = torch.arange(n).unsqueeze(1) >= torch.arange(n)
        return x + causal + torch.where(rows, 0.0, 1.0) + torch.ones(n).new_zeros(n) + torch.zeros(1, n).expand(n, n)
    compiled = emulate_within_tolerance(Fn(fn), (randn(3, 5, 5),))
    assert [p.where for p in compiled.placements if p.target.startswith("aten.add")] == ["atalla"] * 4
    assert not [p for p in compiled.placements if p.where == HOST]


def test_a_broadcast_constant_is_stored_once():
    compiled = emulate_within_tolerance(Fn(lambda x: x * torch.ones(1, 9).expand(64, 9)), (randn(64, 9),))
    constants = [t for t in compiled.program.tensors if t.role == Role.CONSTANT]
    assert [tuple(t.shape) for t in constants] == [(1, 9)]


def test_weights_read_in_place_are_not_folded():
    torch.manual_seed(0)
    compiled = emulate_within_tolerance(nn.Linear(8, 4), (randn(3, 8),), decompose=True)
    assert not [p for p in compiled.placements if p.where == FOLDED]


def test_an_integer_constant_that_would_reach_dram_is_a_clear_error():
    with pytest.raises(CompileError, match=r"node add .*compile-time torch.int64 value of node arange .*DRAM"):
        emulate(Fn(lambda x: x + torch.arange(4)), (randn(2, 4),))


def test_a_folded_graph_output_is_copied_into_its_own_tensor():
    (out, ones), compiled, _ = emulate(Fn(lambda x: (x * 2.0, torch.ones(2, 3).triu())), (randn(2, 3),))
    assert (ones == torch.ones(2, 3).triu().numpy()).all()


@pytest.mark.parametrize("decompose", [False, True])
def test_constants_shaped_like_a_run_time_tensor_are_folded(decompose):
    def fn(x):
        return x + torch.ones_like(x) + torch.full_like(x, 0.5) * x.new_full((x.shape[-1],), 2.0) - x.new_zeros(1)
    compiled = emulate_within_tolerance(Fn(fn), (randn(3, 5),), decompose)
    assert not [p for p in compiled.placements if p.where == HOST], compiled.partition_report()


@pytest.mark.parametrize("decompose", [False, True])
def test_a_float32_cast_of_a_run_time_tensor_is_the_tensor(decompose):
    compiled = emulate_within_tolerance(Fn(lambda x: x.to(torch.float32).float() * 2.0), (randn(3, 5),), decompose)
    assert [p.where for p in compiled.placements if p.where != FOLDED].count("atalla") == 1


@pytest.mark.parametrize("decompose", [False, True])
def test_a_cast_that_changes_the_values_is_not_the_tensor(decompose):
    """(x * 2).long() truncates: not a view of x * 2 (its floats would come out as they are)."""
    with pytest.raises(CompileError, match=r"node (to|_to_copy): .*host op aten\.(to\.dtype|_to_copy\.default)"):
        emulate(Fn(lambda x: (x * 2).long()), (randn(3, 5),), decompose=decompose)
