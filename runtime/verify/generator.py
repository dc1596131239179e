"""Constrained-random command programs at the ISA level, in the spirit of riscv-dv: not through the
compiler, every opcode but HOST, every field over its legal range, random data full of the values
numerics get wrong (zero, -0, subnormals, inf, NaN, huge values, bf16 rounding ties).

A program is a pure function of (config, seed, index): the simulation regenerates it rather than
receiving it. Its shape:
- ALLOC of a few buffers (random handles and sizes, sometimes not whole rows), each filled whole by
  a DMA load from a constant tensor of random data, so no byte the program reads is undefined;
- a body of GEMMs (every flag, A row steps 0..3, C in place or apart), VECs (every function, B mode
  and fp32/bf16 type), groups of concurrent strided DMA loads and stores on distinct buffers and
  tickets, NOPs, and FREE + ALLOC of a buffer again;
- an epilogue that stores every buffer's rows whole into the output tensor and frees them; END.
Stores go to fresh places of the output tensor, loads read the constant data: no two transfers
race. Comparing DRAM at the end then compares every scratchpad and DRAM byte the program wrote.
A share of the programs (HIGH_DATA_SHARE) place the data high in DRAM, above a gap of zeros, and
the output and the stream (word-aligned, anywhere) below it; some of their loads read anywhere in
the gap and the data, strides drawn across all of it (the upper bits of addresses and strides).

The illegal mode plants one bad command (chosen by the program index, so every kind comes round)
where the generator's model of the machine says it breaks exactly that rule; it bypasses the
loader (the stream in DRAM is patched) and both backends must stop there with the same code. The
fields a refusal turns on (row counts past a buffer, a refused call's arguments) are drawn over
their whole words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atalla.blob_format import DType, Role
from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import (BMODE_SHIFT, COMMAND_BYTES, COMMAND_FIELDS, COMMAND_WORDS, GEMM_FLAGS, GEMM_QUEUE_DEPTH,
                        REF_ROW_MASK, UNARY_FUNCS, BMode, Command, DmaDirection, Fault, Flag, Opcode, VecFunc, command,
                        make_ref, tile_sp_rows)
from atalla.program import Program, TensorInfo
from firmware.dma import distinct_elements
from runtime.emulator import units

COMPUTE_TRIES = 3  # placements tried for a GEMM or VEC before the body moves on
# A share of the programs place their data high in DRAM, above a gap of zeros their loads may read
# too, with strides across all of it: the upper bits of the DMA's addresses and strides. Below
# HIGH_DATA_LIMIT (the whole DRAM of small): the bench zeroes and compares each program's DRAM.
HIGH_DATA_SHARE = 0.3
HIGH_DATA_LIMIT = 16 << 20

# fp32 bit patterns worth meeting (as whole fp32 tiles, or as bf16 halves).
SPECIAL_F32 = np.array([
    0x00000000, 0x80000000,  # +0, -0
    0x00000001, 0x007FFFFF, 0x80400000,  # subnormals (flushed)
    0x00800000, 0x80800000,  # the smallest normals
    0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001,  # inf, NaNs (quiet, negative, signalling)
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000, 0x7EFFFFFF,  # huge: products and sums overflow to inf
    0x3F808000, 0x3F818000, 0xBF808000, 0x3F807FFF, 0x3F808001,  # bf16 rounding ties and their neighbours
    0x3F800000, 0xBF800000, 0x40000000, 0x3F000000, 0x4B000000, 0x3FC00000,  # 1, -1, 2, 0.5, 2^23, 1.5
], dtype=np.uint32)


def random_data(rng: np.random.Generator, elems: int) -> np.ndarray:
    """bf16 words: pairs of them read as fp32 tiles too. Half are ordinary values near 1 (so
    arithmetic means something), the rest specials, as fp32 values or as bf16 words."""
    pairs = elems // 2
    sign = rng.integers(0, 2, pairs, dtype=np.uint32) << 31
    exponent = rng.integers(118, 137, pairs, dtype=np.uint32) << 23
    values = sign | exponent | rng.integers(0, 1 << 23, pairs, dtype=np.uint32)
    special = rng.random(pairs) < 0.3
    values[special] = rng.choice(SPECIAL_F32, int(special.sum()))
    words = values.view("<u2").copy()
    halves = rng.random(elems) < 0.1  # a special bf16 word on its own
    words[halves] = (rng.choice(SPECIAL_F32, int(halves.sum())) >> 16).astype(np.uint16)
    return words


@dataclass
class Buffer:
    rows: int  # whole scratchpad rows the program may use
    nbytes: int  # what ALLOC asked for


@dataclass
class State:
    """The generator's model of the machine before a command: what a planted command must break."""

    buffers: dict[int, Buffer] = field(default_factory=dict)  # bound handle -> buffer
    outstanding: dict[int, int] = field(default_factory=dict)  # ticket -> handle of its DMA

    def copy(self) -> State:
        return State(dict(self.buffers), dict(self.outstanding))


