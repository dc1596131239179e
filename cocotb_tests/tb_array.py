"""cocotb tests of the systolic array (rtl/tb/array_tb.sv): a pyuvm constrained-random GEMM test,
bit exact against atalla.numerics.gemm, and a utilization measurement of back-to-back tiles.

Run with the hardware config whose array_tb was built (run(config=...)) and the settings tiles
(random tiles) and, optionally, seed.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
import pyuvm
from pyuvm import ConfigDB, uvm_test

from cocotb_tests import array_env as env
from runtime.rtl.settings import bench_config, bench_settings

SEED = 1  # unless run(settings={"seed": ...}) says otherwise


@pyuvm.test()
class RandomGemmTest(uvm_test):
    """Constrained-random tiles (shapes, values, specials, stream gaps), scoreboarded bit exact."""

    def build_phase(self):
        settings = bench_settings(seed=SEED)
        self.tiles, self.seed = settings["tiles"], settings["seed"]
        self.tb = env.ArrayTb(cocotb.top, bench_config())
        ConfigDB().set(None, "*", "TB", self.tb)
        ConfigDB().set(None, "*", "SEED", self.seed)
        self.env = env.ArrayEnv("env", self)

    async def run_phase(self):
        self.raise_objection()
        start = time.perf_counter()
        await env.RandomTilesSeq("random", self.tiles, self.seed).start(self.env.seqr)
        wall = time.perf_counter() - start
        cycles = sum(s.cycles for s in self.env.driver.stats)
        print(f"array {self.tb.rows}x{self.tb.cols} random: {cycles} cycles in {wall:.2f} s "
              f"({cycles / wall:.0f} cycles/s including Python)")
        self.drop_objection()

    def final_phase(self):
        sb = self.env.scoreboard
        assert sb.tiles == self.tiles and sb.rows > 0, (sb.tiles, sb.rows)
        assert sb.mismatches == 0, f"{sb.mismatches} mismatches"


@cocotb.test()
async def back_to_back_utilization(dut):
    """64 tiles of m = 4*ROWS, full k and n, streamed without gaps: the PEs must be >= 95% busy."""
    tb = env.ArrayTb(dut, bench_config())
    rows, cols = tb.rows, tb.cols
    rng = np.random.default_rng(bench_settings(seed=SEED)["seed"] + 100)
    tiles = [tb.random_tile(rng, f"t{i}", m=4 * rows, k=rows, n=cols, mode="normal") for i in range(64)]
    await tb.reset_done()
    w_beats, a_beats = tb.write_batch(tiles, rng)
    start = time.perf_counter()
    stats = await tb.run_batch(w_beats, a_beats)
    wall = time.perf_counter() - start
    last, bits = tb.read_results(a_beats)
    expected = [tb.golden(t) for t in tiles]
    assert np.array_equal(last, np.concatenate([e[0] for e in expected]))
    mismatches = int(np.sum(np.any(bits != np.concatenate([e[1] for e in expected]), axis=1)))
    print(f"array {rows}x{cols} back to back: {len(tiles)} tiles x {4 * rows} rows, {stats.cycles} cycles, "
          f"{stats.macs} MACs, utilization {100 * stats.utilization:.2f}% (busy {stats.busy}, "
          f"stall {stats.stall} cycles), {mismatches} mismatching rows; "
          f"sim {stats.cycles / wall:.0f} cycles/s")
    assert mismatches == 0
    assert stats.stall <= rows + 1, stats  # only the first tile's weight load
    assert stats.utilization >= 0.95, stats


@cocotb.test()
async def short_tiles_back_to_back(dut):
    """Tiles of m == k == ROWS (the shortest that can hide the next weight load) run bubble-free."""
    tb = env.ArrayTb(dut, bench_config())
    rows, cols = tb.rows, tb.cols
    rng = np.random.default_rng(bench_settings(seed=SEED)["seed"] + 200)
    tiles = [tb.random_tile(rng, f"t{i}", m=rows, k=rows, n=cols, mode="normal") for i in range(32)]
    await tb.reset_done()
    w_beats, a_beats = tb.write_batch(tiles, rng)
    stats = await tb.run_batch(w_beats, a_beats)
    last, bits = tb.read_results(a_beats)
    expected = [tb.golden(t) for t in tiles]
    assert np.array_equal(last, np.concatenate([e[0] for e in expected]))
    assert np.array_equal(bits, np.concatenate([e[1] for e in expected]))
    # Only the first tile's weight load and the final drain are not overlapped.
    print(f"array {rows}x{cols} m=k={rows}: {stats.cycles} cycles for {a_beats} rows, stall {stats.stall}, "
          f"utilization {100 * stats.utilization:.2f}%")
    assert stats.cycles <= a_beats + rows + (rows + cols) + 4, stats
