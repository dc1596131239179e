"""cocotb: random GEMM commands on the GEMM unit (scratchpad -> array -> accumulate), bit-exact
against runtime.units.gemm."""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from cocotb_tests.scratchpad_model import fill, scratchpad
from runtime import units

ARRAY = int(os.environ["GTB_ARRAY"])
LANES = int(os.environ["GTB_LANES"])
ROWS = int(os.environ["GTB_ROWS"])
COMMANDS = int(os.environ.get("GTB_COMMANDS", "300"))
ROW_BYTES = 2 * LANES


@cocotb.test()
async def random_gemms(dut):
    rng = np.random.default_rng(int(os.environ.get("GTB_SEED", "2")))
    sp = scratchpad(ROWS, ROW_BYTES)
    fill(sp, rng, raw_fraction=0.01)
    for _ in range(4):
        await RisingEdge(dut.clk_i)
    third = ROWS // 3
    mismatches, macs, cycles = [], 0, 0
    for i in range(COMMANDS):
        m, k, n = int(rng.integers(1, 3 * ARRAY)), int(rng.integers(1, ARRAY + 1)), int(rng.integers(1, ARRAY + 1))
        accumulate = bool(rng.integers(0, 2))
        a_row, b_row = int(rng.integers(0, third - m)), third + int(rng.integers(0, third - k))
        c_row = 2 * third + 2 * int(rng.integers(0, (third - 2 * m) // 2))
        model = sp.copy()
        units.gemm(model, a_row * ROW_BYTES, b_row * ROW_BYTES, c_row * ROW_BYTES, m, k, n, accumulate, ROW_BYTES)
        dut.a_row_i.value, dut.b_row_i.value, dut.c_row_i.value = a_row, b_row, c_row
        dut.m_i.value, dut.k_i.value, dut.n_i.value, dut.accumulate_i.value = m, k, n, int(accumulate)
        dut.start_i.value = 1
        await RisingEdge(dut.clk_i)
        dut.start_i.value = 0
        start = cocotb.utils.get_sim_time("ns")
        await RisingEdge(dut.done_o)
        await ReadOnly()
        cycles += int((cocotb.utils.get_sim_time("ns") - start) // 10)
        macs += m * k * n
        if not np.array_equal(sp, model):
            word = int(np.flatnonzero(sp.view("<u4") != model.view("<u4"))[0])
            row, col = divmod(word * 4 - c_row * ROW_BYTES, 2 * ROW_BYTES)
            mismatches.append(f"GEMM {i} m={m} k={k} n={n} acc={accumulate}: first wrong C[{row}][{col // 4}]: "
                              f"rtl {sp.view('<u4')[word]:#010x}, model {model.view('<u4')[word]:#010x}")
            sp[:] = model
        await RisingEdge(dut.clk_i)
    dut._log.info("gemm unit %dx%d: %d commands, %d MACs in %d cycles, %d mismatches",
                  ARRAY, ARRAY, COMMANDS, macs, cycles, len(mismatches))
    assert not mismatches, "\n".join(mismatches[:10])
