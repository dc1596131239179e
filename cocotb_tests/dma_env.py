"""pyuvm environment for the DMA testbench (rtl/tb/dma_tb.sv).

Items are DMA descriptors (atalla.dma.DmaDescriptor). The driver programs one through the
testbench's register programmer, waits for its done pulse and hands it to the scoreboard, which
applies it to a NumPy reference (runtime.emulator.dma.ImmediateDmaEngine over copies of the DRAM
and the scratchpad) and compares the DUT exactly: the touched rows / bytes after every descriptor,
everything every `full_every` descriptors and at the end.

Python never waits on a clock: it sets inputs, toggles a `go` and awaits the pulse that answers it.
The DRAM and the testbench staging buffer are C++ arrays (rtl/dram_model.cpp) viewed with NumPy.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from cocotb.triggers import Event, RisingEdge
from pyuvm import (ConfigDB, uvm_analysis_port, uvm_component, uvm_driver, uvm_env, uvm_get_port, uvm_sequence,
                   uvm_sequence_item, uvm_sequencer, uvm_tlm_analysis_fifo)

from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import DmaDirection
from firmware.dma import distinct_elements, validate
from runtime.emulator.dma import ImmediateDmaEngine
from runtime.rtl.signals import c_bytes, simulator

FETCH_REGION = 64 * 1024  # top of DRAM: command-fetch traffic only, never written by the DMA
IDS_REGION = 16 * 1024  # below it: the row ids gathers read, never written by the DMA, in three parts:
IDS_RANGE = 1000  # its first half: ids below IDS_RANGE (tables of IDS_RANGE rows, padded or not);
TALL_TABLE_ROWS = 1 << 22  # the third quarter: ids below it (a table of rows one element apart);
ID_LIMIT = 1 << 31  # the last quarter: any non-negative int32 (row stride 0: every id names row 0).
# The wide parts' ids have every magnitude (row_ids): each bit of an id moves, not only the top ones.


def ids_base(cfg: HardwareConfig) -> int:
    return cfg.dram_bytes - FETCH_REGION - IDS_REGION


def ids_parts(cfg: HardwareConfig) -> dict[int, tuple[int, int]]:
    """The ids region's parts, by the bound of their ids: DRAM bytes [start, end)."""
    base = ids_base(cfg)
    half, quarter = base + IDS_REGION // 2, base + 3 * IDS_REGION // 4
    return {IDS_RANGE: (base, half), TALL_TABLE_ROWS: (half, quarter), ID_LIMIT: (quarter, base + IDS_REGION)}


def row_ids(rng: np.random.Generator, bound: int, count: int) -> np.ndarray:
    """int32 ids below bound; above IDS_RANGE, of every magnitude (a uniform draw shifted right)."""
    if bound <= IDS_RANGE:
        return rng.integers(0, bound, count, dtype="<i4")
    return (rng.integers(0, bound, count, dtype=np.int64) >> rng.integers(0, bound.bit_length(), count)).astype("<i4")


def fetch_region(cfg: HardwareConfig) -> tuple[int, int]:
    """DRAM bytes [start, end) the bench's command fetches read: to the firmware, the command stream."""
    return cfg.dram_bytes - FETCH_REGION, cfg.dram_bytes


def _c_array(lib: ctypes.CDLL, prefix: str, nbytes: int) -> np.ndarray:
    """Allocate (idempotently) one of dram_model.cpp's byte arrays and view it with NumPy."""
    init, size, base = (getattr(lib, f"{prefix}_{n}") for n in ("init", "size", "base"))
    init.argtypes, init.restype = [ctypes.c_uint64], ctypes.c_int
    size.restype = ctypes.c_uint64
    base.restype = ctypes.c_void_p
    if init(nbytes) != 0 or size() != nbytes:
        raise RuntimeError(f"{prefix}: cannot allocate {nbytes} bytes")
    return c_bytes(base(), nbytes)


def _toggle(signal) -> None:
    signal.value = 0 if signal.value else 1


