"""GEMM on the weight-stationary array: out[M, N] = a[M, K] @ b[K, N] (+ bias).

Weight tiles are b[k0:k0+rows, n0:n0+cols]; A rows stream through; partial sums across K tiles
stay in an fp32 accumulator tile and are rounded to bf16 once, by the epilogue (the bias add,
or a copy).
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
    # Rows of A streamed per pass: fp32 accumulator (2 rows each) + A + out, in a quarter of the scratchpad.
    m_tile = max(1, min(m_total, cfg.sp_rows // 16))
    b_tile = em.alloc(cfg.array_rows)
    a_tile = em.alloc(m_tile)
    acc = em.alloc(m_tile, fp32=True)
    out_tile = em.alloc(m_tile)
    bias_tile = em.alloc(1 if bias_is_row else m_tile) if bias is not None else None
    for n0, nn in spans(n_total, cfg.array_cols):
        for m0, mm in spans(m_total, m_tile):
            for i, (k0, kk) in enumerate(spans(k_total, cfg.array_rows)):
                t_a = em.load(a_tile, a_blk.sub(m0, k0, mm, kk))
                t_b = em.load(b_tile, b_blk.sub(k0, n0, kk, nn))
                em.wait(t_a)
                em.wait(t_b)
                em.gemm(a_tile, b_tile, acc, mm, kk, nn, accumulate=i > 0)
            if bias_tile is not None:
                rows = 1 if bias_is_row else mm
                em.wait(em.load(bias_tile, bias_blk.sub(0 if bias_is_row else m0, n0, rows, nn)))
                em.vec(VecFunc.ADD, out_tile, acc, bias_tile, rows=mm, cols=nn,
                       bmode=BMode.ROW if bias_is_row else BMode.TILE)
            else:
                em.vec(VecFunc.COPY, out_tile, acc, rows=mm, cols=nn)
            em.wait(em.store(out_tile, out_blk.sub(m0, n0, mm, nn)))
    em.free(*(t for t in (b_tile, a_tile, acc, out_tile, bias_tile) if t is not None))
