"""cocotb: random VEC commands on the vector unit, bit-exact against runtime.units.vec, with writes
refused at random (the pipeline holds); and each function's latency in cycles."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from atalla.isa import BMODE_SHIFT, REDUCE_FUNCS, UNARY_FUNCS, BMode, Flag, VecFunc
from cocotb_tests.scratchpad_model import fill, scratchpad
from runtime.emulator import units
from runtime.rtl.settings import bench_config, bench_settings

SEED = 1  # unless run(settings={"seed": ...}) says otherwise
# fp32 words DIV and the reductions treat apart: zeros, infinities, a NaN, a denormal, one.
SPECIALS = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x00000001, 0x3F800000],
                    dtype=np.uint32)


def latency_of(func: VecFunc, cfg) -> int:
    """The function's pipeline depth, from the operands' arrival to the row's write."""
    if func == VecFunc.DIV:
        return cfg.vec_div_latency
    return cfg.vec_reduce_latency if func in REDUCE_FUNCS else 1


async def refuse_writes(dut, rng: np.random.Generator, fraction: float) -> None:
    """Each cycle, refuse the unit's write of the next cycle with probability `fraction`."""
    while True:
        await FallingEdge(dut.clk_i)
        dut.refuse_next_i.value = int(rng.random() < fraction)


async def issue(dut, func: VecFunc, mode: BMode, fp32: tuple[bool, bool, bool], dst_row: int, a_row: int,
                b_word: int, rows: int, cols: int) -> int:
    """One command, from its start pulse to done_o; returns its cycles: from the clock edge that takes
    start_i to the one that raises done_o."""
    dst_fp32, a_fp32, b_fp32 = fp32
    dut.func_i.value, dut.bmode_i.value = int(func), int(mode)
    dut.dst_fp32_i.value, dut.a_fp32_i.value, dut.b_fp32_i.value = int(dst_fp32), int(a_fp32), int(b_fp32)
    dut.dst_row_i.value, dut.a_row_i.value, dut.b_word_i.value = dst_row, a_row, b_word
    dut.rows_i.value, dut.cols_i.value = rows, cols
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    started = int(dut.cycle_o.value)
    dut.start_i.value = 0
    await RisingEdge(dut.done_o)
    await ReadOnly()
    return int(dut.cycle_o.value) - started


@cocotb.test()
async def random_commands(dut):
    cfg, settings = bench_config(), bench_settings(seed=SEED, refuse=0.0)
    commands, lanes, row_bytes = settings["commands"], cfg.lanes, cfg.sp_row_bytes
    rng = np.random.default_rng(settings["seed"])
    sp = scratchpad(cfg)
    fill(sp, rng)
    words = sp.view("<u4")
    at = rng.random(words.size) < 0.03
    words[at] = rng.choice(SPECIALS, int(at.sum()))
    for _ in range(4):
        await RisingEdge(dut.clk_i)
    cocotb.start_soon(refuse_writes(dut, np.random.default_rng(settings["seed"] + 1), settings["refuse"]))
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

        await issue(dut, func, mode, (dst_fp32, a_fp32, b_fp32), dst_row, a_row, b_word, rows, cols)
        counts[func.name] = counts.get(func.name, 0) + 1
        if not np.array_equal(sp, model):
            at = int(np.flatnonzero(sp != model)[0])
            mismatches.append(f"command {i} {func.name} flags={flags:#x} rows={rows} cols={cols}: first "
                              f"difference at scratchpad byte {at} (row {at // row_bytes})")
            sp[:] = model  # keep going from the model's state
        await RisingEdge(dut.clk_i)
    refused = int(dut.refused_o.value)
    dut._log.info("vector unit %d lanes: %d commands (%s), %d writes refused, %d mismatches", lanes, commands,
                  ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), refused, len(mismatches))
    assert not mismatches, "\n".join(mismatches[:10])
    # The pipeline held when asked to; a latency-1 write is never refused (its read waits instead).
    assert (refused > 0) == (settings["refuse"] > 0 and max(cfg.vec_div_latency, cfg.vec_reduce_latency) > 1)


@cocotb.test()
async def latency_per_function(dut):
    """A command of R rows takes R + L cycles, L its function's latency (no write refused; measured
    as issue() counts them): one row a cycle through the pipeline, its depth paid once."""
    cfg = bench_config()
    rng = np.random.default_rng(SEED)
    sp = scratchpad(cfg)
    fill(sp, rng)
    for _ in range(4):
        await RisingEdge(dut.clk_i)
    dut.refuse_next_i.value = 0
    region = cfg.sp_rows // 4
    measured, wrong = {}, []
    for func in (VecFunc.ADD, VecFunc.DIV, VecFunc.ROWSUM, VecFunc.ROWMAX, VecFunc.EXP):
        for rows in (1, 2, 9):
            mode = BMode.TILE
            cycles = await issue(dut, func, mode, (True, False, False), 2 * region, 0, region, rows, cfg.lanes)
            await RisingEdge(dut.clk_i)
            measured[func.name, rows] = cycles
            if cycles != rows + latency_of(func, cfg):
                wrong.append(f"{func.name} of {rows} rows: {cycles} cycles, latency {latency_of(func, cfg)}")
    dut._log.info("cycles per command: %s", measured)
    assert not wrong, "\n".join(wrong)
