"""The systolic array on both configs' shapes: constrained-random GEMM tiles bit exact against
atalla.numerics.gemm, back-to-back utilization, and lint."""

from __future__ import annotations

from dataclasses import replace

import pytest

from atalla.config import CONFIGS, HardwareConfig
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "systolic_array.sv")
# Random tiles per config: the 32x32 model is the slow one (a few thousand cycles/s).
TILES = {"small": 600, "atalla32": 200}
# A non-square array of odd sizes too: a ROWS/COLS mix-up or a power-of-two assumption lints clean at 8x8.
ODD_SHAPE = replace(CONFIGS["small"], name="odd-array", array_rows=3, array_cols=5)


def array_dut(cfg: HardwareConfig) -> Dut:
    # Only the tb's signals marked public_flat_rw are visible: the array stays fully optimised.
    return Dut("array_tb", (*SOURCES, "tb/array_tb.sv"), parameters=verilator_parameters(cfg, "array_tb"),
               extra_args=("--no-public-flat-rw",))


# The 32x32 array's own bench is a build of its own (about a minute alone, since the PE grid is one
# loop): in `make test-long`; in `make test` the whole atalla32 design's runs cover the 32x32 array.
@pytest.mark.parametrize("config", ["small", pytest.param("atalla32", marks=pytest.mark.long)])
def test_systolic_array(config):
    cfg = CONFIGS[config]
    tests, failures = run(array_dut(cfg), "cocotb_tests.tb_array", config=cfg, settings={"tiles": TILES[config]})
    assert tests > 0 and failures == 0


# At atalla32 the whole design's lint covers the array (cocotb_tests/test_cosim.py).
@pytest.mark.parametrize("cfg", [CONFIGS["small"], ODD_SHAPE], ids=lambda c: c.name)
def test_lint_clean(cfg):
    result = lint(SOURCES, top="systolic_array", parameters=verilator_parameters(cfg, "systolic_array"))
    assert result.returncode == 0, result.stdout + result.stderr
