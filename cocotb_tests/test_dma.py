"""pytest entry for the DMA, DRAM and scratchpad RTL: lint, and the cocotb/pyuvm tests of tb_dma.py
on the "small" and "atalla32" hardware configs."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from atalla.config import get_config
from runtime.rtl.build import Dut, build, lint, run
from runtime.rtl.params import verilator_parameters

BLOCKS = ("dram", "scratchpad", "dma")
SOURCES = ("atalla_pkg.sv", *(f"{block}.sv" for block in BLOCKS), "tb/dma_tb.sv")
CONFIGS = ("small", "atalla32")
COUNT = {"small": 600, "atalla32": 300}


def dma_dut(config: str) -> Dut:
    return Dut("dma_tb", SOURCES, verilator_parameters(get_config(config), "dma_tb"), cpp=("dram_model.cpp",))


@pytest.fixture(scope="module")
def built() -> None:
    """Build both configurations at once (two cores), so the tests below only run. Under
    pytest-xdist each test builds its own instead (two workers must not build one directory)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        with ThreadPoolExecutor(len(CONFIGS)) as pool:
            list(pool.map(lambda c: build(dma_dut(c)), CONFIGS))


@pytest.mark.parametrize("config", CONFIGS)
def test_dma(built, config: str) -> None:
    tests, failures = run(dma_dut(config), "cocotb_tests.tb_dma", config=get_config(config),
                          settings={"count": COUNT[config]})
    assert tests > 0
    assert failures == 0


@pytest.mark.parametrize("config", CONFIGS)
def test_lint(config: str) -> None:
    cfg = get_config(config)
    for block in BLOCKS:
        result = lint(("atalla_pkg.sv", f"{block}.sv"), top=block, parameters=verilator_parameters(cfg, block))
        assert result.returncode == 0, f"{block}:\n{result.stdout}{result.stderr}"
    result = lint(SOURCES, top="dma_tb", parameters=verilator_parameters(cfg, "dma_tb"), timing=True)
    assert result.returncode == 0, f"dma_tb:\n{result.stdout}{result.stderr}"
