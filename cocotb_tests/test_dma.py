"""pytest entry for the DMA, DRAM and scratchpad RTL: lint, and the cocotb/pyuvm tests of tb_dma.py
on the "small" and "atalla32" hardware configs."""

from __future__ import annotations

import pytest

from atalla.config import get_config
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

BLOCKS = ("dram", "scratchpad", "dma")
SOURCES = ("atalla_pkg.sv", *(f"{block}.sv" for block in BLOCKS), "tb/dma_tb.sv")
CONFIGS = ("small", "atalla32")
COUNT = {"small": 600, "atalla32": 300}


def dma_dut(config: str) -> Dut:
    return Dut("dma_tb", SOURCES, verilator_parameters(get_config(config), "dma_tb"), cpp=("dram_model.cpp",))


# The atalla32 bench is in `make test-long`: in `make test` the whole atalla32 design's runs cover its DMA.
@pytest.mark.parametrize("config", ["small", pytest.param("atalla32", marks=pytest.mark.long)])
def test_dma(config: str) -> None:
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
