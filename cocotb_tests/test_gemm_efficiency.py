"""GEMM efficiency held by the regression: the bench's GEMMs (bench/run.py) and two odd shapes on the
RTL, checked bit for bit, each above a floor of its roofline just under what it reaches today
(cycle counts are deterministic), so a slower schedule fails here and not only in `make bench`'s
table; and the kernel's cost model, which chooses the tiling, within a few percent of each count."""

from __future__ import annotations

import pytest
import torch

from atalla.config import CONFIGS
from bench.run import Gemm, padded_tile_cycles, roofline_cycles
from compiler.driver import compile_model
from compiler.kernels.gemm import estimated_cycles
from golden.reference import golden_outputs
from runtime.check import check
from runtime.rtl.backend import RtlBackend

# (config, M, K, N) -> floor of roofline / cycles: the bench's shapes that cost seconds here. Raise a
# floor when a schedule gets faster (docs/performance.md has today's figures).
FLOORS = {("small", 256, 256, 256): 0.99, ("small", 100, 300, 70): 0.81, ("atalla32", 256, 256, 256): 0.92,
          ("atalla32", 512, 768, 256): 0.97, ("atalla32", 100, 300, 70): 0.45, ("atalla32", 200, 200, 200): 0.70,
          ("atalla32", 384, 96, 160): 0.84}
# The GEMM kernel's cost model picks its tiling; it must track what the RTL measures this closely.
COST_MODEL_TOLERANCE = 0.03


@pytest.mark.parametrize("config,m,k,n", sorted(FLOORS))
def test_gemm_cycles_and_efficiency_floor(config, m, k, n, tmp_path):
    cfg = CONFIGS[config]
    torch.manual_seed(0)
    module, a = Gemm(k, n), torch.randn(m, k)
    blob = compile_model(module, (a,), cfg, f"gemm{m}x{k}x{n}").blob()
    result = check(blob, [a.numpy()], golden_outputs(module, (a,)), RtlBackend(tmp_path, quiet=True))
    assert result.passed and result.bit_exact, result.mismatches
    cycles = result.stats["cycles"]
    assert roofline_cycles(m, k, n, cfg) / cycles >= FLOORS[config, m, k, n], f"{cycles} cycles"
    assert padded_tile_cycles(m, k, n, cfg) <= cycles  # a bound: no schedule beats it
    estimate = estimated_cycles(cfg, m, k, n)
    assert abs(estimate - cycles) <= COST_MODEL_TOLERANCE * cycles, f"cost model {estimate:.0f}, RTL {cycles} cycles"
