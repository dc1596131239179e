"""cocotb tests of the systolic array (rtl/tb/array_tb.sv): a pyuvm constrained-random GEMM test,
bit exact against atalla.numerics.gemm, and a utilization measurement of back-to-back tiles.

Environment: ATB_ROWS, ATB_COLS (the array's parameters), ATB_TILES (random tiles), ATB_SEED.
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np
import pyuvm
from pyuvm import ConfigDB, uvm_test

from cocotb_tests import array_env as env
from cocotb_tests.array_env import COLS, ROWS

TILES = int(os.environ.get("ATB_TILES", "300"))
SEED = int(os.environ.get("ATB_SEED", "1"))


@pyuvm.test()
class RandomGemmTest(uvm_test):
    """Constrained-random tiles (shapes, values, specials, stream gaps), scoreboarded bit exact."""

    def build_phase(self):
        ConfigDB().set(None, "*", "SEED", SEED)
        self.env = env.ArrayEnv("env", self)

    async def run_phase(self):
        self.raise_objection()
        start = time.perf_counter()
        await env.RandomTilesSeq("random", TILES, SEED).start(self.env.seqr)
        wall = time.perf_counter() - start
        cycles = sum(s.cycles for s in self.env.driver.stats)
        print(f"array {ROWS}x{COLS} random: {cycles} cycles in {wall:.2f} s "
              f"({cycles / wall:.0f} cycles/s including Python)")
        self.drop_objection()

    def final_phase(self):
        sb = self.env.scoreboard
        assert sb.tiles == TILES and sb.rows > 0, (sb.tiles, sb.rows)
        assert sb.mismatches == 0, f"{sb.mismatches} mismatches"


@cocotb.test()
async def back_to_back_utilization(dut):
    """64 tiles of m = 4*ROWS, full k and n, streamed without gaps: the PEs must be >= 95% busy."""
    rng = np.random.default_rng(SEED + 100)
    tiles = [env.random_tile(rng, f"t{i}", m=4 * ROWS, k=ROWS, n=COLS, mode="normal") for i in range(64)]
    await env.reset_done(dut)
    w_beats, a_beats = env.write_batch(tiles, rng)
    start = time.perf_counter()
    stats = await env.run_batch(dut, w_beats, a_beats)
    wall = time.perf_counter() - start
    last, bits = env.read_results(a_beats)
    expected = [env.golden(t) for t in tiles]
    assert np.array_equal(last, np.concatenate([e[0] for e in expected]))
    mismatches = int(np.sum(np.any(bits != np.concatenate([e[1] for e in expected]), axis=1)))
    print(f"array {ROWS}x{COLS} back to back: {len(tiles)} tiles x {4 * ROWS} rows, {stats.cycles} cycles, "
          f"{stats.macs} MACs, utilization {100 * stats.utilization:.2f}% (busy {stats.busy}, "
          f"stall {stats.stall} cycles), {mismatches} mismatching rows; "
          f"sim {stats.cycles / wall:.0f} cycles/s")
    assert mismatches == 0
    assert stats.stall <= ROWS + 1, stats  # only the first tile's weight load
    assert stats.utilization >= 0.95, stats


@cocotb.test()
async def short_tiles_back_to_back(dut):
    """Tiles of m == k == ROWS (the shortest that can hide the next weight load) run bubble-free."""
    rng = np.random.default_rng(SEED + 200)
    tiles = [env.random_tile(rng, f"t{i}", m=ROWS, k=ROWS, n=COLS, mode="normal") for i in range(32)]
    await env.reset_done(dut)
    w_beats, a_beats = env.write_batch(tiles, rng)
    stats = await env.run_batch(dut, w_beats, a_beats)
    last, bits = env.read_results(a_beats)
    expected = [env.golden(t) for t in tiles]
    assert np.array_equal(last, np.concatenate([e[0] for e in expected]))
    assert np.array_equal(bits, np.concatenate([e[1] for e in expected]))
    # Only the first tile's weight load and the final drain are not overlapped.
    print(f"array {ROWS}x{COLS} m=k={ROWS}: {stats.cycles} cycles for {a_beats} rows, stall {stats.stall}, "
          f"utilization {100 * stats.utilization:.2f}%")
    assert stats.cycles <= a_beats + ROWS + (ROWS + COLS) + 4, stats
