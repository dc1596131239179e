"""pyuvm environment for the systolic array (rtl/systolic_array.sv through rtl/tb/array_tb.sv).

Stimulus and responses move in batches, never clock by clock: the driver writes a batch of
tiles as $readmemh files, toggles `start_i` and awaits `done_o`; the tb plays the weight and A
streams at full rate (or with random gaps) and records every result row; the monitor reads the
recorded rows back on `done_o`. The scoreboard compares them bit for bit with
atalla.numerics.gemm, which defines the array's accumulation order (docs/numerics.md). The
components share one ArrayTb (ConfigDB "TB"): the testbench for the array shape of a config.

    sequence (GemmTile ..., RunBatch) -> driver -> array_tb -> monitor -> scoreboard
                                           \\-------- issued tiles --------/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cocotb.triggers import RisingEdge, with_timeout
from pyuvm import (ConfigDB, uvm_analysis_port, uvm_component, uvm_driver, uvm_env, uvm_monitor, uvm_sequence,
                   uvm_sequence_item, uvm_sequencer, uvm_tlm_analysis_fifo)

from atalla import numerics
from atalla.config import HardwareConfig

DEPTH = 8192  # array_tb's DEPTH (left at its default): the tb's memories, beats per stream per batch
W_FILE, A_FILE, Y_FILE = Path("array_w.hex"), Path("array_a.hex"), Path("array_y.hex")  # in the sim's cwd


# ------------------------------------------------------------------------------------------------
# The testbench. Batch files: the whole stimulus of a batch in one $readmemh each, the results in
# one $writememh.

def _hex_lines(top: np.ndarray, words: np.ndarray, digits: int) -> list[str]:
    """One line per row: `top` (the bits above the row) then the row, element 0 in the low bits."""
    body = np.ascontiguousarray(words[:, ::-1]).astype(f">u{words.dtype.itemsize}").tobytes().hex()
    width = words.shape[1] * digits
    return [f"{int(t):x}{body[i * width:(i + 1) * width]}" for i, t in enumerate(top)]


@dataclass
class BatchStats:
    cycles: int  # from start to the last result row
    busy: int  # the array's counters over the batch
    stall: int
    macs: int
    pes: int  # the array's processing elements

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.pes)


class ArrayTb:
    """The testbench seen from Python, for the array shape of a config: batch files, batch runs,
    and the expected results and random tiles of that shape."""

    def __init__(self, dut, cfg: HardwareConfig) -> None:
        self.dut, self.rows, self.cols = dut, cfg.array_rows, cfg.array_cols
        self.kw, self.nw = self.rows.bit_length(), self.cols.bit_length()  # $clog2(ROWS + 1), $clog2(COLS + 1)

    def write_batch(self, tiles: list[GemmTile], rng: np.random.Generator) -> tuple[int, int]:
        """Write the weight and A beats of `tiles`; returns (weight beats, A beats).

        Operand lanes the tile does not use (B columns >= n, A elements >= k) carry random bits:
        the array must ignore them, and so must rows kk >= k, which still hold older weights.
        """
        w_top, w_rows, a_top, a_rows = [], [], [], []
        for t in tiles:
            m, k, n = t.shape
            b = rng.integers(0, 1 << 16, (k, self.cols), dtype=np.uint16)
            b[:, :n] = t.b_bits
            a = rng.integers(0, 1 << 16, (m, self.rows), dtype=np.uint16)
            a[:, :k] = t.a_bits
            w_top += [((r == k - 1) << (self.kw + self.nw)) | (k << self.nw) | n for r in range(k)]
            a_top += [int(i == m - 1) for i in range(m)]
            w_rows.append(b)
            a_rows.append(a)
        W_FILE.write_text("\n".join(_hex_lines(np.array(w_top), np.concatenate(w_rows), 4)) + "\n")
        A_FILE.write_text("\n".join(_hex_lines(np.array(a_top), np.concatenate(a_rows), 4)) + "\n")
        return len(w_top), len(a_top)

    def read_results(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch's result rows from the tb: (last flags [count], fp32 bits [count x cols])."""
        lines = Y_FILE.read_text().split()[:count]
        width = self.cols * 8
        last = np.array([int(line[:-width], 16) for line in lines], dtype=bool)
        data = np.frombuffer(bytes.fromhex("".join(line[-width:] for line in lines)), dtype=">u4")
        return last, data.reshape(count, self.cols)[:, ::-1].astype(np.uint32)

    def _counters(self) -> tuple[int, int, int]:
        dut = self.dut
        return (int(dut.busy_cycles_o.value), int(dut.stall_cycles_o.value), int(dut.mac_count_o.value))

    async def run_batch(self, w_beats: int, a_beats: int, w_gap: int = 0, a_gap: int = 0) -> BatchStats:
        """Play the batch in the files; returns when the tb raises done_o (results in Y_FILE)."""
        dut, before = self.dut, self._counters()
        dut.w_count_i.value = w_beats
        dut.a_count_i.value = a_beats
        dut.w_gap_i.value = w_gap
        dut.a_gap_i.value = a_gap
        dut.start_i.value = 1 - int(dut.start_i.value)  # every change of start_i starts a batch
        # Generous: a batch takes about (beats + ROWS + COLS) / (1 - gap) cycles of 10 ns.
        timeout = 100 * (a_beats + w_beats + 4 * (self.rows + self.cols) + 100)
        await with_timeout(RisingEdge(dut.done_o), timeout, "ns")
        busy, stall, macs = (y - x for x, y in zip(before, self._counters()))
        return BatchStats(int(dut.cycles_o.value), busy, stall, macs, self.rows * self.cols)

    async def reset_done(self) -> None:
        """Wait out the tb's reset (three clocks)."""
        for _ in range(5):
            await RisingEdge(self.dut.clk_i)

    def golden(self, tile: GemmTile) -> tuple[np.ndarray, np.ndarray]:
        """Expected (last flags, cols-wide fp32 bits) of a tile; columns >= n read +0."""
        m, _, n = tile.shape
        out = np.zeros((m, self.cols), dtype=np.uint32)
        out[:, :n] = numerics.gemm(tile.a_bits, tile.b_bits, None).view(np.uint32)
        return np.arange(m) == m - 1, out

    def random_tile(self, rng: np.random.Generator, name: str, m: int | None = None, k: int | None = None,
                    n: int | None = None, mode: str | None = None) -> GemmTile:
        """Constrained random: m in 1..3*rows, k in 1..rows, n in 1..cols; extremes favoured a bit."""
        def pick(hi: int, given: int | None) -> int:
            if given is not None:
                return given
            r = rng.random()
            return 1 if r < 0.1 else hi if r < 0.3 else int(rng.integers(1, hi + 1))
        m, k, n = pick(3 * self.rows, m), pick(self.rows, k), pick(self.cols, n)
        mode = mode or str(rng.choice(MODES, p=MODE_WEIGHTS))
        return GemmTile(f"{name}[{mode}]", random_operand(rng, (m, k), mode), random_operand(rng, (k, n), mode))