class DmaTb:
    """The testbench seen from Python: NumPy views of the DRAM and the staging buffer, and the
    event-driven operations of dma_tb.sv."""

    def __init__(self, dut, cfg: HardwareConfig) -> None:
        self.dut, self.cfg = dut, cfg
        lib = simulator()
        self.dram = _c_array(lib, "atalla_dram", cfg.dram_bytes)
        self.stage = _c_array(lib, "atalla_tb_buf", cfg.sp_bytes)
        self.stage_rows = self.stage.reshape(cfg.sp_rows, cfg.sp_row_bytes)

    async def reset(self) -> None:
        if not self.dut.rst_done_o.value:
            await RisingEdge(self.dut.rst_done_o)

    def cycle(self) -> int:
        return self.dut.cycle_o.value.to_unsigned()

    async def program(self, d: DmaDescriptor) -> int:
        """Write the registers and start; returns the cycle of the start strobe."""
        dut = self.dut
        for name in ("direction", "sp_addr", "dram_addr", "rows", "cols", "row_stride", "col_stride", "ticket"):
            getattr(dut, f"d_{name}_i").value = int(getattr(d, name)) & 0xFFFFFFFF
        _toggle(dut.go_i)
        await RisingEdge(dut.prog_ack_o)
        return dut.start_cycle_o.value.to_unsigned()

    async def wait_done(self) -> tuple[int, int]:
        """The next completion: (ticket, cycle)."""
        await RisingEdge(self.dut.done_valid_o)
        return self.dut.done_ticket_o.value.to_unsigned(), self.cycle()

    async def _backdoor(self, write: bool, row: int, rows: int) -> None:
        dut = self.dut
        dut.bd_write_i.value = int(write)
        dut.bd_row_i.value = row
        dut.bd_rows_i.value = rows
        _toggle(dut.bd_go_i)
        await RisingEdge(dut.bd_done_o)

    async def sp_write(self, row: int, data: np.ndarray) -> None:
        """Write whole rows (uint8, rows x sp_row_bytes) starting at `row`."""
        self.stage_rows[row:row + len(data)] = data
        await self._backdoor(True, row, len(data))

    async def sp_read(self, row: int = 0, rows: int | None = None) -> np.ndarray:
        """A copy of scratchpad rows [row, row + rows) as uint8, rows x sp_row_bytes."""
        rows = self.cfg.sp_rows - row if rows is None else rows
        await self._backdoor(False, row, rows)
        return self.stage_rows[row:row + rows].copy()

    async def fetch(self, addr: int) -> bytes:
        """A 32-byte read through DRAM port 1 (the command-fetch port)."""
        dut = self.dut
        dut.f_addr_i.value = addr
        _toggle(dut.f_go_i)
        await RisingEdge(dut.f_done_o)
        return dut.f_data_o.value.to_unsigned().to_bytes(32, "little")


# ---------------------------------------------------------------------------------------- items


class DmaItem(uvm_sequence_item):
    def __init__(self, name: str = "dma_item", desc: DmaDescriptor | None = None) -> None:
        super().__init__(name)
        self.desc = desc
        self.cycles = 0  # start strobe to done pulse
        self.done_ticket = -1
        self.checked = Event()

    def __str__(self) -> str:
        return self.desc.describe() if self.desc else "<empty dma item>"


