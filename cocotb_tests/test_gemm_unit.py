"""The GEMM unit (array + scratchpad streams + fp32 accumulate) against the emulator's GEMM.

The small config only: the 32x32 array has its own bench (test_systolic_array) and the 32x32 GEMM
unit runs inside the atalla32 co-simulation (test_cosim); a third 32x32 build would add minutes."""

from __future__ import annotations

import os
import subprocess

from atalla.config import CONFIGS
from runtime.rtl.build import RTL, Dut, run, tool_env

SOURCES = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "pe.sv", "systolic_array.sv", "gemm_unit.sv")


def test_random_gemms_match_the_emulator():
    cfg = CONFIGS["small"]
    dut = Dut("gemm_tb", (*SOURCES, "tb/scratchpad_model.sv", "tb/gemm_tb.sv"), cpp=("tb/scratchpad_model.cpp",),
              parameters=(("ROWS", cfg.array_rows), ("COLS", cfg.array_cols), ("LANES", cfg.lanes),
                          ("ROW_ADDR_BITS", 10)))
    env = {"GTB_ARRAY": str(cfg.array_rows), "GTB_LANES": str(cfg.lanes), "GTB_ROWS": str(1 << 10),
           "GTB_COMMANDS": "300"}
    tests, failures = run(dut, "cocotb_tests.tb_gemm", extra_env=env)
    assert tests > 0 and failures == 0


def test_lint_clean():
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "gemm_unit",
                             *(str(RTL / s) for s in SOURCES)], capture_output=True, text=True,
                            env={**os.environ, **tool_env()})
    assert result.returncode == 0, result.stderr
