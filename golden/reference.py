"""PyTorch fp32 goldens and the comparison every backend is judged by (docs/numerics.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

# A bf16 pipeline meets fp32 PyTorch when both hold (docs/numerics.md, "Tolerance"):
MIN_COSINE = 0.999
MAX_ABS_ERR_OF_RANGE = 2.0**-5  # max |out - golden| as a fraction of max |golden|


def golden_outputs(module: torch.nn.Module, inputs: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        out = module.eval()(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().float().numpy() for o in outs]


@dataclass(frozen=True)
class Comparison:
    name: str
    shape: tuple[int, ...]
    cosine: float
    max_abs_err: float
    max_rel_err: float  # over elements with |golden| >= 1% of max |golden|
    abs_tolerance: float
    first_bad_index: tuple[int, ...] | None  # first element over tolerance, row-major
    passed: bool

    def as_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["first_bad_index"] = list(self.first_bad_index) if self.first_bad_index is not None else None
        return d


def compare(name: str, got: np.ndarray, golden: np.ndarray) -> Comparison:
    got64, ref64 = np.asarray(got, np.float64), np.asarray(golden, np.float64)
    if got64.shape != ref64.shape:
        raise ValueError(f"output {name}: shape {got64.shape} but the golden is {ref64.shape}")
    scale = float(np.abs(ref64).max()) if ref64.size else 0.0
    tol = MAX_ABS_ERR_OF_RANGE * scale
    finite = np.isfinite(got64).all()
    err = np.abs(got64 - ref64) if finite else np.full(ref64.shape, np.inf)
    denom = np.linalg.norm(got64) * np.linalg.norm(ref64) if finite else 0.0
    cosine = float(np.dot(got64.ravel(), ref64.ravel()) / denom) if denom > 0 else float(finite and scale == 0.0)
    significant = (np.abs(ref64) >= 0.01 * scale) & (ref64 != 0)  # relative error of a zero is meaningless
    max_rel = float((err[significant] / np.abs(ref64[significant])).max()) if significant.any() else 0.0
    bad = np.argwhere(err > tol)
    max_abs = float(err.max()) if err.size else 0.0
    passed = bool(finite and cosine >= MIN_COSINE and max_abs <= tol)
    return Comparison(name, tuple(ref64.shape), cosine, max_abs, max_rel, tol,
                      tuple(int(i) for i in bad[0]) if len(bad) else None, passed)
