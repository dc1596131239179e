"""Helpers the Python tests share: one-op modules, compile-and-emulate, seeded inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from atalla import numerics as nu
from atalla.config import get_config
from compiler.driver import compile_model
from golden.reference import compare
from runtime.emulator import Emulator


class Fn(nn.Module):
    """Wraps a function of tensors as a module, for exporting one op at a time."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def emulate(module: nn.Module, inputs: tuple, config: str = "small", decompose: bool = False):
    """Compile and run on the emulator; returns (outputs, compiled, emulator)."""
    compiled = compile_model(module, inputs, get_config(config), "test", decompose=decompose)
    emu = Emulator(compiled.program)
    return emu.run([x.numpy() for x in inputs]), compiled, emu


def emulate_within_tolerance(module: nn.Module, inputs: tuple, decompose: bool = False):
    """Compile and run on the emulator, assert every output is within tolerance of PyTorch's;
    returns the compiled model."""
    outs, compiled, _ = emulate(module, inputs, decompose=decompose)
    golden = module(*inputs)
    for i, (got, want) in enumerate(zip(outs, golden if isinstance(golden, tuple) else (golden,))):
        assert compare(f"output{i}", got, want.detach().numpy()).passed
    return compiled


def randn(*shape, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def bits(x) -> np.ndarray:
    return np.asarray(x, np.float32).view(np.uint32)


def assert_same_bits(got, want):
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape
    diff = np.argwhere(bits(got) != bits(want))
    assert not len(diff), f"{len(diff)} elements differ, first at {diff[0].tolist()}: {got[tuple(diff[0])]} vs {want[tuple(diff[0])]}"


def lane_fold(op, tiles: list[np.ndarray]) -> np.ndarray:
    """op over the column tiles lane by lane, in order (a narrower last tile on its lanes only)."""
    acc = nu.flush(tiles[0].astype(np.float32))
    for t in tiles[1:]:
        acc = acc.copy()
        acc[:, : t.shape[1]] = op(acc[:, : t.shape[1]], t)
    return acc
