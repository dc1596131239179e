"""GEMM on the weight-stationary array: out[M, N] = a[M, K] @ b[K, N] (+ bias).

The output is computed in tiles of m_tile rows x array_cols columns. For each tile the GEMM
commands run over the K tiles into an fp32 accumulator; the first adds the bias (a bf16 row, or a
bf16 tile) and the last writes the tile rounded to bf16, so neither needs a VEC pass.

Everything is double buffered and asked for ahead, so the array never waits for a transfer it
could have had earlier (the GEMM unit queues commands; the command processor posts DMA calls and
holds back only commands that touch rows a queued GEMM still uses):
- the A panel (m_tile rows x all of K) of the next row block loads while this one computes (when
  two panels fit; else after it); when A is row-major and K is in equal tiles (k_tile_rows: a
  multiple of array_rows, or 300 = 10 x 30 on 32 rows) it is one DMA, read back with a row step;
- the B panel (all of K x array_cols) of the next tile loads while this tile computes;
- each output tile is stored while the next one computes;
- the first A panel may load in row pieces, the first tile computing on each as it lands, so the
  array starts after a piece rather than the whole panel.
m_tile, the number of A panels and of first pieces come from a cost model of the hardware config (_cost): tile
after tile at the pace of the slowest of the array, the tile's transfers and the firmware's
calls, bounded below by the DRAM traffic (B is read once per row block; the program is fetched
from DRAM too), plus the first panels' latency and the last store; with an epilogue, its VEC
commands per tile bound the pace too.

An epilogue (an elementwise sequence of VEC commands, the activation of Linear + GELU) runs on
each finished output tile while the next tile multiplies: its commands are spread between that
tile's GEMMs from GEMM `ask` on, where the tile they read has left the GEMM queue, and the vector
unit runs them beside the queued GEMMs (docs/isa.md, "Ordering"). Its result goes to a tile of its
own, double buffered and stored once its last command is placed; with a long sequence the tile's
pace is the vector unit's, not the array's.
"""

from __future__ import annotations

from typing import NamedTuple

from atalla.config import HardwareConfig
from atalla.isa import BF16_BYTES, COMMAND_BYTES, GEMM_QUEUE_DEPTH, tile_sp_rows
from compiler.emitter import Block, Emitter
from compiler.errors import CompileError
from compiler.kernels.pointwise import Emit
from compiler.kernels.tiling import spans, tile_count, view_2d
from compiler.values import View

# Cycles the command processor spends on a command when it need not wait (fetch, decode, issue).
ISSUE_CYCLES = 4
# A transfer that only just fits the compute it hides behind still stalls the array: the program
# fetch and the other transfers share the DRAM port. Measured on small 256^3: m_tile 13, whose B
# panels load in about one tile's time, ran 20% slower than m_tile 32.
TRANSFER_SLACK = 1.25
# Cycles a VEC command costs beside its rows: fetch and issue, and the unit's two-stage pipeline.
VEC_OVERHEAD_CYCLES = ISSUE_CYCLES + 2


def _epilogue_commands(cfg: HardwareConfig, emit: Emit, fp32_temps: int, operands: int = 0) -> int:
    """VEC commands the epilogue sequence emits per tile."""
    em = Emitter(cfg)
    src, dst, *temps = em.alloc_group([(1, False)] * (2 + operands) + [(1, True)] * fp32_temps)
    return len(em.capture(lambda: emit(em, dst, src, tuple(temps), 1, 1)))


def _rows_needed(m_tile: int, a_panels: int, k_total: int, k_tiles: int, n_tiles: int, bias: str,
                 epilogue_temps: int | None = None, epilogue_operands: int = 0) -> int:
    """Scratchpad rows of the kernel's buffers for a row block of m_tile rows (with an epilogue
    of that many fp32 temps: two result tiles, the temps, and two tiles per operand)."""
    a_panels = a_panels * m_tile * k_tiles
    b_panels = (2 if n_tiles > 1 else 1) * k_total
    acc = tile_sp_rows(m_tile, fp32=True) if k_tiles > 1 else 0
    outs = 2 * m_tile
    bias_rows = {"row": n_tiles, "tile": m_tile, "": 0}[bias]
    epilogue = (0 if epilogue_temps is None else
                2 * m_tile * (1 + epilogue_operands) + epilogue_temps * tile_sp_rows(m_tile, fp32=True))
    return a_panels + b_panels + acc + outs + bias_rows + epilogue


