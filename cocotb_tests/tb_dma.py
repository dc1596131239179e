"""cocotb tests of dram + scratchpad + dma (rtl/tb/dma_tb.sv); run by cocotb_tests/test_dma.py.

Run with the hardware config dma_tb was built for (run(config=...)) and the setting count (random
descriptors).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
import pyuvm
from pyuvm import ConfigDB, uvm_test

from atalla.dma import DmaDescriptor
from atalla.isa import DmaDirection
from cocotb_tests.dma_env import FETCH_REGION, DmaEnv, DmaRandomSeq, DmaTb, ids_parts, random_descriptor, row_ids
from runtime.emulator.dma import ImmediateDmaEngine
from runtime.rtl.settings import bench_config, bench_settings

TIMEOUT_MS = 20  # simulated: 2M cycles, far beyond any test here; turns a hang into a failure
QUEUED_BURSTS, QUEUED_BURST_LENGTH = 40, 8


async def _randomise(tb: DmaTb, rng: np.random.Generator) -> None:
    """Random DRAM (one NumPy copy into the C++ array) with row ids in the ids region's parts, each
    below its bound, and random scratchpad (one backdoor pass)."""
    tb.dram[:] = rng.integers(0, 256, tb.dram.size, dtype=np.uint8)
    for bound, (start, end) in ids_parts(tb.cfg).items():
        tb.dram[start:end] = row_ids(rng, bound, (end - start) // 4).view(np.uint8)
    await tb.sp_write(0, rng.integers(0, 256, (tb.cfg.sp_rows, tb.cfg.sp_row_bytes), dtype=np.uint8))


async def _randomised_bench(dut, seed: int) -> tuple[DmaTb, np.ndarray, np.ndarray, ImmediateDmaEngine]:
    """The bench reset and randomised, and the reference engine over copies of its memories:
    (bench, reference DRAM, reference scratchpad, reference engine)."""
    tb = DmaTb(dut, bench_config())
    await tb.reset()
    await _randomise(tb, np.random.default_rng(seed))
    ref_dram, ref_sp = tb.dram.copy(), (await tb.sp_read()).reshape(-1)
    return tb, ref_dram, ref_sp, ImmediateDmaEngine(tb.cfg, ref_dram, ref_sp)


async def _fetcher(tb: DmaTb, rng: np.random.Generator, stop: list[bool], log) -> tuple[int, int]:
    """Command fetches on DRAM port 1 while the DMA runs on port 0; returns (fetches, mismatches)."""
    n = bad = 0
    top = tb.cfg.dram_bytes
    while not stop[0]:
        addr = int(rng.integers(top - FETCH_REGION, top - 32 + 1)) & ~1
        got = await tb.fetch(addr)
        want = tb.dram[addr:addr + 32].tobytes()
        n += 1
        if got != want:
            bad += 1
            log.error(f"fetch at {addr:#x}: got {got.hex()} want {want.hex()}")
    return n, bad


@pyuvm.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
class DmaRandomTest(uvm_test):
    """Constrained-random loads, stores and gathers against the ImmediateDmaEngine reference, exact."""

    def build_phase(self) -> None:
        self.cfg, self.count = bench_config(), bench_settings()["count"]
        self.tb = DmaTb(cocotb.top, self.cfg)
        ConfigDB().set(None, "*", "TB", self.tb)
        ConfigDB().set(None, "*", "CFG", self.cfg)
        ConfigDB().set(None, "*", "FULL_EVERY", 25)
        self.env = DmaEnv("env", self)

    async def run_phase(self) -> None:
        self.raise_objection()
        tb, sb = self.tb, self.env.scoreboard
        rng = np.random.default_rng(2024)
        await tb.reset()
        await _randomise(tb, rng)
        sb.seed(tb.dram, tb.stage)
        stop = [False]
        fetcher = cocotb.start_soon(_fetcher(tb, np.random.default_rng(7), stop, self.logger))
        t0, c0 = time.perf_counter(), tb.cycle()
        await DmaRandomSeq("seq", count=self.count, seed=11).start(self.env.seqr)
        await sb.full_check()
        stop[0] = True
        self.fetches, self.fetch_bad = await fetcher
        self.wall, self.cycles = time.perf_counter() - t0, tb.cycle() - c0
        self.drop_objection()

    def check_phase(self) -> None:
        s, cfg = self.env.scoreboard.stats, self.cfg
        bpc = s.contig_bytes / max(s.contig_cycles, 1)
        tpc = s.transposed_bytes / max(s.transposed_cycles, 1)
        print(f"dma {cfg.name}: {s.descriptors} descriptors ({s.gathers} gathers), {s.bytes} bytes, "
              f"{s.mismatches} mismatches; "
              f"contiguous {bpc:.2f} bytes/cycle (of {cfg.dma_bytes_per_cycle}, latency {cfg.dram_latency}, "
              f"rows <= 40), transposed loads {tpc:.2f}; {self.fetches} command fetches, {self.fetch_bad} bad; "
              f"{self.cycles} cycles in {self.wall:.1f} s")
        assert s.descriptors == self.count and s.gathers > 0
        assert s.mismatches == 0, "\n".join(self.env.scoreboard.errors)
        assert self.fetches > 0 and self.fetch_bad == 0
        # One element a beat moves at most 2 bytes a cycle: the transpose buffer must beat that.
        assert s.transposed_bytes > 0 and tpc > 2, f"transposed loads at {tpc:.2f} bytes/cycle"


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def dram_bulk_ctypes(dut) -> None:
    """64K words into the C++ DRAM and back with one NumPy copy each; the RTL sees the same bytes."""
    cfg = bench_config()
    tb = DmaTb(dut, cfg)
    await tb.reset()
    rng = np.random.default_rng(5)
    words = rng.integers(0, 1 << 32, 1 << 16, dtype=np.uint32)
    base = 1 << 20
    t0 = time.perf_counter()
    tb.dram[base:base + words.nbytes] = words.view(np.uint8)
    t1 = time.perf_counter()
    back = tb.dram[base:base + words.nbytes].view("<u4").copy()
    t2 = time.perf_counter()
    assert np.array_equal(back, words)
    dut._log.info(f"bulk DRAM: load {words.size} words in {(t1 - t0) * 1e6:.0f} us, "
                  f"read back in {(t2 - t1) * 1e6:.0f} us")
    print(f"dram {cfg.name}: 64K words loaded in {(t1 - t0) * 1e6:.0f} us, read back in {(t2 - t1) * 1e6:.0f} us")

    # Port 1 reads the same bytes.
    for addr in (base, base + 2, base + words.nbytes - 32):
        assert await tb.fetch(addr) == tb.dram[addr:addr + 32].tobytes()

    # A DMA load of the whole region as rows, a DMA store of it elsewhere: bytes survive exactly.
    lanes, rb = cfg.lanes, cfg.sp_row_bytes
    rows = min(words.nbytes // rb, cfg.sp_rows)
    load = DmaDescriptor(DmaDirection.LOAD, 0, base, rows, lanes, lanes, 1, 3)
    await tb.program(load)
    assert (await tb.wait_done())[0] == 3
    sp = await tb.sp_read(0, rows)
    assert np.array_equal(sp.reshape(-1), tb.dram[base:base + rows * rb])
    store = DmaDescriptor(DmaDirection.STORE, 0, 2 * base, rows, lanes, lanes, 1, 4)
    await tb.program(store)
    assert (await tb.wait_done())[0] == 4
    assert np.array_equal(tb.dram[2 * base:2 * base + rows * rb], tb.dram[base:base + rows * rb])

    # Row + 1 past the end of the scratchpad reads as zero (row 0, where a wrap would land, is not).
    await tb.sp_write(0, np.full((1, rb), 0xA5, np.uint8))
    await tb.sp_read(cfg.sp_rows - 1, 1)
    assert not dut.bd_err_o.value


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def dma_bandwidth(dut) -> None:
    """Long contiguous transfers stream at the DRAM's bytes per cycle; a queued burst runs back to back."""
    tb, ref_dram, ref_sp, ref = await _randomised_bench(dut, 9)
    cfg = tb.cfg
    lanes, rb, beat = cfg.lanes, cfg.sp_row_bytes, cfg.dma_bytes_per_cycle
    rows = min(1024, cfg.sp_rows // 2)
    report = []

    for direction in (DmaDirection.LOAD, DmaDirection.STORE):
        d = DmaDescriptor(direction, 0, 4096 if direction == DmaDirection.LOAD else 1 << 21, rows, lanes,
                          lanes, 1, 1)
        start = await tb.program(d)
        _, end = await tb.wait_done()
        ref.start(d)
        bpc = 2 * rows * lanes / (end - start)
        report.append(f"{direction.name.lower()} {rows}x{lanes}: {bpc:.2f} bytes/cycle")
        assert bpc >= 0.9 * min(beat, rb), report[-1]

    # Four descriptors queued back to back (the programmer waits while busy_o).
    burst = [DmaDescriptor(DmaDirection.LOAD, (rows + 64 * i) * rb, 3 << 20 | i * 8192, 64 * (i + 1) // 2,
                           lanes, lanes, 1, 5 + i) for i in range(4)]

    async def collect(n: int) -> list[tuple[int, int]]:
        return [await tb.wait_done() for _ in range(n)]

    dones = cocotb.start_soon(collect(len(burst)))
    start = None
    for d in burst:
        s = await tb.program(d)
        start = s if start is None else start
        ref.start(d)
    got = await dones
    assert [t for t, _ in got] == [d.ticket for d in burst]
    total = sum(2 * d.rows * d.cols for d in burst)
    cycles = got[-1][1] - start
    report.append(f"queued burst of {len(burst)}: {total / cycles:.2f} bytes/cycle")
    # Each load requests beside the last beats of the one before it: the burst pays the DRAM latency once.
    beats = sum(d.rows * -(-2 * d.cols // beat) for d in burst)
    assert cycles <= beats + cfg.dram_latency + 2 * len(burst), f"{report[-1]}: {cycles} cycles for {beats} beats"

    assert np.array_equal(tb.dram, ref_dram)
    assert np.array_equal((await tb.sp_read()).reshape(-1), ref_sp)
    print(f"dma {cfg.name} bandwidth (beat {beat} B, latency {cfg.dram_latency}): " + "; ".join(report))


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def dma_queued_random(dut) -> None:
    """Random descriptors queued back to back, each programmed while the ones before it run: a load
    then requests beside the last beats of the load before it, the rest waits for its predecessor;
    the completions come in start order and the memories end as the reference applied in order."""
    tb, ref_dram, ref_sp, ref = await _randomised_bench(dut, 13)
    rng = np.random.default_rng(14)

    async def collect(n: int) -> list[int]:
        return [(await tb.wait_done())[0] for _ in range(n)]

    for _ in range(QUEUED_BURSTS):
        burst = [random_descriptor(rng, tb.cfg, ref_dram) for _ in range(QUEUED_BURST_LENGTH)]
        dones = cocotb.start_soon(collect(len(burst)))
        for d in burst:
            await tb.program(d)
            ref.start(d)
        assert await dones == [d.ticket for d in burst], "completions out of start order"
        assert np.array_equal(tb.dram, ref_dram), "DRAM differs from the in-order reference"
        assert np.array_equal((await tb.sp_read()).reshape(-1), ref_sp), "scratchpad differs from the in-order reference"
