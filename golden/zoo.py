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
    """sin has no Atalla kernel: the middle op runs on the host through the firmware."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 48)
        self.fc2 = nn.Linear(48, 16)

    def forward(self, x):
        return self.fc2(torch.sin(self.fc1(x)))


class BasicModule(nn.Module):
    """`depth` layers relu(x @ W + b), odd layers adding half their input back, then a Linear."""

    def __init__(self, dim: int = 32, depth: int = 2):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(dim, dim) / math.sqrt(dim)) for _ in range(depth))
        self.biases = nn.ParameterList(nn.Parameter(0.1 * torch.randn(dim)) for _ in range(depth))
        self.head = nn.Linear(dim, dim)

    def forward(self, x):
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out = torch.relu(x @ w + b)
            x = out + 0.5 * x if i % 2 else out
        return self.head(x)


class ViTMicro(nn.Module):
    """One pre-norm transformer block on patch embeddings: Linear patch embedding plus a learned
    position embedding; LayerNorm, single-head attention, projection and residual; LayerNorm, a
    D -> 2D -> D feed-forward with tanh GELU, and residual."""

    def __init__(self, dim: int = 32, tokens: int = 32):
        super().__init__()
        self.embed = nn.Linear(dim, dim)
        self.position = nn.Parameter(0.1 * torch.randn(1, tokens, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)
        self.scale = 1 / math.sqrt(dim)

    def forward(self, x):
        h = self.embed(x) + self.position
        a = self.norm1(h)
        q, k, v = self.q(a), self.k(a), self.v(a)
        h = h + self.proj(torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1) @ v)
        return h + self.fc2(nn.functional.gelu(self.fc1(self.norm2(h)), approximate="tanh"))


class AlexNetSmall(nn.Module):
    """AlexNet's layout at 1% of its channels (at least one each), for 32x32 images: five 3x3 convs
    (stride 1, padding 1) with ReLUs, 2x2 max-pools after the first, second and fifth, then three
    Linear layers, ReLUs after the first two."""

    def __init__(self, scale: float = 0.01, classes: int = 10):
        super().__init__()
        c = [3] + [max(1, int(ch * scale)) for ch in (64, 192, 384, 256, 256)]
        convs = [nn.Conv2d(c[i], c[i + 1], 3, padding=1) for i in range(5)]
        layers = []
        for i, conv in enumerate(convs):
            layers += [conv, nn.ReLU()] + ([nn.MaxPool2d(2)] if i in (0, 1, 4) else [])
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(c[5] * 4 * 4, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(),
                                        nn.Linear(40, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class GPT2Block(nn.Module):
    """A GPT-2 decoder block in plain PyTorch: pre-norm causal multi-head self-attention (one fused
    qkv projection split into heads) and a 4x MLP with tanh GELU, each with its residual."""

    def __init__(self, width: int = 768, heads: int = 12):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.fc_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2)
                   for t in self.qkv(self.ln_1(x)).split(width, dim=-1))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(batch, length, width))
        return x + self.fc_proj(nn.functional.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


def _gpt2_small() -> tuple[nn.Module, tuple]:
    from golden.hf import gpt2_small  # transformers, the models extra: only when this entry is built

    return gpt2_small(), (torch.randint(0, 50257, (1, 128)),)


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
    "basic_module": _seeded(lambda: (BasicModule(32, 2), (torch.randn(1, 32),))),
    "vit_micro": _seeded(lambda: (ViTMicro(32, 32), (torch.randn(1, 32, 32),))),
    "alexnet_small": _seeded(lambda: (AlexNetSmall(), (torch.randn(1, 3, 32, 32),))),
    "gpt2_block": _seeded(lambda: (GPT2Block(768, 12), (torch.randn(1, 128, 768),))),
    "gpt2": _seeded(_gpt2_small),
}
# Too big for the small config's DRAM and minutes on the emulator: `make bench` runs them on atalla32
# (bench/run.py), the regression a reduced-width GPT-2; the loops over the zoo take the rest.
LARGE_MODELS = frozenset({"gpt2_block", "gpt2"})
REGRESSION_MODELS = tuple(sorted(set(ZOO) - LARGE_MODELS))


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
