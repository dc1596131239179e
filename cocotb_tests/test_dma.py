"""pytest entry for the DMA, DRAM and scratchpad RTL: lint, and the cocotb/pyuvm tests of tb_dma.py
on the "small" and "atalla32" hardware configs."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from atalla.config import get_config
from cocotb_tests.dma_env import tb_parameters
from runtime.rtl.build import RTL, Dut, build, run, tool_env, verilator_root

SOURCES = ("dram.sv", "scratchpad.sv", "dma.sv", "tb/dma_tb.sv")
CONFIGS = ("small", "atalla32")
COUNT = {"small": 600, "atalla32": 300}


def dma_dut(config: str) -> Dut:
    return Dut("dma_tb", SOURCES, tb_parameters(get_config(config)), cpp=("dram_model.cpp",))


@pytest.fixture(scope="module")
def built() -> None:
    """Build both configurations at once (two cores), so the tests below only run. Under
    pytest-xdist each test builds its own instead (two workers must not build one directory)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        with ThreadPoolExecutor(len(CONFIGS)) as pool:
            list(pool.map(lambda c: build(dma_dut(c)), CONFIGS))


@pytest.mark.parametrize("config", CONFIGS)
def test_dma(built, config: str) -> None:
    tests, failures = run(dma_dut(config), "cocotb_tests.tb_dma",
                          extra_env={"ATALLA_CONFIG": config, "ATALLA_DMA_COUNT": str(COUNT[config])})
    assert tests > 0
    assert failures == 0


def _lint_params(config: str) -> dict[str, list[str]]:
    c = get_config(config)
    return {
        "scratchpad.sv": [f"-GSP_ROWS={c.sp_rows}", f"-GROW_BYTES={c.sp_row_bytes}", f"-GSP_BANKS={c.sp_banks}"],
        "dram.sv": [f"-GDRAM_BYTES=64'd{c.dram_bytes}", f"-GDRAM_LATENCY={c.dram_latency}",
                    f"-GBEAT_BYTES={c.dma_bytes_per_cycle}"],
        "dma.sv": [f"-GROW_BYTES={c.sp_row_bytes}", f"-GSP_ROWS={c.sp_rows}",
                   f"-GBEAT_BYTES={c.dma_bytes_per_cycle}", f"-GDRAM_BYTES=64'd{c.dram_bytes}"],
    }


@pytest.mark.parametrize("config", CONFIGS)
def test_lint(config: str) -> None:
    verilator = verilator_root() / "bin" / "verilator"
    for source, params in _lint_params(config).items():
        result = subprocess.run([str(verilator), "--lint-only", "-Wall", *params, str(RTL / source)],
                                env={**os.environ, **tool_env()}, capture_output=True, text=True)
        assert result.returncode == 0, f"{source}:\n{result.stdout}{result.stderr}"
    # The testbench too (not synthesizable: --timing for its clock).
    c = get_config(config)
    tb = [f"-G{k}={v}" for k, v in tb_parameters(c) if k != "DRAM_BYTES"] + [f"-GDRAM_BYTES=64'd{c.dram_bytes}"]
    result = subprocess.run([str(verilator), "--lint-only", "-Wall", "--timing", *tb, "--top-module", "dma_tb",
                             *(str(RTL / s) for s in SOURCES)],
                            env={**os.environ, **tool_env()}, capture_output=True, text=True)
    assert result.returncode == 0, f"dma_tb:\n{result.stdout}{result.stderr}"
