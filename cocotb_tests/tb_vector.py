"""cocotb: random VEC commands on the vector unit, bit-exact against runtime.units.vec."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from atalla.isa import BMODE_SHIFT, UNARY_FUNCS, BMode, Flag, VecFunc
from cocotb_tests.scratchpad_model import fill, scratchpad
from runtime.emulator import units
from runtime.rtl.settings import bench_config, bench_settings

SEED = 1  # unless run(settings={"seed": ...}) says otherwise


@cocotb.test()
async def random_commands(dut):
    cfg, settings = bench_config(), bench_settings(seed=SEED)
    commands, lanes, row_bytes = settings["commands"], cfg.lanes, cfg.sp_row_bytes
    rng = np.random.default_rng(settings["seed"])
    sp = scratchpad(cfg)
    fill(sp, rng)
    for _ in range(4):
        await RisingEdge(dut.clk_i)
    region = cfg.sp_rows // 4  # a, b and dst live in separate quarters unless the command is in place
    mismatches, counts = [], {}
    for i in range(commands):
        func = VecFunc(int(rng.integers(0, len(VecFunc))))
        a_fp32, b_fp32, dst_fp32 = (bool(rng.integers(0, 2)) for _ in range(3))
        mode = BMode.TILE if func in UNARY_FUNCS else BMode(int(rng.integers(0, 4)))
        rows, cols = int(rng.integers(1, 7)), int(rng.integers(1, lanes + 1))
        a_row = int(rng.integers(0, region - 2 * rows))
        b_row = region + int(rng.integers(0, region - 2 * rows))
        in_place = func not in (VecFunc.ROWSUM, VecFunc.ROWMAX) and rng.random() < 0.2
        dst_row, dst_fp32 = (a_row, a_fp32) if in_place else (2 * region + int(rng.integers(0, region - 2 * rows)),
                                                              dst_fp32)
        b_word = int(rng.integers(0, 2**32)) if mode == BMode.SCALAR else b_row
        if mode == BMode.SCALAR and rng.random() < 0.8:
            b_word = int(np.float32(rng.standard_normal() * 4).view(np.uint32))
        flags = (Flag.DST_FP32 if dst_fp32 else 0) | (Flag.A_FP32 if a_fp32 else 0) | \
                (Flag.B_FP32 if b_fp32 else 0) | int(mode) << BMODE_SHIFT
        model = sp.copy()
        b_addr = b_word if mode == BMode.SCALAR else b_row * row_bytes
        units.vec(model, func, flags, dst_row * row_bytes, a_row * row_bytes, b_addr, rows, cols, row_bytes)

        dut.func_i.value, dut.bmode_i.value = int(func), int(mode)
        dut.dst_fp32_i.value, dut.a_fp32_i.value, dut.b_fp32_i.value = int(dst_fp32), int(a_fp32), int(b_fp32)
        dut.dst_row_i.value, dut.a_row_i.value, dut.b_word_i.value = dst_row, a_row, b_word
        dut.rows_i.value, dut.cols_i.value = rows, cols
        dut.start_i.value = 1
        await RisingEdge(dut.clk_i)
        dut.start_i.value = 0
        await RisingEdge(dut.done_o)
        await ReadOnly()
        counts[func.name] = counts.get(func.name, 0) + 1
        if not np.array_equal(sp, model):
            at = int(np.flatnonzero(sp != model)[0])
            mismatches.append(f"command {i} {func.name} flags={flags:#x} rows={rows} cols={cols}: first "
                              f"difference at scratchpad byte {at} (row {at // row_bytes})")
            sp[:] = model  # keep going from the model's state
        await RisingEdge(dut.clk_i)
    dut._log.info("vector unit %d lanes: %d commands (%s), %d mismatches", lanes, commands,
                  ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), len(mismatches))
    assert not mismatches, "\n".join(mismatches[:10])
