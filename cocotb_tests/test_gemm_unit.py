"""The GEMM unit (array + scratchpad streams + fp32 accumulate) against the emulator's GEMM."""

from __future__ import annotations

import os
import subprocess

import pytest

from atalla.config import CONFIGS
from cocotb_tests.sim import RTL, Dut, run, tool_env

SOURCES = ("fp/fp32_pkg.sv", "pe.sv", "systolic_array.sv", "gemm_unit.sv")


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_random_gemms_match_the_emulator(config):
    cfg = CONFIGS[config]
    dut = Dut("gemm_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/gemm_tb.sv"), cpp=("tb/scratchpad_model.cpp",),
              parameters=(("ROWS", cfg.array_rows), ("COLS", cfg.array_cols), ("LANES", cfg.lanes),
                          ("ROW_ADDR_BITS", 10)))
    env = {"GTB_ARRAY": str(cfg.array_rows), "GTB_LANES": str(cfg.lanes), "GTB_ROWS": str(1 << 10),
           "GTB_COMMANDS": "300" if config == "small" else "60"}
    tests, failures = run(dut, "cocotb_tests.tb_gemm", extra_env=env)
    assert tests > 0 and failures == 0


def test_lint_clean():
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "gemm_unit",
                             *(str(RTL / s) for s in SOURCES)], capture_output=True, text=True,
                            env={**os.environ, **tool_env()})
    assert result.returncode == 0, result.stderr
