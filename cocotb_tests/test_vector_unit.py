"""The vector unit against the emulator's VEC model, on both configs' lane counts and latencies, and
with the pipeline's extremes (every function in one stage; a quotient bit or a lane per stage)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from atalla.config import CONFIGS
from atalla.numerics import DIV_QUOTIENT_BITS
from cocotb_tests.scratchpad_model import model_config
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "vector_unit.sv")
SMALL = CONFIGS["small"]
BENCH_CONFIGS = {
    "small": SMALL,
    "atalla32": CONFIGS["atalla32"],
    "one-stage": replace(SMALL, name="one-stage", vec_div_latency=1, vec_reduce_latency=1),
    "deepest": replace(SMALL, name="deepest", vec_div_latency=DIV_QUOTIENT_BITS, vec_reduce_latency=SMALL.lanes - 1),
}


# Each config is a build of its own: `make test` runs small and the deepest pipeline (every other
# function stays one stage in both); atalla32 (whose whole design runs in make test) and all in one
# stage are in `make test-long`.
LONG = ("atalla32", "one-stage")


@pytest.mark.parametrize("config", [pytest.param(c, marks=pytest.mark.long) if c in LONG else c
                                    for c in sorted(BENCH_CONFIGS)])
def test_random_commands_match_the_emulator(config):
    """Bit-exact with writes refused a quarter of the time (each refusal holds the pipeline), and
    each function's cycles with none refused."""
    cfg = model_config(BENCH_CONFIGS[config])
    dut = Dut("vector_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/vector_tb.sv"),
              parameters=verilator_parameters(cfg, "vector_tb"), cpp=("tb/scratchpad_model.cpp",))
    tests, failures = run(dut, "cocotb_tests.tb_vector", config=cfg, settings={"commands": 1500, "refuse": 0.25})
    assert tests == 2 and failures == 0


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_lint_clean(config):
    result = lint(SOURCES, top="vector_unit", parameters=verilator_parameters(CONFIGS[config], "vector_unit"))
    assert result.returncode == 0, result.stdout + result.stderr
