"""The GEMM unit (array + scratchpad streams + fp32 accumulate) against the emulator's GEMM.

The small config only: the 32x32 array has its own bench (test_systolic_array) and the 32x32 GEMM
unit runs inside the atalla32 co-simulation (test_cosim); a third 32x32 build would add minutes."""

from __future__ import annotations

import pytest

from atalla.config import CONFIGS
from cocotb_tests.scratchpad_model import model_config
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "pe.sv", "systolic_array.sv", "gemm_unit.sv")


def test_random_gemms_match_the_emulator():
    cfg = model_config(CONFIGS["small"])
    dut = Dut("gemm_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/gemm_tb.sv"), cpp=("tb/scratchpad_model.cpp",),
              parameters=verilator_parameters(cfg, "gemm_tb"))
    tests, failures = run(dut, "cocotb_tests.tb_gemm", config=cfg, settings={"commands": 300})
    assert tests > 0 and failures == 0


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_lint_clean(config):
    result = lint(SOURCES, top="gemm_unit", parameters=verilator_parameters(CONFIGS[config], "gemm_unit"))
    assert result.returncode == 0, result.stdout + result.stderr
