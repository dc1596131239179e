"""The systolic array on both configs' shapes: constrained-random GEMM tiles bit exact against
atalla.numerics.gemm, back-to-back utilization, and lint."""

from __future__ import annotations

import os
import subprocess

import pytest

from atalla.config import CONFIGS
from runtime.rtl.build import RTL, Dut, run, tool_env

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "pe.sv", "systolic_array.sv")
# Random tiles per config: the 32x32 model is the slow one (a few thousand cycles/s).
TILES = {"small": 600, "atalla32": 200}


def array_dut(rows: int, cols: int) -> Dut:
    # Only the tb's signals marked public_flat_rw are visible: the array stays fully optimised.
    return Dut("array_tb", (*SOURCES, "tb/array_tb.sv"), parameters=(("ROWS", rows), ("COLS", cols)),
               extra_args=("--no-public-flat-rw",))


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_systolic_array(config):
    cfg = CONFIGS[config]
    tests, failures = run(array_dut(cfg.array_rows, cfg.array_cols), "cocotb_tests.tb_array",
                          extra_env={"ATB_ROWS": str(cfg.array_rows), "ATB_COLS": str(cfg.array_cols),
                                     "ATB_TILES": str(TILES[config]), "ATB_SEED": "1"})
    assert tests > 0 and failures == 0


@pytest.mark.parametrize("shape", [(8, 8), (32, 32), (3, 5)])
def test_lint_clean(shape):
    rows, cols = shape
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "systolic_array",
                             f"-GROWS={rows}", f"-GCOLS={cols}", *(str(RTL / s) for s in SOURCES)],
                            capture_output=True, text=True, env={**os.environ, **tool_env()})
    assert result.returncode == 0, result.stderr
