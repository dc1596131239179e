"""The vector unit against the emulator's VEC model, on both configs' lane counts."""

from __future__ import annotations

import subprocess

import pytest

from atalla.config import CONFIGS
from runtime.rtl.build import RTL, Dut, run, tool_env

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "vector_unit.sv")


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_random_commands_match_the_emulator(config):
    lanes = CONFIGS[config].lanes
    dut = Dut("vector_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/vector_tb.sv"), parameters=(("LANES", lanes), ("ROW_ADDR_BITS", 10)),
              cpp=("tb/scratchpad_model.cpp",))
    tests, failures = run(dut, "cocotb_tests.tb_vector",
                          extra_env={"VTB_LANES": str(lanes), "VTB_ROWS": str(1 << 10)})
    assert tests > 0 and failures == 0


def test_lint_clean():
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "vector_unit",
                             *(str(RTL / s) for s in SOURCES)], capture_output=True, text=True,
                            env={**__import__("os").environ, **tool_env()})
    assert result.returncode == 0, result.stderr
