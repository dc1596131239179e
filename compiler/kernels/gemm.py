"""GEMM on the weight-stationary array: out[M, N] = a[M, K] @ b[K, N] (+ bias).

Weight tiles are b[k0:k0+rows, n0:n0+cols]; A rows stream through; partial sums across K tiles
stay in an fp32 accumulator tile and are rounded to bf16 once, by the epilogue (the bias add,
or a copy). When a block of A rows with all its K tiles (the A panel) fits in the scratchpad,
it is loaded once and reused for every N tile instead of being reloaded for each.
"""

from __future__ import annotations

from atalla.isa import BMode, VecFunc
from compiler.emitter import Emitter
from compiler.kernels.tiling import spans, view_2d
from compiler.values import View


def gemm(em: Emitter, out: View, a: View, b: View, bias: View | None = None) -> None:
    """All views 2-D; bias, if any, already broadcast to out's shape."""
    cfg = em.config
    (m_total, k_total), n_total = a.shape, b.shape[1]
    a_blk, b_blk, out_blk = view_2d(a), view_2d(b), view_2d(out)
    bias_blk = view_2d(bias) if bias is not None else None
    bias_is_row = bias is not None and bias.strides[0] == 0
    k_tiles = spans(k_total, cfg.array_rows)
    n_tiles = len(spans(n_total, cfg.array_cols))
    # Scratchpad rows per A row: the fp32 accumulator (2), the output (1), a bias row (1), and
    # either every K tile of A (the panel, kept across N tiles) or one A tile (reloaded).
    budget = (3 * cfg.sp_rows) // 4 - cfg.array_rows
    m_panel = min(m_total, budget // (len(k_tiles) + 4))
    m_reload = max(1, min(m_total, cfg.sp_rows // 16))

    def cost(m_tile: int, keep_panel: bool) -> float:
        """Estimated cycles of a loop order: each DMA a firmware call and the DRAM latency, plus
        its bytes; each command a fetch from DRAM; each GEMM the array's fill and drain."""
        m_blocks = -(-m_total // m_tile)
        gemms = m_blocks * n_tiles * len(k_tiles)
        a_calls = m_blocks * len(k_tiles) * (1 if keep_panel else n_tiles)
        b_calls = gemms
        a_bytes = 2 * m_total * k_total * (1 if keep_panel else n_tiles)
        b_bytes = 2 * k_total * n_total * m_blocks
        commands = 2 * (a_calls + b_calls) + gemms  # a DMA and its WAIT, and the GEMM
        return ((a_calls + b_calls) * (cfg.fw_dma_cycles + cfg.dram_latency)
                + (a_bytes + b_bytes) / cfg.dma_bytes_per_cycle
                + commands * cfg.dram_latency + gemms * (cfg.array_rows + cfg.array_cols))

    keep_panel = m_panel > 0 and cost(m_panel, True) < cost(m_reload, False)
    m_tile = m_panel if keep_panel else m_reload
    b_tile = em.alloc(cfg.array_rows)
    a_tiles = em.alloc(m_tile * (len(k_tiles) if keep_panel else 1))
    acc = em.alloc(m_tile, fp32=True)
    out_tile = em.alloc(m_tile)
    bias_tile = em.alloc(1 if bias_is_row else m_tile) if bias is not None else None
    for m0, mm in spans(m_total, m_tile):
        for j, (n0, nn) in enumerate(spans(n_total, cfg.array_cols)):
            for i, (k0, kk) in enumerate(k_tiles):
                a_row = i * m_tile if keep_panel else 0
                t_a = em.load(a_tiles, a_blk.sub(m0, k0, mm, kk), row=a_row) if j == 0 or not keep_panel else None
                t_b = em.load(b_tile, b_blk.sub(k0, n0, kk, nn))
                if t_a is not None:
                    em.wait(t_a)
                em.wait(t_b)
                em.gemm(a_tiles, b_tile, acc, mm, kk, nn, accumulate=i > 0, a_row=a_row)
            if bias_tile is not None:
                rows = 1 if bias_is_row else mm
                em.wait(em.load(bias_tile, bias_blk.sub(0 if bias_is_row else m0, n0, rows, nn)))
                em.vec(VecFunc.ADD, out_tile, acc, bias_tile, rows=mm, cols=nn,
                       bmode=BMode.ROW if bias_is_row else BMode.TILE)
            else:
                em.vec(VecFunc.COPY, out_tile, acc, rows=mm, cols=nn)
            em.wait(em.store(out_tile, out_blk.sub(m0, n0, mm, nn)))
    em.free(*(t for t in (b_tile, a_tiles, acc, out_tile, bias_tile) if t is not None))
