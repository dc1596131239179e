"""The GEMM unit (array + scratchpad streams + fp32 accumulate) against the emulator's GEMM.

The small config only: the 32x32 GEMM unit runs inside the atalla32 co-simulation (test_cosim); a
32x32 build of its own would add minutes."""

from __future__ import annotations

from atalla.config import CONFIGS
from cocotb_tests.scratchpad_model import model_config
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "systolic_array.sv", "gemm_unit.sv")


def test_random_gemms_match_the_emulator():
    cfg = model_config(CONFIGS["small"])
    dut = Dut("gemm_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/gemm_tb.sv"), cpp=("tb/scratchpad_model.cpp",),
              parameters=verilator_parameters(cfg, "gemm_tb"))
    tests, failures = run(dut, "cocotb_tests.tb_gemm", config=cfg, settings={"commands": 300})
    assert tests > 0 and failures == 0


def test_lint_clean():  # at atalla32 the whole design's lint covers the unit (cocotb_tests/test_cosim.py)
    result = lint(SOURCES, top="gemm_unit", parameters=verilator_parameters(CONFIGS["small"], "gemm_unit"))
    assert result.returncode == 0, result.stdout + result.stderr