# ------------------------------------------------------------------------------------------------
# Operand generation.

_SPECIALS = np.array([0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x0001, 0x807F, 0x7F7F, 0xFF7F,
                      0x0080, 0x8080, 0x3F80, 0xBF80], dtype=np.uint16)  # zeros, infs, NaNs, denormals, extremes


def random_operand(rng: np.random.Generator, shape: tuple[int, int], mode: str) -> np.ndarray:
    """bf16 bit patterns. normal: N(0,1) at a per-tile scale; tiny/huge: products near the
    fp32 flush and overflow thresholds; raw: mostly normal with random bit patterns and specials;
    cancel: small integers whose column sums often cancel to exactly zero."""
    if mode == "cancel":
        return numerics.f32_to_bf16_bits(rng.integers(-3, 4, shape).astype(np.float32))
    scale = {"normal": rng.uniform(-8, 8), "tiny": -63.0, "huge": 63.5, "raw": rng.uniform(-4, 4)}[mode]
    values = rng.standard_normal(shape) * np.exp2(scale + rng.uniform(-1.5, 1.5, shape) * (mode != "normal"))
    bits = numerics.f32_to_bf16_bits(values.astype(np.float32))
    if mode == "raw":
        raw = rng.integers(0, 1 << 16, shape, dtype=np.uint16)
        special = rng.choice(_SPECIALS, shape)
        pick = rng.random(shape)
        bits = np.where(pick < 0.1, raw, np.where(pick < 0.2, special, bits))
    return bits.astype(np.uint16)