@dataclass(frozen=True)
class Planted:
    index: int  # the command the backends must stop at
    words: np.ndarray  # COMMAND_WORDS words written over the placeholder NOP
    fault: Fault  # the code both must give
    kind: str  # what was planted, for reports


@dataclass
class Generated:
    program: Program
    planted: Planted | None = None

    def stream_words(self) -> np.ndarray:
        """The command stream as it goes into DRAM: the planted command over its placeholder."""
        words = np.stack([c.encode() for c in self.program.commands])
        if self.planted is not None:
            words[self.planted.index] = self.planted.words
        return words

    def patch(self, dram: np.ndarray) -> None:
        """Write the planted command into a DRAM image of the program (the loader never sees it)."""
        if self.planted is not None:
            at = self.program.program_dram_offset + self.planted.index * COMMAND_BYTES
            dram[at : at + COMMAND_BYTES] = self.planted.words.astype("<u4").view(np.uint8)


def _align(value: int, to: int) -> int:
    return -(-value // to) * to


class _Builder:
    def __init__(self, config: HardwareConfig, rng: np.random.Generator):
        self.cfg, self.rng = config, rng
        self.commands: list[Command] = []
        self.states: list[State] = []  # the state before each command
        self.state = State()
        self.out_elems = 0  # the output tensor grows as stores claim places in it
        # Buffers up to four array heights: room for tall tiles, A row steps and fp32 tiles.
        self.max_rows = min(4 * config.array_rows, config.sp_rows // 16)
        self.data_elems = 2 * self.max_rows * config.lanes  # bf16 words of random data the loads read
        self.data_base = 0  # its DRAM byte address
        self.far: tuple[int, int] | None = None  # (DRAM byte, elements) loads may read: zeros, then the data

    def emit(self, cmd: Command) -> None:
        self.states.append(self.state.copy())
        self.commands.append(cmd)

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def free_tickets(self) -> list[int]:
        return [t for t in range(self.cfg.num_tickets) if t not in self.state.outstanding]

    # -- buffers and transfers ---------------------------------------------------------------------
    def alloc(self, handle: int) -> None:
        rows = int(self.rng.integers(1, self.max_rows + 1))
        extra = int(self.rng.integers(1, self.cfg.sp_row_bytes)) if self.rng.random() < 0.3 else 0
        self.emit(command(Opcode.ALLOC, handle=handle, bytes=rows * self.cfg.sp_row_bytes + extra))
        self.state.buffers[handle] = Buffer(rows, rows * self.cfg.sp_row_bytes + extra)

    def fill(self, handles: list[int]) -> None:
        """Each buffer loaded whole from the data (concurrently), then every ticket waited for."""
        lanes = self.cfg.lanes
        for handle in handles:
            rows = self.state.buffers[handle].rows
            start = int(self.rng.integers(0, self.data_elems - rows * lanes + 1))
            self.dma(Opcode.DMA_LOAD, handle, 0, rows, lanes, lanes, 1, self.data_base + 2 * start)
        self.wait_all()

    def dma(self, op: Opcode, handle: int, row: int, rows: int, cols: int, row_stride: int, col_stride: int,
            dram_addr: int) -> None:
        ticket = self.pick(self.free_tickets())
        self.emit(command(op, sp=make_ref(handle, row), dram_addr=dram_addr, rows=rows, cols=cols,
                          row_stride=row_stride, col_stride=col_stride, ticket=ticket))
        self.state.outstanding[ticket] = handle

    def wait_all(self) -> None:
        tickets = list(self.state.outstanding)
        self.rng.shuffle(tickets)
        for ticket in tickets:
            self.emit(command(Opcode.WAIT, ticket=ticket))
            del self.state.outstanding[ticket]

    def claim_output(self, elems: int) -> int:
        """A fresh place for a store: its DRAM byte address is out_base + 2 * the returned element."""
        at = self.out_elems
        self.out_elems += elems
        return at

    def dma_group(self, out_base: int) -> None:
        """One to three concurrent strided transfers on distinct buffers, then their WAITs."""
        handles = list(self.state.buffers)
        self.rng.shuffle(handles)
        for handle in handles[: int(self.rng.integers(1, 4))]:
            buf = self.state.buffers[handle]
            row = int(self.rng.integers(0, buf.rows))
            rows = int(self.rng.integers(1, buf.rows - row + 1))
            cols = int(self.rng.integers(1, self.cfg.lanes + 1))
            if self.far is not None and self.rng.random() < 0.25:
                self.far_load(handle, row, rows, cols)
            elif self.rng.random() < 0.5:  # a load: any strides, 0 (broadcast) too, inside the data
                rs, cs = int(self.pick([0, 1, cols, self.cfg.lanes, int(self.rng.integers(0, 40))])), \
                    int(self.pick([0, 1, 1, 2, rows]))
                span = (rows - 1) * rs + (cols - 1) * cs + 1
                if span > self.data_elems:
                    rs, cs, span = cols, 1, rows * cols
                start = int(self.rng.integers(0, self.data_elems - span + 1))
                self.dma(Opcode.DMA_LOAD, handle, row, rows, cols, rs, cs, self.data_base + 2 * start)
            else:  # a store, row-major with gaps or transposed, each element written once
                if self.rng.random() < 0.5:
                    rs, cs = cols + int(self.rng.integers(0, 5)), 1
                else:
                    rs, cs = 1, rows + int(self.rng.integers(0, 3))
                desc = DmaDescriptor(DmaDirection.STORE, 0, 0, rows, cols, rs, cs, 0)
                assert distinct_elements(desc)
                start = self.claim_output((rows - 1) * rs + (cols - 1) * cs + 1)
                self.dma(Opcode.DMA_STORE, handle, row, rows, cols, rs, cs, out_base + 2 * start)
        self.wait_all()

    def far_load(self, handle: int, row: int, rows: int, cols: int) -> None:
        """A load anywhere in the far region, strides drawn over all of it: a stride that moves
        nothing (rows or cols 1) over its whole 32-bit word."""
        base, elems = self.far
        rng = self.rng
        rs = int(rng.integers(0, (elems - 1) // (2 * (rows - 1)) + 1)) if rows > 1 else int(rng.integers(0, 1 << 32))
        used = (rows - 1) * rs
        cs = int(rng.integers(0, (elems - 1 - used) // (cols - 1) + 1)) if cols > 1 else int(rng.integers(0, 1 << 32))
        span = used + (cols - 1) * cs + 1
        self.dma(Opcode.DMA_LOAD, handle, row, rows, cols, rs, cs, base + 2 * int(rng.integers(0, elems - span + 1)))

    # -- compute -----------------------------------------------------------------------------------
    def place(self, rows: int) -> tuple[int, int] | None:
        """A random (handle, row) with `rows` rows from there inside the buffer, or None."""
        fits = [h for h, b in self.state.buffers.items() if b.rows >= rows]
        if not fits:
            return None
        handle = self.pick(fits)
        return handle, int(self.rng.integers(0, self.state.buffers[handle].rows - rows + 1))

    @staticmethod
    def span(at: tuple[int, int], rows: int) -> tuple[int, int]:
        """Rows of one buffer as a range comparable across buffers (which never overlap)."""
        lo = at[0] << 32 | at[1]
        return lo, lo + rows

    def gemm(self) -> bool:
        cfg, rng = self.cfg, self.rng
        m = int(rng.integers(1, 2 * cfg.array_rows + 1))
        k, n = int(rng.integers(1, cfg.array_rows + 1)), int(rng.integers(1, cfg.array_cols + 1))
        step = int(self.pick([1, 1, 1, 0, 2, 3]))
        flags = int(rng.integers(0, 1 << 16)) & GEMM_FLAGS
        a_rows, c_rows, d_rows = units.gemm_a_rows(m, step), units.gemm_c_rows(m, flags), units.gemm_d_rows(m, flags)
        a, b, d = self.place(a_rows), self.place(k), self.place(d_rows)
        if None in (a, b, d):
            return False
        c = d if rng.random() < 0.4 else self.place(c_rows)
        if c is None:
            return False
        spans = [self.span(a, a_rows), self.span(b, k), self.span(c, c_rows), self.span(d, d_rows)]
        if units.gemm_operand_problem(flags, *spans):
            return False
        self.emit(command(Opcode.GEMM, func=step, flags=flags, a=make_ref(*a), b=make_ref(*b), c=make_ref(*c),
                          d=make_ref(*d), m=m, k=k, n=n))
        return True

    def vec(self) -> bool:
        cfg, rng = self.cfg, self.rng
        func = VecFunc(int(rng.integers(len(VecFunc))))
        mode = BMode(int(rng.integers(len(BMode))))
        flags = int(mode) << BMODE_SHIFT
        for bit in (Flag.DST_FP32, Flag.A_FP32, Flag.B_FP32):
            flags |= int(bit) if rng.random() < 0.5 else 0
        rows, cols = int(rng.integers(1, 2 * cfg.array_rows + 1)), int(rng.integers(1, cfg.lanes + 1))
        a_rows = tile_sp_rows(rows, bool(flags & Flag.A_FP32))
        dst_rows = tile_sp_rows(rows, bool(flags & Flag.DST_FP32))
        a = self.place(a_rows)
        dst = a if rng.random() < 0.3 and a_rows == dst_rows else self.place(dst_rows)
        if a is None or dst is None:
            return False
        b_word, b_span = int(rng.choice(SPECIAL_F32)) if rng.random() < 0.5 else int(rng.integers(0, 1 << 32)), None
        if func not in UNARY_FUNCS and mode != BMode.SCALAR:
            b_rows = tile_sp_rows(units.b_shape(mode, rows, cols)[0], bool(flags & Flag.B_FP32))
            b = dst if rng.random() < 0.2 and mode == BMode.TILE and b_rows == dst_rows else self.place(b_rows)
            if b is None:
                return False
            b_word, b_span = make_ref(*b), self.span(b, b_rows)
        elif func in UNARY_FUNCS:
            b_word = 0  # read by nothing
        if units.vec_operand_problem(mode, self.span(dst, dst_rows), self.span(a, a_rows), b_span):
            return False
        self.emit(command(Opcode.VEC, func=func, flags=flags, dst=make_ref(*dst), a=make_ref(*a), b=b_word,
                          rows=rows, cols=cols))
        return True


def generate(config: HardwareConfig, seed: int, index: int, illegal: bool = False) -> Generated:
    """Program `index` of the run with this seed (a legal one, or with one planted bad command)."""
    rng = np.random.default_rng([seed, index, int(illegal)])
    g = _Builder(config, rng)
    data_bytes = _align(2 * g.data_elems, config.dram_align)
    if rng.random() < HIGH_DATA_SHARE:  # the output and the stream below `reserve`, the data above
        align, top = config.dram_align, min(config.dram_bytes, HIGH_DATA_LIMIT)
        reserve = top // 2
        g.data_base = align * int(rng.integers(reserve // align, (top - data_bytes) // align + 1))
        g.far = (reserve, (g.data_base - reserve) // 2 + g.data_elems)
        out_base = 0
    else:
        reserve, out_base = None, data_bytes
    handles = [int(h) for h in rng.choice(config.num_handles, int(rng.integers(2, 6)), replace=False)]
    for handle in handles:
        g.alloc(handle)
    g.fill(handles)
    for _ in range(int(rng.integers(4, 24))):
        roll = rng.random()
        if roll < 0.35:  # sometimes a burst that fills the GEMM unit's queue
            for _ in range(GEMM_QUEUE_DEPTH + 2 if rng.random() < 0.25 else 1):
                any(g.gemm() for _ in range(COMPUTE_TRIES))
        elif roll < 0.75:
            any(g.vec() for _ in range(COMPUTE_TRIES))
        elif roll < 0.9:
            g.dma_group(out_base)
        elif roll < 0.95:
            g.emit(command(Opcode.NOP))
        else:  # give a buffer back and take a new one under the same handle
            handle = g.pick(list(g.state.buffers))
            g.emit(command(Opcode.FREE, handle=handle))
            del g.state.buffers[handle]
            g.alloc(handle)
            g.fill([handle])
    for handle, buf in g.state.buffers.items():  # the epilogue: every buffer's rows, whole
        start = g.claim_output(buf.rows * config.lanes)
        g.dma(Opcode.DMA_STORE, handle, 0, buf.rows, config.lanes, config.lanes, 1, out_base + 2 * start)
    g.wait_all()
    for handle in list(g.state.buffers):
        g.emit(command(Opcode.FREE, handle=handle))
        del g.state.buffers[handle]
    g.emit(command(Opcode.END))

    planted = _plant(g, rng, index) if illegal else None
    out_bytes = _align(2 * g.out_elems, config.dram_align)
    program_offset = out_base + out_bytes
    stream_bytes = len(g.commands) * COMMAND_BYTES
    if reserve is not None:  # the stream anywhere below the gap, word-aligned (all the loader asks)
        if program_offset + stream_bytes > reserve:
            raise AssertionError(f"program {index}: output and stream end above the data's gap at {reserve}")
        program_offset += 4 * int(rng.integers(0, (reserve - program_offset - stream_bytes) // 4 + 1))
    program_end = program_offset + stream_bytes
    data = random_data(rng, g.data_elems)
    tensors = [TensorInfo("data", Role.CONSTANT, (g.data_elems,), g.data_base, DType.BF16, 0),
               TensorInfo("out", Role.OUTPUT, (g.out_elems,), out_base)]
    program = Program(config, tensors, data.tobytes(), g.commands, [], program_offset,
                      max(program_end, g.data_base + data_bytes),
                      {"model": f"random seed {seed} program {index}", "compiler_version": "runtime.verify"})
    return Generated(program, planted)


# -- the illegal mode ------------------------------------------------------------------------------

# Every fault code a command can earn on its own; program index i plants PLANT_KINDS[i % len].
PLANT_KINDS = (Fault.BAD_OPCODE, Fault.BAD_FUNC, Fault.BAD_FLAGS, Fault.UNUSED_WORD, Fault.BAD_HANDLE,
               Fault.BAD_TICKET, Fault.BAD_SHAPE, Fault.HANDLE_IN_USE, Fault.UNBOUND_HANDLE, Fault.DMA_NOT_WAITED,
               Fault.OUT_OF_BUFFER, Fault.OPERAND_OVERLAP, Fault.FIRMWARE)


def _words(op: int, func: int = 0, flags: int = 0, args: tuple[int, ...] = ()) -> np.ndarray:
    words = np.zeros(COMMAND_WORDS, dtype=np.uint64)
    words[0] = op | func << 8 | flags << 16
    words[1 : 1 + len(args)] = args
    return words.astype(np.uint32)


def _plant(g: _Builder, rng: np.random.Generator, index: int) -> Planted:
    """Insert a placeholder NOP at a position where the kind can be planted; the bad words go over it."""
    kind = PLANT_KINDS[index % len(PLANT_KINDS)]
    # DMA_NOT_WAITED needs a DMA in flight; every other kind a bound buffer (all but the last commands).
    where = [i for i, s in enumerate(g.states) if s.buffers and (kind != Fault.DMA_NOT_WAITED or s.outstanding)]
    at = int(rng.choice(where))
    state = g.states[at]
    words, what = _bad_command(kind, state, g.cfg, rng)
    g.commands.insert(at, command(Opcode.NOP))
    g.states.insert(at, state)
    return Planted(at, words, kind, what)


def _bad_command(kind: Fault, s: State, cfg: HardwareConfig, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    def pick(options):
        return options[int(rng.integers(len(options)))]

    bound = list(s.buffers)
    h = pick(bound)
    rows = s.buffers[h].rows
    unbound = [x for x in range(cfg.num_handles) if x not in s.buffers]
    free_ticket = pick([t for t in range(cfg.num_tickets) if t not in s.outstanding])
    ref = make_ref(h)
    copy = lambda r=1, c=1, a=ref, d=ref, f=VecFunc.COPY, flags=0, b=0: _words(Opcode.VEC, f, flags, (d, a, b, r, c))  # noqa: E731
    gemm = lambda m=1, k=1, n=1, a=ref, b=ref, d=ref, flags=0, step=1: _words(Opcode.GEMM, step, flags, (a, b, d, d, m, k, n))  # noqa: E731
    load = lambda sp=ref, r=1, c=1, t=free_ticket, dram=0: _words(Opcode.DMA_LOAD, 0, 0, (sp, dram, r, c, c, 1, t))  # noqa: E731
    if kind == Fault.BAD_OPCODE:
        op = int(rng.integers(len(Opcode), 256))
        return _words(op, int(rng.integers(256)), int(rng.integers(1 << 16)),
                      tuple(int(w) for w in rng.integers(0, 1 << 32, COMMAND_WORDS - 1))), f"opcode {op}"
    if kind == Fault.BAD_FUNC:
        return pick([(copy(f=int(rng.integers(len(VecFunc), 256))), "VEC with an unknown function"),
                     (_words(Opcode.WAIT, int(rng.integers(1, 256)), 0, (free_ticket,)), "WAIT with a func"),
                     (_words(Opcode.NOP, int(rng.integers(1, 256))), "NOP with a func")])
    if kind == Fault.BAD_FLAGS:
        return pick([(gemm(flags=int(Flag.DST_FP32)), "GEMM with a VEC flag"),
                     (copy(flags=int(Flag.ACCUMULATE)), "VEC with a GEMM flag"),
                     (_words(Opcode.ALLOC, 0, 1 << int(rng.integers(16)), (pick(unbound) if unbound else 0, 16)),
                      "ALLOC with a flag")])
    if kind == Fault.UNUSED_WORD:
        op = pick([Opcode.NOP, Opcode.WAIT, Opcode.VEC, Opcode.FREE, Opcode.ALLOC, Opcode.END])
        words = {Opcode.VEC: copy(), Opcode.WAIT: _words(Opcode.WAIT, args=(free_ticket,)),
                 Opcode.FREE: _words(Opcode.FREE, args=(h,)), Opcode.ALLOC: _words(Opcode.ALLOC, args=(h, 16))
                 }.get(op, _words(op))
        w = int(rng.integers(1 + len(COMMAND_FIELDS[op]), COMMAND_WORDS))
        words[w] = int(rng.integers(1, 1 << 32))
        return words, f"{op.name} with word {w} set"
    if kind == Fault.BAD_HANDLE:
        big = int(rng.integers(cfg.num_handles, 256))
        return pick([(copy(a=make_ref(big)), f"VEC on handle {big}"),
                     (gemm(b=make_ref(big)), f"GEMM with B on handle {big}"),
                     (_words(Opcode.ALLOC, 0, 0, (int(rng.integers(cfg.num_handles, 1 << 32)), 16)),
                      "ALLOC of a handle beyond the table"),
                     (load(sp=make_ref(big)), f"DMA on handle {big}")])
    if kind == Fault.BAD_TICKET:
        options = [(load(t=int(rng.integers(cfg.num_tickets, 1 << 32))), "DMA on a ticket beyond the table"),
                   (_words(Opcode.WAIT, 0, 0, (free_ticket,)), f"WAIT on ticket {free_ticket} with no DMA")]
        if s.outstanding:
            options.append((load(t=pick(list(s.outstanding))), "DMA on a ticket still in flight"))
        return pick(options)
    if kind == Fault.BAD_SHAPE:
        over_k = int(rng.integers(cfg.array_rows + 1, 1 << 32)) if rng.random() < 0.5 else cfg.array_rows + 1
        return pick([(gemm(m=0), "GEMM with m = 0"), (gemm(k=over_k), f"GEMM with k = {over_k}"),
                     (gemm(k=0), "GEMM with k = 0"), (gemm(n=cfg.array_cols + 1 + int(rng.integers(300))),
                                                      "GEMM with n beyond the array"),
                     (copy(r=0), "VEC with 0 rows"), (copy(c=cfg.lanes + 1), "VEC wider than the lanes"),
                     (copy(c=0), "VEC with 0 columns")])
    if kind == Fault.HANDLE_IN_USE:
        return _words(Opcode.ALLOC, 0, 0, (h, 16)), f"ALLOC of bound handle {h}"
    if kind == Fault.UNBOUND_HANDLE:
        x = pick(unbound)
        return pick([(copy(a=make_ref(x)), f"VEC reading unbound handle {x}"),
                     (_words(Opcode.FREE, 0, 0, (x,)), f"FREE of unbound handle {x}"),
                     (gemm(d=make_ref(x)), f"GEMM writing unbound handle {x}"),
                     (load(sp=make_ref(x)), f"DMA into unbound handle {x}")])
    if kind == Fault.DMA_NOT_WAITED:
        return _words(Opcode.END), "END with a DMA in flight"
    if kind == Fault.OUT_OF_BUFFER:
        # The row counts drawn over their whole 32-bit words (and a GEMM's A step over its 8 bits, fp32
        # tiles doubled), so that every bit of the rows an operand spans, and of the ranges it
        # touches, is met; the first rows past the buffer too.
        far = int(rng.integers(rows, REF_ROW_MASK + 1))
        over = rows + 1 if rng.random() < 0.3 else int(rng.integers(rows + 1, 1 << 32))
        tile = int(Flag.DST_FP32) * int(rng.integers(2)) | int(Flag.A_FP32) * int(rng.integers(2)) \
            | int(Flag.B_FP32) * int(rng.integers(2))
        return pick([(copy(r=over), "VEC past its buffer"),
                     (copy(r=over, f=VecFunc.ADD, flags=tile | int(BMode.TILE) << BMODE_SHIFT, b=ref),
                      "VEC of fp32 or bf16 tiles past their buffer"),
                     (copy(a=make_ref(h, far)), f"VEC from row {far} of a {rows}-row buffer"),
                     (load(r=over), "DMA past its buffer"),
                     (gemm(m=over, a=make_ref(h), d=make_ref(pick(bound)), step=int(rng.integers(1, 256)),
                           flags=int(rng.integers(0, 1 << 16)) & GEMM_FLAGS), "GEMM A or D past its buffer")])
    if kind == Fault.OPERAND_OVERLAP:
        tall = [x for x in bound if s.buffers[x].rows >= 3]
        options = [(gemm(flags=int(Flag.D_BF16)), "GEMM whose D is its A")]
        if tall:
            x = pick(tall)
            options.append((copy(r=2, a=make_ref(x, 0), d=make_ref(x, 1)), "VEC destination one row below a"))
        return pick(options)
    # FIRMWARE: a call the firmware refuses, the refused field drawn over its whole 32-bit word (the
    # mailbox carries every bit of it). A DMA only on a buffer no transfer owns, and from beyond
    # DRAM (else the emulator reports a race first, a rule the hardware does not check); a HOST (of
    # an op a random program does not have) only with no DMA in flight (else DMA_NOT_WAITED).
    word = lambda lo: int(rng.integers(lo, 1 << 32))  # noqa: E731
    quiet = [x for x in bound if x not in s.outstanding.values()]
    if not quiet or rng.random() < 0.4:
        calls = [(_words(Opcode.ALLOC, 0, 0, (pick(unbound), word(cfg.sp_bytes + 1))), "ALLOC beyond the scratchpad")]
        if not s.outstanding:
            calls.append((_words(Opcode.HOST, 0, 0, (word(0),)), "HOST of an op the program does not have"))
        return pick(calls)
    sp = make_ref(pick(quiet))
    beyond = lambda: word(cfg.dram_bytes)  # noqa: E731
    return pick([(load(sp=sp, c=0), "DMA of 0 columns"),
                 (load(sp=sp, c=word(cfg.lanes + 1), dram=beyond()), "DMA wider than the lanes"),
                 (_words(Opcode.DMA_LOAD, 0, 0, (sp, beyond(), 1, int(rng.integers(1, cfg.lanes + 1)), word(0), word(0),
                                                 free_ticket)), "DMA beyond DRAM")])