def random_descriptor(rng: np.random.Generator, cfg: HardwareConfig, dram: np.ndarray, window: int = 256 * 1024,
                      sp_window: int = 256) -> DmaDescriptor:
    """A valid random descriptor: loads, stores and gathers, rows 1..40, cols 1..lanes, contiguous,
    strided, broadcast (stride 0), transposed-style and reversed (negative) strides. Addresses mostly
    fall in small windows so that transfers overlap and later loads read what earlier stores wrote.
    Each is one the firmware hands to the engine (firmware.dma.validate, which reads a gather's ids
    from `dram`)."""
    dram_limit = ids_base(cfg)
    while True:
        if rng.random() < 0.15:
            d = _random_gather(rng, cfg, window, sp_window)
            validate(d, cfg, {0: (cfg.sp_bytes, "the whole scratchpad")}, dram, fetch_region(cfg))
            return d
        direction = DmaDirection(int(rng.integers(2)))
        rows = int(rng.integers(1, 41))
        cols = int(rng.integers(1, cfg.lanes + 1))
        style = rng.choice(["contiguous", "padded", "strided", "broadcast", "transposed", "reversed"],
                           p=[0.3, 0.15, 0.2, 0.1, 0.15, 0.1])
        if style == "contiguous":
            rs, cs = cols, 1
        elif style == "padded":
            rs, cs = int(rng.integers(cols, 4 * cfg.lanes + 1)), 1
        elif style == "strided":
            rs, cs = int(rng.integers(0, 3000)), int(rng.integers(0, 64))
        elif style == "broadcast":
            rs, cs = (0, 1) if rng.integers(2) else (int(rng.integers(1, 200)), 0)
        elif style == "transposed":  # column-major view of a [cols x ld] matrix
            rs, cs = 1, int(rng.integers(rows, 4096))
        else:
            rs, cs = -int(rng.integers(0, 500)), -int(rng.integers(0, 3))
        block = DmaDescriptor(direction, sp_addr=0, dram_addr=0, rows=rows, cols=cols, row_stride=rs, col_stride=cs,
                              ticket=0)
        lo, hi = block.dram_span()  # relative to the DRAM address, drawn next
        top = window if rng.random() < 0.8 else dram_limit
        top = max(top, hi - lo + 2)
        if top > dram_limit:
            continue
        dram_addr = 2 * int(rng.integers(-lo // 2, (top - hi) // 2))
        sp_top = sp_window if rng.random() < 0.8 else cfg.sp_rows
        if rng.random() < 0.05:
            sp_row = cfg.sp_rows - rows  # the last rows of the scratchpad
        else:
            sp_row = int(rng.integers(0, max(sp_top - rows, 0) + 1))
        d = block._replace(sp_addr=sp_row * cfg.sp_row_bytes, dram_addr=dram_addr,
                           ticket=int(rng.integers(cfg.num_tickets)))
        lo_b, hi_b = d.dram_span()
        assert 0 <= lo_b and hi_b < dram_limit, d.describe()
        if direction == DmaDirection.STORE and not distinct_elements(d):
            continue  # the firmware refuses a store that writes an element twice
        validate(d, cfg, {0: (cfg.sp_bytes, "the whole scratchpad")}, dram, fetch_region(cfg))
        return d


def _random_gather(rng: np.random.Generator, cfg: HardwareConfig, window: int, sp_window: int) -> DmaDescriptor:
    """Rows 1..40 by ids from one part of the ids region, at any id offset: of a table of IDS_RANGE
    rows (padded or not), of TALL_TABLE_ROWS rows one element apart, or by any id of row stride 0."""
    rows = int(rng.integers(1, 41))
    cols = int(rng.integers(1, cfg.lanes + 1))
    bound = int(rng.choice([IDS_RANGE, TALL_TABLE_ROWS, ID_LIMIT], p=[0.6, 0.2, 0.2]))
    if bound == IDS_RANGE:
        row_stride = cols if rng.random() < 0.5 else int(rng.integers(cols, 4 * cfg.lanes + 1))
    else:
        row_stride = 1 if bound == TALL_TABLE_ROWS else 0
    table_bytes = 2 * ((bound - 1) * row_stride + cols)
    top = window if table_bytes < window else ids_base(cfg)
    dram_addr = 2 * int(rng.integers(0, (top - table_bytes) // 2))
    start, end = ids_parts(cfg)[bound]
    index_addr = start + 4 * int(rng.integers(0, (end - start) // 4 - rows + 1))
    sp_row = int(rng.integers(0, max(sp_window - rows, 0) + 1))
    return DmaDescriptor(DmaDirection.GATHER, sp_row * cfg.sp_row_bytes, dram_addr, rows, cols, row_stride,
                         index_addr, int(rng.integers(cfg.num_tickets)))


class DmaRandomSeq(uvm_sequence):
    """`count` constrained-random descriptors."""

    def __init__(self, name: str = "dma_random_seq", count: int = 100, seed: int = 1) -> None:
        super().__init__(name)
        self.count, self.seed = count, seed

    async def body(self) -> None:
        cfg, tb = ConfigDB().get(None, "", "CFG"), ConfigDB().get(None, "", "TB")
        rng = np.random.default_rng(self.seed)
        for i in range(self.count):
            item = DmaItem(f"dma_{i}")
            await self.start_item(item)
            item.desc = random_descriptor(rng, cfg, tb.dram)
            await self.finish_item(item)


# ---------------------------------------------------------------------------------------- components


class DmaDriver(uvm_driver):
    """Programs each descriptor, waits for its done pulse, and completes the item once the
    scoreboard has checked it (the scoreboard reads the scratchpad while the DMA is idle)."""

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.tb: DmaTb = ConfigDB().get(self, "", "TB")

    async def run_phase(self) -> None:
        while True:
            item = await self.seq_item_port.get_next_item()
            start = await self.tb.program(item.desc)
            item.done_ticket, end = await self.tb.wait_done()
            item.cycles = end - start
            self.ap.write(item)
            await item.checked.wait()
            self.seq_item_port.item_done()


@dataclass
class DmaStats:
    descriptors: int = 0
    bytes: int = 0
    mismatches: int = 0  # differing bytes, plus wrong tickets
    contig_bytes: int = 0
    contig_cycles: int = 0
    transposed_bytes: int = 0  # loads with row_stride == 1: the transpose buffer's
    transposed_cycles: int = 0
    gathers: int = 0


class DmaScoreboard(uvm_component):
    """Reference memory model plus exact comparison with the DUT."""

    def build_phase(self) -> None:
        self.fifo = uvm_tlm_analysis_fifo("fifo", self)
        self.get_port = uvm_get_port("get_port", self)
        self.tb: DmaTb = ConfigDB().get(self, "", "TB")
        self.cfg: HardwareConfig = ConfigDB().get(self, "", "CFG")
        self.full_every: int = ConfigDB().get(self, "", "FULL_EVERY")
        self.stats = DmaStats()
        self.errors: list[str] = []
        self.ref_dram = np.zeros(0, np.uint8)
        self.ref_sp = np.zeros(0, np.uint8)
        self.engine: ImmediateDmaEngine | None = None

    def connect_phase(self) -> None:
        self.get_port.connect(self.fifo.get_export)

    def seed(self, dram: np.ndarray, sp: np.ndarray) -> None:
        """Start the reference from the DUT's initial contents."""
        self.ref_dram, self.ref_sp = dram.copy(), sp.reshape(-1).copy()
        self.engine = ImmediateDmaEngine(self.cfg, self.ref_dram, self.ref_sp)

    def _mismatch(self, what: str, got: np.ndarray, want: np.ndarray, base: int) -> None:
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        if bad.size:
            self.stats.mismatches += int(bad.size)
            i = int(bad[0])
            if len(self.errors) < 20:
                self.errors.append(f"{what}: {bad.size} bytes differ, first at {base + i:#x}: "
                                   f"got {int(got.reshape(-1)[i]):#04x} want {int(want.reshape(-1)[i]):#04x}")
                self.logger.error(self.errors[-1])

    async def full_check(self) -> None:
        self._mismatch("DRAM", self.tb.dram, self.ref_dram, 0)
        self._mismatch("scratchpad", await self.tb.sp_read(), self.ref_sp, 0)

    async def run_phase(self) -> None:
        rb = self.cfg.sp_row_bytes
        while True:
            item: DmaItem = await self.get_port.get()
            d = item.desc
            self.engine.start(d)
            self.stats.descriptors += 1
            self.stats.bytes += 2 * d.rows * d.cols
            self.stats.gathers += d.direction == DmaDirection.GATHER
            if d.col_stride == 1 and d.direction != DmaDirection.GATHER:
                self.stats.contig_bytes += 2 * d.rows * d.cols
                self.stats.contig_cycles += item.cycles
            elif d.row_stride == 1 and d.direction == DmaDirection.LOAD:
                self.stats.transposed_bytes += 2 * d.rows * d.cols
                self.stats.transposed_cycles += item.cycles
            if item.done_ticket != d.ticket:
                self.stats.mismatches += 1
                self.errors.append(f"{d.describe()}: done ticket {item.done_ticket}")
            where = f"after #{self.stats.descriptors} {d.describe()}"
            if self.stats.descriptors % self.full_every == 0:
                await self.full_check()
            elif d.direction != DmaDirection.STORE:
                row = d.sp_addr // rb
                self._mismatch(f"scratchpad {where}", await self.tb.sp_read(row, d.rows),
                               self.ref_sp[row * rb:(row + d.rows) * rb], row * rb)
            else:
                lo, hi = d.dram_span()
                self._mismatch(f"DRAM {where}", self.tb.dram[lo:hi + 1], self.ref_dram[lo:hi + 1], lo)
            item.checked.set()


class DmaEnv(uvm_env):
    def build_phase(self) -> None:
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = DmaDriver("driver", self)
        self.scoreboard = DmaScoreboard("scoreboard", self)

    def connect_phase(self) -> None:
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.ap.connect(self.scoreboard.fifo.analysis_export)