MODES = ("normal", "raw", "tiny", "huge", "cancel")
MODE_WEIGHTS = (0.7, 0.12, 0.06, 0.06, 0.06)


# ------------------------------------------------------------------------------------------------
# Sequence items and sequences.

class GemmTile(uvm_sequence_item):
    """One GEMM tile: A (m x k) and B (k x n) as bf16 bits; C = A @ B in fp32."""

    def __init__(self, name: str, a_bits: np.ndarray, b_bits: np.ndarray):
        super().__init__(name)
        assert a_bits.shape[1] == b_bits.shape[0]
        self.a_bits, self.b_bits = a_bits.astype(np.uint16), b_bits.astype(np.uint16)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a_bits.shape[0], self.a_bits.shape[1], self.b_bits.shape[1]

    def __str__(self) -> str:
        return f"{self.get_name()}: m,k,n = {self.shape}"


class RunBatch(uvm_sequence_item):
    """Tells the driver to play the tiles sent so far, with these stream gaps (out of 256)."""

    def __init__(self, name: str = "run", w_gap: int = 0, a_gap: int = 0):
        super().__init__(name)
        self.w_gap, self.a_gap = w_gap, a_gap


class RandomTilesSeq(uvm_sequence):
    """`tiles` random tiles in batches of random size, each batch with random stream gaps."""

    def __init__(self, name: str, tiles: int, seed: int):
        super().__init__(name)
        self.tiles, self.rng = tiles, np.random.default_rng(seed)

    async def body(self):
        tb: ArrayTb = ConfigDB().get(None, "", "TB")
        sent = 0
        while sent < self.tiles:
            size = min(int(self.rng.integers(1, 40)), self.tiles - sent)
            for _ in range(size):
                tile = tb.random_tile(self.rng, f"tile{sent}")
                await self.start_item(tile)
                await self.finish_item(tile)
                sent += 1
            gaps = self.rng.random() < 0.5  # half the batches back to back, half with bubbles
            run = RunBatch(w_gap=int(self.rng.integers(0, 200)) if gaps else 0,
                           a_gap=int(self.rng.integers(0, 200)) if gaps else 0)
            await self.start_item(run)
            await self.finish_item(run)


# ------------------------------------------------------------------------------------------------
# Components.

