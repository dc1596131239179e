"""GEMM on the weight-stationary array: out[M, N] = a[M, K] @ b[K, N] (+ bias).

The output is computed in tiles of m_tile rows x array_cols columns. For each tile the GEMM
commands run over the K tiles into an fp32 accumulator; the first adds the bias (a bf16 row, or a
bf16 tile) and the last writes the tile rounded to bf16, so no VEC epilogue is needed.

Everything is double buffered and asked for ahead, so the array never waits for a transfer it
could have had earlier (the GEMM unit queues commands; the command processor posts DMA calls and
holds back only commands that touch rows a queued GEMM still uses):
- the A panel (m_tile rows x all of K) of the next row block loads while this one computes (when
  two panels fit; else after it); when A is row-major with K a multiple of array_rows it is one
  DMA, read back with a row step;
- the B panel (all of K x array_cols) of the next tile loads while this tile computes;
- each output tile is stored while the next one computes.
m_tile comes from a cost model of the hardware config: the cycles of the array, of the DMA
traffic (B is read once per row block) and of the first panels' latency.
"""

from __future__ import annotations

from atalla.config import HardwareConfig
from compiler.emitter import Block, Emitter
from compiler.errors import CompileError
from compiler.kernels.tiling import spans, view_2d
from compiler.values import View


# Cycles the command processor spends on a command when it need not wait (fetch, decode, issue).
ISSUE_CYCLES = 4


def _rows_needed(m_tile: int, a_panels: int, k_total: int, k_tiles: int, n_tiles: int, bias: str) -> int:
    """Scratchpad rows of the kernel's buffers for a row block of m_tile rows."""
    a_panels = a_panels * m_tile * k_tiles
    b_panels = (2 if n_tiles > 1 else 1) * k_total
    acc = 2 * m_tile if k_tiles > 1 else 0
    outs = 2 * m_tile
    bias_rows = {"row": n_tiles, "tile": m_tile, "": 0}[bias]
    return a_panels + b_panels + acc + outs + bias_rows


