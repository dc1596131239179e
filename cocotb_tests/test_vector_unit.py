"""The vector unit against the emulator's VEC model, on both configs' lane counts."""

from __future__ import annotations

import pytest

from atalla.config import CONFIGS
from cocotb_tests.scratchpad_model import model_config
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "vector_unit.sv")


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_random_commands_match_the_emulator(config):
    cfg = model_config(CONFIGS[config])
    dut = Dut("vector_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/vector_tb.sv"),
              parameters=verilator_parameters(cfg, "vector_tb"), cpp=("tb/scratchpad_model.cpp",))
    tests, failures = run(dut, "cocotb_tests.tb_vector", config=cfg, settings={"commands": 1500})
    assert tests > 0 and failures == 0


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_lint_clean(config):
    result = lint(SOURCES, top="vector_unit", parameters=verilator_parameters(CONFIGS[config], "vector_unit"))
    assert result.returncode == 0, result.stdout + result.stderr
