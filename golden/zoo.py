"""The model zoo: each entry a factory returning (module, example_inputs), seeded and deterministic.

Users bring their own models the same way: MODEL may be `path/to/file.py:factory`.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes=(784, 256, 10)):
        super().__init__()
        self.fc1 = nn.Linear(sizes[0], sizes[1])
        self.fc2 = nn.Linear(sizes[1], sizes[2])

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=-1)


class SelfAttention(nn.Module):
    """Single-head self-attention with a residual connection."""

    def __init__(self, d_model: int = 32):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.scale = 1 / math.sqrt(d_model)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        attn = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return attn @ v + x


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention: a fused qkv projection split into heads, sdpa, the heads
    joined back, an output projection and a residual connection."""

    def __init__(self, d_model: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in self.qkv(x).split(width, dim=-1))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, length, width)) + x


class HostFallback(nn.Module):
    """GELU has no Atalla kernel: the middle op runs on the host through the firmware."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 48)
        self.fc2 = nn.Linear(48, 16)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


def _seeded(build: Callable[[], tuple[nn.Module, tuple]]) -> Callable[[], tuple[nn.Module, tuple]]:
    def factory():
        torch.manual_seed(0)
        return build()

    factory.__doc__ = build.__doc__
    return factory


ZOO: dict[str, Callable[[], tuple[nn.Module, tuple]]] = {
    "mlp": _seeded(lambda: (MLP(), (torch.randn(32, 784),))),
    "attention": _seeded(lambda: (SelfAttention(32), (torch.randn(2, 16, 32),))),
    "mha": _seeded(lambda: (MultiHeadAttention(32, 4), (torch.randn(2, 12, 32),))),
    "host_fallback": _seeded(lambda: (HostFallback(), (torch.randn(8, 64),))),
}


def load_model(spec: str) -> tuple[str, nn.Module, tuple]:
    """A zoo name, or `path/to/file.py:factory` where factory() returns (module, example_inputs)."""
    if spec in ZOO:
        module, inputs = ZOO[spec]()
        return spec, module, inputs
    path, sep, attr = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise ValueError(f"unknown model {spec!r}: not in the zoo ({', '.join(ZOO)}) and not path/to/file.py:factory")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"model {spec!r}: no file {path}")
    mod_spec = importlib.util.spec_from_file_location(f"user_model_{file.stem}", file)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"model {spec!r}: {path} has no function {attr!r}")
    result = factory()
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)):
        raise ValueError(f"model {spec!r}: {attr}() must return (nn.Module, example_inputs)")
    module, inputs = result
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    return f"{file.stem}:{attr}", module, inputs