class ArrayDriver(uvm_driver):
    """Collects tiles, plays them as one batch on RunBatch (or when the tb's memories fill)."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)  # every tile as it is issued, to the scoreboard
        self.tb: ArrayTb = ConfigDB().get(self, "", "TB")
        self.rng = np.random.default_rng(ConfigDB().get(self, "", "SEED") + 1)  # filler bits
        self.stats: list[BatchStats] = []

    async def run_phase(self):
        await self.tb.reset_done()
        batch, w_beats, a_beats = [], 0, 0
        while True:
            item = await self.seq_item_port.get_next_item()
            if isinstance(item, GemmTile):
                m, k, _ = item.shape
                if w_beats + k > DEPTH or a_beats + m > DEPTH:
                    await self.play(batch, RunBatch())
                    batch, w_beats, a_beats = [], 0, 0
                batch.append(item)
                w_beats, a_beats = w_beats + k, a_beats + m
            elif batch:
                await self.play(batch, item)
                batch, w_beats, a_beats = [], 0, 0
            self.seq_item_port.item_done()

    async def play(self, batch: list[GemmTile], run: RunBatch):
        for tile in batch:
            self.ap.write(tile)
        w_beats, a_beats = self.tb.write_batch(batch, self.rng)
        self.stats.append(await self.tb.run_batch(w_beats, a_beats, run.w_gap, run.a_gap))
        # One more clock: the monitor (woken by the same done_o edge) has surely read the results.
        await RisingEdge(self.tb.dut.clk_i)


@dataclass
class ResultRow:
    last: bool
    bits: np.ndarray  # the array's cols fp32 bit patterns


class ArrayMonitor(uvm_monitor):
    """On every done_o, reads the batch's recorded result rows and publishes them in order."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)
        self.tb: ArrayTb = ConfigDB().get(self, "", "TB")

    async def run_phase(self):
        dut = self.tb.dut
        while True:
            await RisingEdge(dut.done_o)
            last, bits = self.tb.read_results(int(dut.y_count_o.value))
            for flag, row in zip(last, bits):
                self.ap.write(ResultRow(bool(flag), row))


class ArrayScoreboard(uvm_component):
    """Expected rows from the issued tiles (numerics.gemm) against the monitored rows, bit exact."""

    def build_phase(self):
        self.tile_fifo = uvm_tlm_analysis_fifo("tile_fifo", self)
        self.row_fifo = uvm_tlm_analysis_fifo("row_fifo", self)
        self.tb: ArrayTb = ConfigDB().get(self, "", "TB")
        self.tiles = self.rows = self.mismatches = 0
        self.specials = {"-0": 0, "inf": 0, "nan": 0}  # how often the interesting outputs occurred

    def check_phase(self):
        while True:
            ok, tile = self.tile_fifo.try_get()
            if not ok:
                break
            self.tiles += 1
            last, expected = self.tb.golden(tile)
            n = tile.shape[2]
            for i in range(tile.shape[0]):
                ok, row = self.row_fifo.try_get()
                if not ok:
                    self.logger.error(f"{tile}: row {i} missing")
                    self.mismatches += 1
                    continue
                self.rows += 1
                if row.last != last[i] or not np.array_equal(row.bits, expected[i]):
                    self.mismatches += 1
                    if self.mismatches <= 10:
                        self.logger.error(f"{tile} row {i}: last {row.last} (expected {last[i]}), "
                                          f"got {[hex(x) for x in row.bits[:n]]}, "
                                          f"expected {[hex(x) for x in expected[i, :n]]}")
                e = expected[i, :n]
                self.specials["-0"] += int(np.sum(e == 0x80000000))
                self.specials["inf"] += int(np.sum((e & 0x7FFFFFFF) == 0x7F800000))
                self.specials["nan"] += int(np.sum(e == 0x7FC00000))
        extra = 0
        while self.row_fifo.try_get()[0]:
            extra += 1
        if extra:
            self.logger.error(f"{extra} result rows beyond the issued tiles")
            self.mismatches += extra

    def report_phase(self):
        print(f"array {self.tb.rows}x{self.tb.cols}: {self.tiles} tiles, {self.rows} rows, {self.mismatches} mismatches "
              f"(outputs -0: {self.specials['-0']}, inf: {self.specials['inf']}, NaN: {self.specials['nan']})")


class ArrayEnv(uvm_env):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = ArrayDriver("driver", self)
        self.monitor = ArrayMonitor("monitor", self)
        self.scoreboard = ArrayScoreboard("scoreboard", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.ap.connect(self.scoreboard.tile_fifo.analysis_export)
        self.monitor.ap.connect(self.scoreboard.row_fifo.analysis_export)