def _cost(cfg: HardwareConfig, m_total: int, k_total: int, n_total: int, m_tile: int, a_panels: int,
          first_pieces: int, chunked: bool, bias: str, epilogue_vecs: int = 0) -> float:
    """Estimated cycles of the kernel: the first panels' latency, then tile after tile at the pace of
    the slowest of the array, the tile's transfers, the firmware's calls and the epilogue's VEC
    commands (epilogue_vecs of them per tile, run beside the next tile's GEMMs), then the last
    store (after the last tile's epilogue).
    first_pieces: the first A panel loads in this many row pieces, each computed on as it lands.
    The scratchpad's bank ports cost no term: with the two read ports a bank has at least
    (atalla/config.py) an A row always fits beside the C row, so the array keeps its pace; a DMA
    row meeting a D write in a bank's one write port waits a cycle, under 1% of a GEMM
    (docs/performance.md, section 9). Nor do requests the command processor holds until the last
    tile's GEMMs leave the GEMM queue: this tile's queued GEMMs keep the array busy meanwhile
    (384x96x160 on atalla32: a tile every 1,152 cycles, its three GEMMs' own)."""
    rows_r, cols_c, bw = cfg.array_rows, cfg.array_cols, cfg.dma_bytes_per_cycle
    kt, nt = len(spans(k_total, rows_r)), len(spans(n_total, cols_c))
    blocks = [mm for _, mm in spans(m_total, m_tile)]
    request = cfg.fw_dma_cycles + cfg.dram_latency  # a DMA call until its first beat
    drain = rows_r + cols_c  # a GEMM's last results leave the array this long after its last A row
    first_rows = -(-blocks[0] // first_pieces)

    def a_load(mm: int) -> float:
        return (request if chunked else kt * cfg.fw_dma_cycles) + BF16_BYTES * mm * k_total / bw

    b_load = request + BF16_BYTES * k_total * cols_c / bw if nt > 1 else 0
    calls = (1 + (nt > 1)) * cfg.fw_dma_cycles  # the store and the next B panel, one call each
    total = 0.0
    for bi, mm in enumerate(blocks):
        tile = max(kt * max(mm, rows_r, ISSUE_CYCLES), TRANSFER_SLACK * b_load, calls,
                   epilogue_vecs * (mm + VEC_OVERHEAD_CYCLES))
        if bias == "tile":  # each tile waits for its bias block
            tile += request + BF16_BYTES * mm * cols_c / bw
        block = nt * tile
        if bi == 0:  # the first tile computes on each piece of A as it lands (a K tile when not chunked)
            units, gemms, unit_bytes = ((first_pieces, kt * max(first_rows, rows_r, ISSUE_CYCLES), first_rows * k_total)
                                        if chunked else (kt, max(mm, rows_r, ISSUE_CYCLES), mm * rows_r))
            landing = max(cfg.fw_dma_cycles, BF16_BYTES * unit_bytes / bw)
            block += max(units * gemms, (units - 1) * landing + gemms) - tile
        else:  # this block's A panel: loaded during the last block, or after it with one panel
            block = block + a_load(mm) if a_panels == 1 else max(block, TRANSFER_SLACK * a_load(mm))
        total += block
    commands = len(blocks) * nt * (kt + 4)  # GEMMs, and per tile about a load, a store and their waits
    dram_bytes = BF16_BYTES * (m_total * k_total + len(blocks) * k_total * n_total + m_total * n_total)
    dram = (dram_bytes + commands * COMMAND_BYTES) / bw
    # B panel first, then the first piece of A
    startup = cfg.fw_alloc_cycles + request + BF16_BYTES * (k_total * cols_c + (first_rows * k_total if chunked else
                                                                       blocks[0] * rows_r)) / bw
    last_rows = -(-blocks[-1] // _tail_pieces(cfg, blocks[-1], kt)) if nt > 1 and not epilogue_vecs else blocks[-1]
    tail = drain + request + BF16_BYTES * last_rows * cols_c / bw + epilogue_vecs * (blocks[-1] + VEC_OVERHEAD_CYCLES)
    return startup + max(total, dram) + tail


def _tail_pieces(cfg: HardwareConfig, mm: int, kt: int) -> int:
    """Row pieces of the last tile (at most 4): each at least twice as tall as the array (pieces
    just as tall lose a cycle or so per GEMM: small 256^3 lost 96 cycles with 8-row pieces), and
    computing at least as long as the firmware takes for its store's DMA call."""
    return max([1] + [p for p in (2, 3, 4) if mm // p >= 2 * cfg.array_rows and kt * (mm // p) >= cfg.fw_dma_cycles])


def k_tile_rows(k_total: int, rows: int) -> int:
    """Rows of K per GEMM on an array `rows` tall: K in ceil(K/rows) tiles, equal ones when they
    divide K (300 = 10 x 30 on 32 rows), else full tiles and a shorter last one. Equal tiles take
    the same array cycles as a tail, and row-major A then loads as one DMA per panel instead of one
    per K tile. docs/numerics.md states the sums this gives."""
    kt = -(-k_total // rows)
    return k_total // kt if k_total % kt == 0 else rows


def even_k(k_total: int, kt: int) -> bool:
    """K in kt equal tiles, few enough for a GEMM's A row step."""
    return k_total % kt == 0 and kt < 256


def estimated_cycles(cfg: HardwareConfig, m_total: int, k_total: int, n_total: int) -> float:
    """The cost model's cycles for a lone GEMM (A row-major, no bias, the scratchpad free but for
    a page): what the efficiency test holds against the RTL's count."""
    kt = len(spans(k_total, cfg.array_rows))
    chunked = even_k(k_total, kt)
    free_rows = (cfg.sp_bytes - cfg.sp_page_bytes) // cfg.sp_row_bytes
    schedule = _schedule(cfg, m_total, k_total, n_total, chunked, "", free_rows)
    return _cost(cfg, m_total, k_total, n_total, *schedule, chunked, "")


def _schedule(cfg: HardwareConfig, m_total: int, k_total: int, n_total: int, chunked: bool, bias: str,
              free_rows: int, epilogue_temps: int | None = None, epilogue_vecs: int = 0,
              epilogue_operands: int = 0) -> tuple[int, int, int]:
    """(m_tile, A panels, pieces of the first A panel) of least cost that fits the free scratchpad
    rows. A piece as short as the array is tall still hides the next command's weight load. At most
    four pieces: eight post nine calls before the first GEMM, more than the mailbox queue holds, and
    the command processor waits for the firmware (384x96x160 on atalla32: 7,158 cycles with eight,
    7,007 with four)."""
    kt, nt = len(spans(k_total, cfg.array_rows)), len(spans(n_total, cfg.array_cols))
    fits = [(m, panels, pieces) for m in {-(-m_total // blocks) for blocks in range(1, m_total + 1)}
            for panels in (1, 2) for pieces in (1, 2, 4) if pieces == 1 or chunked and m // pieces >= cfg.array_rows
            if _rows_needed(m, panels, k_total, kt, nt, bias, epilogue_temps, epilogue_operands) <= free_rows]
    if not fits:
        raise CompileError(f"GEMM {m_total}x{k_total}x{n_total}: even one row of A with the B panels "
                           f"({_rows_needed(1, 1, k_total, kt, nt, bias, epilogue_temps, epilogue_operands)} scratchpad rows) "
                           f"does not fit "
                           f"the {free_rows} free rows")
    return min(fits, key=lambda f: (_cost(cfg, m_total, k_total, n_total, *f, chunked, bias, epilogue_vecs), -f[0],
                                    -f[1], f[2]))


class GemmPlan(NamedTuple):
    """How gemm() tiles one GEMM: planned once, by whoever first asks (an epilogue's cost, gemm())."""
    k_tiles: list[tuple[int, int]]
    n_spans: list[tuple[int, int]]
    bias_kind: str  # "", "row" or "tile"
    chunked: bool  # A row-major in equal K tiles: a panel is one DMA
    schedule: tuple[int, int, int]  # (m_tile, A panels, pieces of the first A panel)
    m_total: int

    @property
    def output_tiles(self) -> int:
        """The output tiles gemm() computes (row blocks x N tiles): what an epilogue loading
        operands pays a DMA call for, each."""
        return tile_count(self.m_total, self.schedule[0], len(self.n_spans))


def plan(em: Emitter, a: View, b: View, bias: View | None = None, epilogue: tuple[Emit, int] | None = None,
         n_ops: int = 0) -> GemmPlan:
    """gemm()'s plan for these operands and epilogue (n_ops: the epilogue's operands) in the
    scratchpad free now."""
    cfg = em.config
    (m_total, k_total), n_total = a.shape, b.shape[1]
    a_blk = view_2d(a)
    k_tiles, n_spans = spans(k_total, k_tile_rows(k_total, cfg.array_rows)), spans(n_total, cfg.array_cols)
    bias_kind = "" if bias is None else "row" if bias.strides[0] == 0 else "tile"
    # Row-major A in equal K tiles: the panel is one DMA of k_chunk-element chunks, chunk i of row r
    # at panel row r*kt + i, and the GEMM of K tile i reads A rows i, i + kt, i + 2kt, ...
    chunked = a_blk.col_stride == 1 and a_blk.row_stride == k_total and even_k(k_total, len(k_tiles))
    free_rows = em.sp_free_bytes() // cfg.sp_row_bytes - cfg.sp_page_bytes // cfg.sp_row_bytes
    epilogue_vecs = _epilogue_commands(cfg, *epilogue, n_ops) if epilogue is not None else 0
    schedule = _schedule(cfg, m_total, k_total, n_total, chunked, bias_kind, free_rows,
                         epilogue[1] if epilogue is not None else None, epilogue_vecs, n_ops)
    return GemmPlan(k_tiles, n_spans, bias_kind, chunked, schedule, m_total)


def gemm(em: Emitter, out: View, a: View, b: View, bias: View | None = None,
         epilogue: tuple[Emit, int] | None = None, beside: list | None = None,
         epilogue_operands: tuple[View, ...] = (), planned: GemmPlan | None = None) -> None:
    """All views 2-D; bias, if any, already broadcast to out's shape. epilogue: (sequence, its fp32
    temps), an elementwise function applied to the result before it is stored (pointwise's Emit);
    epilogue_operands: views of out's shape (a residual, say) whose tiles load beside the GEMMs, given
    to the sequence first among its temps as pointwise does.
    beside: VEC commands of other work, on tiles of their own, placed a share before each tile's
    wait for its B panel, so that they run while the transfers do (and beside the queued GEMMs).
    planned: plan() of these operands, if the caller has it already."""
    cfg = em.config
    rows_r, cols_c = cfg.array_rows, cfg.array_cols
    (m_total, k_total), n_total = a.shape, b.shape[1]
    a_blk, b_blk, out_blk = view_2d(a), view_2d(b), view_2d(out)
    n_ops = len(epilogue_operands)
    k_tiles, n_spans, bias_kind, chunked, (m_tile, a_bufs, first_pieces), _ = (
        planned or plan(em, a, b, bias, epilogue, n_ops))
    kt, nt = len(k_tiles), len(n_spans)
    bias_blk = view_2d(bias) if bias is not None else None
    k_chunk = k_tiles[0][1]
    epilogue_temps = epilogue[1] if epilogue is not None else None

    reload_b = nt > 1
    tiles = em.alloc_group(
        [(m_tile * kt, False)] * a_bufs + [(k_total, False)] * (2 if reload_b else 1)
        + ([(m_tile, True)] if kt > 1 else []) + [(m_tile, False)] * 2
        + ([(nt if bias_kind == "row" else m_tile, False)] if bias is not None else [])
        + ([(m_tile, False)] * 2 * (1 + n_ops) + [(m_tile, True)] * epilogue_temps if epilogue is not None else []))
    a_panels, tiles = tiles[:a_bufs], tiles[a_bufs:]
    b_panels, tiles = tiles[: 2 if reload_b else 1], tiles[2 if reload_b else 1 :]
    acc, tiles = (tiles[0], tiles[1:]) if kt > 1 else (None, tiles)
    outs, tiles = tiles[:2], tiles[2:]
    bias_tile, tiles = (tiles[0], tiles[1:]) if bias is not None else (None, tiles)
    results, operand_tiles, epilogue_tmp = tiles[:2], tiles[2 : 2 + 2 * n_ops], tuple(tiles[2 + 2 * n_ops :])
    operand_blks = [view_2d(v) for v in epilogue_operands]

    blocks = spans(m_total, m_tile)
    work = [(bi, m0, mm, j, n0, nn) for bi, (m0, mm) in enumerate(blocks) for j, (n0, nn) in enumerate(n_spans)]

    def load_a(bi: int, pieces: int = 1) -> list[list[int | None]]:
        """The block's A panel, per row piece: the transfer GEMM i of the piece waits for (or None).
        Chunked, a piece is one DMA; otherwise each K tile is one, and GEMM i needs only the i-th."""
        m0, mm = blocks[bi]
        panel = a_panels[bi % a_bufs]
        if chunked:
            return [[em.load(panel, Block(a_blk.view, a_blk.offset + (m0 + r0) * k_total, rr * kt, k_chunk, k_chunk, 1),
                             row=r0 * kt)] + [None] * (kt - 1) for r0, rr in spans(mm, -(-mm // pieces))]
        return [[load_a_k_tile(bi, i) for i in range(kt)]]

    def load_a_k_tile(bi: int, i: int) -> int:
        (m0, mm), (k0, kk) = blocks[bi], k_tiles[i]
        return em.load(a_panels[bi % a_bufs], a_blk.sub(m0, k0, mm, kk), row=i * m_tile)

    def load_b(t: int) -> int:
        _, _, _, _, n0, nn = work[t]
        return em.load(b_panels[t % len(b_panels)], b_blk.sub(0, n0, k_total, nn))

    def store_out(t: int) -> int:
        _, m0, mm, _, n0, nn = work[t]
        return em.store(outs[t % 2], out_blk.sub(m0, n0, mm, nn))

    # The epilogue of tile t reads its output tile (and its operands' tiles t % 2, loaded while tile t
    # computes) and writes result tile t % 2, stored after it.
    result_stores: dict[int, int] = {}
    operand_loads: dict[int, list[int]] = {}

    def load_operands(t: int) -> None:
        _, m0, mm, _, n0, nn = work[t]
        operand_loads[t] = [em.load(operand_tiles[2 * i + t % 2], blk.sub(m0, n0, mm, nn))
                            for i, blk in enumerate(operand_blks)]

    def epilogue_of(t: int) -> list:
        _, _, mm, _, _, nn = work[t]
        if t - 2 in result_stores:
            em.wait(result_stores.pop(t - 2))  # the result tile is about to be overwritten
        for transfer in operand_loads.pop(t, []):
            em.wait(transfer)
        temps = tuple(operand_tiles[2 * i + t % 2] for i in range(n_ops)) + epilogue_tmp
        return em.capture(lambda: epilogue[0](em, results[t % 2], outs[t % 2], temps, mm, nn))

    def store_result(t: int) -> None:
        _, m0, mm, _, n0, nn = work[t]
        result_stores[t] = em.store(results[t % 2], out_blk.sub(m0, n0, mm, nn))

    b_loads = {0: load_b(0)}  # the smaller first: the first GEMM needs both
    a_loads = {0: load_a(0, first_pieces)}
    if bias_kind == "row":  # the whole bias row, a panel row per N tile: full rows, then the rest
        full, rest = divmod(n_total, cols_c)
        step = bias_blk.col_stride
        bias_loads = [em.load(bias_tile, Block(bias_blk.view, bias_blk.offset, full, cols_c, cols_c * step, step))
                      ] if full else []
        if rest:
            bias_loads.append(em.load(bias_tile, Block(bias_blk.view, bias_blk.offset + full * cols_c * step,
                                                       1, rest, 0, step), row=full))
        for transfer in bias_loads:
            em.wait(transfer)
    stores: dict[int, int] = {}
    tail_stores: list[int] = []  # the last tile's, piece by piece
    # The requests go out after GEMM `ask` of a tile: by then the GEMMs of the tile before, whose
    # output and B panel they reuse, have left the GEMM queue, and the command processor need not
    # hold them while the array drains.
    ask = min(GEMM_QUEUE_DEPTH - 1, kt - 1)
    # Not chunked, the next block's A panel is kt DMA calls: they go out one per `spacing` GEMMs,
    # the firmware's pace, so the command processor never waits on a full mailbox queue.
    spread: list[int] = []
    beside_placed = 0
    for t, (bi, m0, mm, j, n0, nn) in enumerate(work):
        # The last tile's epilogue, placed from GEMM `ask` of this tile on, spread to the tile's last GEMM.
        before = epilogue_of(t - 1) if epilogue is not None and t > 0 else []
        placed = 0
        if j == 0:
            for i in spread:
                a_loads[bi][0].append(load_a_k_tile(bi, i))
            spread = []
        spacing = -(-cfg.fw_dma_cycles // max(mm, rows_r, ISSUE_CYCLES))
        if beside:
            share = -(-len(beside) * (t + 1) // len(work))
            em.place(beside[beside_placed:share])
            beside_placed = share
        if t in b_loads:
            em.wait(b_loads.pop(t))
        a_pieces = a_loads.pop(bi) if j == 0 else [[None] * kt]
        if t == len(work) - 1 and j > 0 and epilogue is None:
            # The last tile in row pieces, each stored while the next computes: after the array
            # only the last piece's store is left. A piece still hides its weight loads and its
            # store's firmware call.
            a_pieces = [[None] * kt] * _tail_pieces(cfg, mm, kt)
        if bias_kind == "tile":
            em.wait(em.load(bias_tile, bias_blk.sub(m0, n0, mm, nn)))
        out_tile = outs[t % 2]
        issued = 0  # GEMMs of this tile so far
        tile_gemms = len(a_pieces) * kt
        pieces = spans(mm, -(-mm // len(a_pieces)))
        for piece, ((r0, rr), a_waits) in enumerate(zip(pieces, a_pieces)):
            for i, (k0, kk) in enumerate(k_tiles):
                if a_waits[i] is not None:
                    em.wait(a_waits[i])
                last = i == kt - 1
                if last and t - 2 in stores:
                    em.wait(stores.pop(t - 2))  # this tile's output buffer is still being stored
                if i > 0:
                    c, c_row = acc, r0
                else:
                    c, c_row = bias_tile, j if bias_kind == "row" else r0
                em.gemm(a_panels[bi % a_bufs], b_panels[t % len(b_panels)], out_tile if last else acc, rr, kk, nn,
                        c=c, c_is_row=bias_kind == "row" and i == 0, c_row=c_row,
                        a_row=r0 * kt + i if chunked else i * m_tile + r0, a_step=kt if chunked else 1, b_row=k0,
                        d_row=r0)
                g, issued = issued, issued + 1
                if before and g >= ask:
                    share = -(-len(before) * (g - ask + 1) // (tile_gemms - ask))
                    em.place(before[placed:share])
                    placed = share
                    if placed == len(before):
                        store_result(t - 1)
                        before = []
                if spread and g > ask and (g - ask) % spacing == 0:
                    a_loads[bi + 1][0].append(load_a_k_tile(bi + 1, spread.pop(0)))
                if t == len(work) - 1 and j > 0 and epilogue is None and piece > 0 and i == ask:
                    p0, pp = pieces[piece - 1]  # `ask` GEMMs on, the piece before has retired
                    tail_stores.append(em.store(out_tile, out_blk.sub(m0 + p0, n0, pp, nn), row=p0))
                if g != ask:
                    continue
                # Ask ahead while the queue streams: the next B panel first, the array needs it soonest.
                if reload_b and t + 1 < len(work):
                    b_loads[t + 1] = load_b(t + 1)
                if t > 0 and epilogue is None:
                    stores[t - 1] = store_out(t - 1)
                if n_ops:
                    load_operands(t)  # their tiles t % 2 were read by the epilogue of tile t - 2, placed
                if a_bufs == 2 and j == min(1, nt - 1) and bi + 1 < len(blocks):
                    if chunked:
                        a_loads[bi + 1] = load_a(bi + 1)
                    else:
                        a_loads[bi + 1], spread = [[]], list(range(kt))
        if a_bufs == 1 and j == nt - 1 and bi + 1 < len(blocks):
            a_loads[bi + 1] = load_a(bi + 1)  # the one panel is free once this block's GEMMs are done
    if epilogue is None and tail_stores:
        _, m0, mm, _, n0, nn = work[-1]
        p0, pp = pieces[-1]
        tail_stores.append(em.store(outs[(len(work) - 1) % 2], out_blk.sub(m0 + p0, n0, pp, nn), row=p0))
    elif epilogue is None:
        stores[len(work) - 1] = store_out(len(work) - 1)
    else:
        em.place(epilogue_of(len(work) - 1))
        store_result(len(work) - 1)
    for transfer in [*stores.values(), *result_stores.values(), *tail_stores]:
        em.wait(transfer)
    em.free(*a_panels)