def _cost(cfg: HardwareConfig, m_total: int, k_total: int, n_total: int, m_tile: int, a_panels: int) -> float:
    """Estimated cycles: the larger of array time and DMA time, plus the first panels' latency, plus,
    with one A panel, loading each later panel while the array waits."""
    k_tiles, n_tiles = spans(k_total, cfg.array_rows), spans(n_total, cfg.array_cols)
    # A command streams its m rows; a weight load or the command's issue taking longer shows.
    array = sum(max(mm, cfg.array_rows, ISSUE_CYCLES) for _, mm in spans(m_total, m_tile)) * len(k_tiles) * len(n_tiles)
    blocks = -(-m_total // m_tile)
    dma_bytes = 2 * (m_total * k_total + blocks * k_total * n_total + m_total * n_total)
    request = cfg.fw_dma_cycles + 2 * cfg.dram_latency
    first = request + 2 * k_total * (m_tile + cfg.array_cols) / cfg.dma_bytes_per_cycle
    reload = 0 if a_panels == 2 else (blocks - 1) * (request + 2 * k_total * m_tile / cfg.dma_bytes_per_cycle)
    return max(array, dma_bytes / cfg.dma_bytes_per_cycle) + first + reload


def gemm(em: Emitter, out: View, a: View, b: View, bias: View | None = None) -> None:
    """All views 2-D; bias, if any, already broadcast to out's shape."""
    cfg = em.config
    rows_r, cols_c = cfg.array_rows, cfg.array_cols
    (m_total, k_total), n_total = a.shape, b.shape[1]
    a_blk, b_blk, out_blk = view_2d(a), view_2d(b), view_2d(out)
    k_tiles, n_spans = spans(k_total, rows_r), spans(n_total, cols_c)
    kt, nt = len(k_tiles), len(n_spans)
    bias_kind = "" if bias is None else "row" if bias.strides[0] == 0 else "tile"
    bias_blk = view_2d(bias) if bias is not None else None
    # Row-major A with whole K tiles: the panel is one DMA of rows_r-element chunks, chunk i of row r
    # at panel row r*kt + i, and the GEMM of K tile i reads A rows i, i + kt, i + 2kt, ...
    chunked = a_blk.col_stride == 1 and a_blk.row_stride == k_total and k_total % rows_r == 0 and kt < 256

    free_rows = em.sp_free_bytes() // cfg.sp_row_bytes - cfg.sp_page_bytes // cfg.sp_row_bytes
    fits = [(m, panels) for m in {-(-m_total // blocks) for blocks in range(1, m_total + 1)} for panels in (1, 2)
            if _rows_needed(m, panels, k_total, kt, nt, bias_kind) <= free_rows]
    if not fits:
        raise CompileError(f"GEMM {m_total}x{k_total}x{n_total}: even one row of A with the B panels "
                           f"({_rows_needed(1, 1, k_total, kt, nt, bias_kind)} scratchpad rows) does not fit "
                           f"the {free_rows} free rows")
    m_tile, a_bufs = min(fits, key=lambda f: (_cost(cfg, m_total, k_total, n_total, *f), -f[0], -f[1]))

    reload_b = nt > 1
    tiles = em.alloc_group(
        [(m_tile * kt, False)] * a_bufs + [(k_total, False)] * (2 if reload_b else 1)
        + ([(m_tile, True)] if kt > 1 else []) + [(m_tile, False)] * 2
        + ([(nt if bias_kind == "row" else m_tile, False)] if bias is not None else []))
    a_panels, tiles = tiles[:a_bufs], tiles[a_bufs:]
    b_panels, tiles = tiles[: 2 if reload_b else 1], tiles[2 if reload_b else 1 :]
    acc, tiles = (tiles[0], tiles[1:]) if kt > 1 else (None, tiles)
    outs, tiles = tiles[:2], tiles[2:]
    bias_tile = tiles[0] if bias is not None else None

    blocks = spans(m_total, m_tile)
    work = [(bi, m0, mm, j, n0, nn) for bi, (m0, mm) in enumerate(blocks) for j, (n0, nn) in enumerate(n_spans)]

    def load_a(bi: int) -> list[int]:
        m0, mm = blocks[bi]
        panel = a_panels[bi % a_bufs]
        if chunked:
            return [em.load(panel, Block(a_blk.view, a_blk.offset + m0 * k_total, mm * kt, rows_r, rows_r, 1))]
        return [em.load(panel, a_blk.sub(m0, k0, mm, kk), row=i * m_tile) for i, (k0, kk) in enumerate(k_tiles)]

    def load_b(t: int) -> int:
        _, _, _, _, n0, nn = work[t]
        return em.load(b_panels[t % len(b_panels)], b_blk.sub(0, n0, k_total, nn))

    a_loads = {0: load_a(0)}
    b_loads = {0: load_b(0)}
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
    for t, (bi, m0, mm, j, n0, nn) in enumerate(work):
        if t in b_loads:
            em.wait(b_loads.pop(t))
        if j == 0:
            for transfer in a_loads.pop(bi):
                em.wait(transfer)
        if bias_kind == "tile":
            em.wait(em.load(bias_tile, bias_blk.sub(m0, n0, mm, nn)))
        out_tile = outs[t % 2]
        for i, (k0, kk) in enumerate(k_tiles):
            last = i == kt - 1
            if last and t - 2 in stores:
                em.wait(stores.pop(t - 2))  # this tile's output buffer is still being stored
            c = acc if i > 0 else bias_tile
            em.gemm(a_panels[bi % a_bufs], b_panels[t % len(b_panels)], out_tile if last else acc, mm, kk, nn,
                    c=c, c_is_row=bias_kind == "row" and i == 0, c_row=j if bias_kind == "row" and i == 0 else 0,
                    a_row=i if chunked else i * m_tile, a_step=kt if chunked else 1, b_row=k0)
            if i == 0:  # ask ahead while this command streams
                if t > 0:
                    _, pm0, pmm, _, pn0, pnn = work[t - 1]
                    stores[t - 1] = em.store(outs[(t - 1) % 2], out_blk.sub(pm0, pn0, pmm, pnn))
                if reload_b and t + 1 < len(work):
                    b_loads[t + 1] = load_b(t + 1)
                if a_bufs == 2 and j == min(1, nt - 1) and bi + 1 < len(blocks):
                    a_loads[bi + 1] = load_a(bi + 1)
        if a_bufs == 1 and j == nt - 1 and bi + 1 < len(blocks):
            a_loads[bi + 1] = load_a(bi + 1)  # the one panel is free once this block's GEMMs are done
    _, lm0, lmm, _, ln0, lnn = work[-1]
    stores[len(work) - 1] = em.store(outs[(len(work) - 1) % 2], out_blk.sub(lm0, ln0, lmm, lnn))
    for transfer in stores.values():
        em.wait(transfer)
    em.free(*a_panels)
